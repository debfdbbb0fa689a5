"""Real servers for the publishing tests, each started on a free loopback port and stopped afterwards:
pyftpdlib in this process (plain FTP and FTPS), Debian's vsftpd, and OpenSSH's sshd for SFTP."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

FTP_USER, FTP_PASSWORD = "cam", "ftp-password-1"


@dataclass
class FtpPeer:
    port: int
    root: Path
    url: str  # without the password
    stop: object = None

    def wait_port(self) -> None:
        import socket

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("server did not start")


@contextlib.contextmanager
def pyftpdlib_server(
    root: Path, port: int = 0, tls_cert: Path | None = None, perm: str = "elradfmwMT"
) -> Iterator[FtpPeer]:
    """pyftpdlib in a thread of this process; FTPS (explicit, TLS required) when ``tls_cert`` is given."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

    root.mkdir(parents=True, exist_ok=True)
    authorizer = DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, str(root), perm=perm)
    handler: type[FTPHandler]
    if tls_cert is not None:

        class Tls(TLS_FTPHandler):  # type: ignore[misc]
            certfile = str(tls_cert)
            keyfile = str(tls_cert.with_name("key.pem"))
            tls_control_required = True
            tls_data_required = True

        handler = Tls
    else:

        class Plain(FTPHandler):  # type: ignore[misc]
            pass

        handler = Plain
    handler.authorizer = authorizer
    handler.log_prefix = "%(remote_ip)s:%(remote_port)s-[%(username)s]"
    handler.passive_ports = None
    handler.banner = "camcast test FTP"
    port = port or free_port()
    # Its own event loop: pyftpdlib's default is one shared instance, which two servers in two
    # threads would both poll, handling each other's connections.
    server = FTPServer(("127.0.0.1", port), handler, ioloop=IOLoop())
    stopping = threading.Event()

    def loop() -> None:
        while not stopping.is_set():
            server.serve_forever(timeout=0.05, blocking=False)
        server.close_all()

    thread = threading.Thread(target=loop, name="pyftpdlib", daemon=True)
    thread.start()
    scheme = "ftps" if tls_cert is not None else "ftp"
    peer = FtpPeer(port, root, f"{scheme}://{FTP_USER}@127.0.0.1:{port}/")

    def stop_now() -> None:
        """Kill the server and every connection, as a crash or restart would."""
        stopping.set()
        thread.join(10)

    peer.stop_now = stop_now  # type: ignore[attr-defined]
    try:
        yield peer
    finally:
        stop_now()


@contextlib.contextmanager
def vsftpd_server(tmp: Path) -> Iterator[FtpPeer]:
    """Debian's vsftpd on a free loopback port, anonymous writes into ``cam/`` (no system user needed)."""
    binary = shutil.which("vsftpd") or "/usr/sbin/vsftpd"
    root = tmp / "vsftpd-root"
    root.mkdir(mode=0o755)
    cam = root / "cam"
    cam.mkdir()
    ftp_user = pwd.getpwnam("ftp")
    os.chown(cam, ftp_user.pw_uid, ftp_user.pw_gid)
    Path("/var/run/vsftpd/empty").mkdir(parents=True, exist_ok=True)
    port, pasv = free_port(), free_port()
    config = tmp / "vsftpd.conf"
    config.write_text(
        "\n".join(
            [
                "listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1", f"listen_port={port}",
                "background=NO", "anonymous_enable=YES", "local_enable=NO", "write_enable=YES",
                "anon_upload_enable=YES", "anon_mkdir_write_enable=YES", "anon_other_write_enable=YES",
                "anon_umask=022", "no_anon_password=YES", f"anon_root={root}",
                "pasv_enable=YES", f"pasv_min_port={pasv}", f"pasv_max_port={pasv}", "pasv_address=127.0.0.1",
                "seccomp_sandbox=NO", "isolate=NO", "isolate_network=NO", "xferlog_enable=NO",
                f"vsftpd_log_file={tmp / 'vsftpd.log'}", "dirmessage_enable=NO",
                "ftpd_banner=camcast test vsftpd",
                "secure_chroot_dir=/var/run/vsftpd/empty", "connect_from_port_20=NO",
            ]
        )
        + "\n"
    )  # fmt: skip
    proc = subprocess.Popen([binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peer = FtpPeer(port, cam, f"ftp://anonymous@127.0.0.1:{port}/cam/")
    try:
        peer.wait_port()
        yield peer
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class SshPeer:
    port: int
    user: str
    root: Path
    identity: Path
    host_key_line: str  # for known_hosts


@contextlib.contextmanager
def sshd_server(tmp: Path) -> Iterator[SshPeer]:
    """OpenSSH's sshd on a free loopback port, accepting one generated key for the current user."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    keys = tmp / "ssh"
    keys.mkdir(mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "host")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "client")], check=True)
    (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation folder
    port = free_port()
    config = keys / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {keys / 'host'}",
                f"PidFile {keys / 'pid'}",
                f"AuthorizedKeysFile {keys / 'authorized_keys'}", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "StrictModes no", "UsePAM no",
                "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp", "LogLevel ERROR",
            ]
        )
        + "\n"
    )  # fmt: skip
    proc = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    root = tmp / "sftp-root"
    root.mkdir()
    host_pub = (keys / "host.pub").read_text().split()
    peer = SshPeer(
        port,
        pwd.getpwuid(os.getuid()).pw_name,
        root,
        keys / "client",
        f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}",
    )
    try:
        FtpPeer(port, root, "").wait_port()
        yield peer
    finally:
        proc.terminate()
        proc.wait(10)
