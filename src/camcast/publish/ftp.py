"""FTP and FTPS stores, on the standard library's ftplib run in one dedicated thread.

``ftp://`` uses explicit TLS (AUTH TLS, then PROT P for data) when the server offers it, and plain FTP
with one warning when it does not; ``ftps://`` demands explicit TLS and ``ftps+implicit://`` speaks TLS
from the first byte (port 990). Certificates are verified against the system CAs, a ``ca_file``, or a
pinned SHA-256 fingerprint for a self-signed server. One control connection is kept, checked with NOOP
when it has been idle, and reopened when it drops. Uploads go to a temporary name and are renamed over
the final one.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import ftplib
import hashlib
import io
import logging
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from camcast.config.parse import normalise_fingerprint
from camcast.errors import UploadRefused
from camcast.publish.errors import FTP_UNAVAILABLE, FTP_UNKNOWN_COMMAND, ftp_code, map_ftp_errors, reason
from camcast.publish.store import Entry, retry_once, temp_name
from camcast.publish.target import Target

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds any one FTP exchange may take before the connection is dropped as dead.
TIMEOUT = 20.0
#: An idle control connection is checked with NOOP before use after this many seconds; many servers
#: drop idle clients after 60–300 s.
IDLE_CHECK = 30.0


def _refused(command: Callable[..., object], *args: object) -> ftplib.error_perm | None:
    """Run one FTP command; the server's refusal (a 5xx reply) is returned rather than raised, for the
    caller to act on by its code. Anything else (a lost connection) raises."""
    try:
        command(*args)
    except ftplib.error_perm as exc:
        return exc
    return None


class _TlsFtp(ftplib.FTP_TLS):
    """FTP_TLS that reuses the control connection's TLS session for data connections (vsftpd and
    others require it, ftplib does not do it), and can speak implicit TLS."""

    implicit = False

    def connect(
        self, host: str = "", port: int = 0, timeout: float = -999, source_address: Any = None
    ) -> str:
        if not self.implicit:
            return super().connect(host, port, timeout, source_address)
        self.host, self.port = host, port
        if timeout != -999:
            self.timeout = timeout
        raw = socket.create_connection((host, port), self.timeout)
        self.af = raw.family
        self.sock = self.context.wrap_socket(raw, server_hostname=host)
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(self, cmd: str, rest: Any = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            session = self.sock.session if isinstance(self.sock, ssl.SSLSocket) else None
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


def tls_context(ca_file: str | None, fingerprint: str | None) -> ssl.SSLContext:
    if fingerprint:
        # The pin replaces CA checks: a self-signed certificate is trusted exactly when its SHA-256
        # matches, which is checked right after the handshake.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # TLS 1.3 session tickets arrive after the handshake, too late for ftplib's data connections to
    # resume the session, which servers that require reuse then refuse.
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


class FtpStore:
    """A remote store over FTP or FTPS; see the module docstring."""

    def __init__(
        self,
        target: Target,
        *,
        ca_file: str | None = None,
        fingerprint: str | None = None,
        active: bool = False,
    ) -> None:
        self.target = target
        self.ca_file = ca_file
        self.fingerprint = normalise_fingerprint(fingerprint) if fingerprint else None
        self.active = active
        self._ftp: ftplib.FTP | None = None
        self._used = 0.0
        self._warned_plain = False
        self._warned_rename = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camcast-ftp")

    def describe(self) -> str:
        return self.target.describe()

    # --- one thread does all FTP work ----------------------------------------------------------------
    async def _run(self, op: Callable[[ftplib.FTP], T], what: str) -> T:
        """Run ``op`` on the connection in the FTP thread, reconnecting once if it was lost."""
        loop = asyncio.get_running_loop()

        async def attempt() -> T:
            return await loop.run_in_executor(self._thread, self._call, op, what)

        async def drop() -> None:
            await loop.run_in_executor(self._thread, self._drop)

        return await retry_once(attempt, lambda: self._ftp is None, drop, self.describe())

    def _call(self, op: Callable[[ftplib.FTP], T], what: str) -> T:
        with map_ftp_errors(what, self.describe()):
            result = op(self._connection())
        self._used = time.monotonic()
        return result

    def _connection(self) -> ftplib.FTP:
        ftp = self._ftp
        if ftp is not None and time.monotonic() - self._used > IDLE_CHECK:
            try:
                ftp.voidcmd("NOOP")
            except ftplib.all_errors:
                self._drop()
                ftp = None
        if ftp is None:
            ftp = self._ftp = self._connect()
            self._used = time.monotonic()
        return ftp

    def _connect(self) -> ftplib.FTP:
        t = self.target
        scheme = t.scheme
        with map_ftp_errors("connecting", self.describe()):
            if scheme == "ftp":
                ftp = self._try_tls() or ftplib.FTP(timeout=TIMEOUT)
                if ftp.sock is None:
                    ftp.connect(t.host, t.port)
                    if not self._warned_plain:
                        log.warning("%s does not offer TLS: the password and pictures cross the network "
                                    "in clear (use ftps:// to require TLS)", t.host)  # fmt: skip
                        self._warned_plain = True
            else:
                tls = _TlsFtp(context=tls_context(self.ca_file, self.fingerprint), timeout=TIMEOUT)
                tls.implicit = scheme == "ftps+implicit"
                tls.connect(t.host, t.port)
                if not tls.implicit:
                    tls.auth()
                self._check_pin(tls)
                ftp = tls
            ftp.login(t.user, t.password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            ftp.set_pasv(not self.active)
            if t.path.strip("/"):
                self._cwd_creating(ftp, t.path)
            return ftp

    def _try_tls(self) -> ftplib.FTP | None:
        """For ftp://: explicit TLS if the server offers it, else None (and the caller goes plain)."""
        t = self.target
        tls = _TlsFtp(context=tls_context(self.ca_file, self.fingerprint), timeout=TIMEOUT)
        tls.connect(t.host, t.port)
        try:
            tls.auth()
        except ftplib.error_perm:  # AUTH TLS refused: the server has no TLS
            tls.close()
            return None
        self._check_pin(tls)
        return tls

    def _check_pin(self, ftp: ftplib.FTP) -> None:
        if self.fingerprint is None:
            return
        sock = ftp.sock
        der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
        actual = hashlib.sha256(der or b"").hexdigest()
        if actual != self.fingerprint:
            ftp.close()
            raise UploadRefused(f"{self.target.host}'s certificate has SHA-256 {actual}, not the pinned one")

    @staticmethod
    def _cwd_creating(ftp: ftplib.FTP, path: str) -> None:
        absolute = path.startswith("/")
        parts = [p for p in path.split("/") if p]
        if absolute:
            ftp.cwd("/")
        for part in parts:
            if not _refused(ftp.cwd, part):
                continue
            refused = _refused(ftp.mkd, part) or _refused(ftp.cwd, part)
            if refused:
                raise UploadRefused(f"cannot create the folder {path} on {ftp.host}: {reason(refused)}")

    def _drop(self) -> None:
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            with contextlib.suppress(OSError):
                ftp.close()

    # --- the store ------------------------------------------------------------------------------------
    async def put_atomic(self, path: str, data: bytes) -> None:
        await self._run(lambda ftp: self._put(ftp, path, data), f"uploading {path}")

    async def put_file(self, path: str, local: Path) -> None:
        def op(ftp: ftplib.FTP) -> None:
            with local.open("rb") as source:  # in the FTP thread, sent as it is read
                self._put(ftp, path, source)

        await self._run(op, f"uploading {path}")

    def _put(self, ftp: ftplib.FTP, path: str, data: bytes | BinaryIO) -> None:
        tmp = temp_name(path)
        ftp.storbinary(f"STOR {tmp}", io.BytesIO(data) if isinstance(data, bytes) else data)
        if not _refused(ftp.rename, tmp, path):
            return
        # Some servers (IIS among them) will not rename over an existing file: remove it first.
        # That leaves a moment without the file, never a partial one.
        if not self._warned_rename:
            log.warning("%s cannot rename over an existing file; replacing in two steps", self.target.host)
            self._warned_rename = True
        _refused(ftp.delete, path)  # already gone is fine; a real refusal shows in the rename
        refused = _refused(ftp.rename, tmp, path)
        if refused:
            _refused(ftp.delete, tmp)
            raise refused

    async def delete(self, path: str) -> None:
        def op(ftp: ftplib.FTP) -> None:
            refused = _refused(ftp.delete, path)
            if refused and ftp_code(refused) != FTP_UNAVAILABLE:  # already gone is done
                raise refused

        await self._run(op, f"deleting {path}")

    async def list(self, folder: str) -> list[Entry]:
        return await self._run(lambda ftp: self._list(ftp, folder), f"listing {folder or '.'}")

    @staticmethod
    def _list(ftp: ftplib.FTP, folder: str) -> builtins.list[Entry]:
        target = folder or "."
        try:
            entries = []
            for name, facts in ftp.mlsd(target, facts=["type", "size", "modify"]):
                kind = facts.get("type", "")
                if kind in ("cdir", "pdir") or name in (".", ".."):
                    continue
                modify = facts.get("modify")
                mtime = (
                    time.mktime(time.strptime(modify[:14], "%Y%m%d%H%M%S")) - time.timezone
                    if modify
                    else None
                )
                size = int(facts["size"]) if "size" in facts else None
                entries.append(Entry(name, kind == "dir", size, mtime))
            return entries
        except ftplib.error_perm as exc:
            if ftp_code(exc) == FTP_UNAVAILABLE:
                return []
            if ftp_code(exc) not in FTP_UNKNOWN_COMMAND:
                raise
        # No MLSD (vsftpd): parse the Unix-style LIST lines for names and types.
        lines: list[str] = []
        refused = _refused(ftp.retrlines, f"LIST {target}", lines.append)
        if refused:
            if ftp_code(refused) == FTP_UNAVAILABLE:
                return []
            raise refused
        entries = []
        for line in lines:
            fields = line.split(None, 8)
            if len(fields) == 9 and fields[8] not in (".", ".."):
                entries.append(
                    Entry(fields[8], line.startswith("d"), int(fields[4]) if fields[4].isdigit() else None)
                )
        return entries

    async def makedirs(self, folder: str) -> None:
        def op(ftp: ftplib.FTP) -> None:
            here = ftp.pwd()
            try:
                self._cwd_creating(ftp, folder)
            finally:
                ftp.cwd(here)

        await self._run(op, f"creating {folder}")

    async def aclose(self) -> None:
        def close() -> None:
            ftp, self._ftp = self._ftp, None
            if ftp is not None:
                try:
                    ftp.quit()
                except ftplib.all_errors:
                    ftp.close()

        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown(wait=False)
