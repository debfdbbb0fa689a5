"""The SFTP store, on asyncssh: keys (``~/.ssh``, an agent, or an identity file), host keys checked
against ``~/.ssh/known_hosts``, and an atomic replace with the posix-rename extension where offered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from camcast.errors import UploadRefused
from camcast.publish.errors import map_ssh_errors
from camcast.publish.store import Entry, retry_once, temp_name
from camcast.publish.target import Target

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds to connect and authenticate, and for any one SFTP operation.
CONNECT_TIMEOUT = 20.0
OP_TIMEOUT = 20.0
#: Bytes a second below which a file's upload is given up (its timeout grows with its size): a
#: recording copied over a poor uplink still gets there, a dead one is noticed.
SLOWEST_LINK = 50_000


class SftpStore:
    def __init__(self, target: Target, identity: str | None = None, known_hosts: str | None = None) -> None:
        self.target = target
        self.identity = identity
        self.known_hosts = known_hosts or str(Path.home() / ".ssh" / "known_hosts")
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._root = ""
        self._warned_rename = False
        self._lock = asyncio.Lock()
        # Checked once here, not on the event loop: with no known_hosts file every host is unknown.
        self._has_known_hosts = Path(self.known_hosts).exists()

    def describe(self) -> str:
        return self.target.describe()

    async def _client(self) -> asyncssh.SFTPClient:
        if self._sftp is not None:
            return self._sftp
        t = self.target
        options: dict[str, Any] = {
            "username": t.user or None,
            "known_hosts": self.known_hosts if self._has_known_hosts else (),
            "connect_timeout": CONNECT_TIMEOUT,
            "login_timeout": CONNECT_TIMEOUT,
            "keepalive_interval": 30,
        }
        if self.identity:
            options["client_keys"] = [self.identity]
        if t.password:
            options["password"] = t.password
        # A failure here leaves the connection to the caller's retry_once, which drops it.
        with map_ssh_errors("connecting", self.describe()):
            try:
                self._conn = await asyncssh.connect(t.host, t.port, **options)
                sftp = self._sftp = await self._conn.start_sftp_client()
            except asyncssh.HostKeyNotVerifiable as exc:
                raise UploadRefused(await self._unknown_host_message()) from exc
        # A relative path is relative to the login folder, as in scp.
        self._root = root = t.path or "."
        with map_ssh_errors(f"creating {root}", self.describe()):
            await asyncio.wait_for(sftp.makedirs(root, exist_ok=True), OP_TIMEOUT)
        return sftp

    async def _unknown_host_message(self) -> str:
        t = self.target
        try:
            key = await asyncssh.get_server_host_key(t.host, t.port)
            fingerprint = key.get_fingerprint("sha256") if key else "unknown"
        except (OSError, asyncssh.Error):
            fingerprint = "unknown"
        port = f"-p {t.port} " if t.port != 22 else ""
        return (
            f"{t.host}'s SSH host key ({fingerprint}) is not in {self.known_hosts}; if that fingerprint is "
            f"right, accept it with: ssh-keyscan {port}{t.host} >> {self.known_hosts}"
        )

    def _abs(self, path: str) -> str:
        return posixpath.join(self._root, path.lstrip("/"))

    async def _with_client(
        self, op: Callable[[asyncssh.SFTPClient], Awaitable[T]], what: str, seconds: float = OP_TIMEOUT
    ) -> T:
        """Run ``op`` on the kept connection (one operation at a time), reconnecting once if it was lost."""

        async def attempt() -> T:
            sftp = await self._client()
            with map_ssh_errors(what, self.describe()):
                return await asyncio.wait_for(op(sftp), seconds)

        async with self._lock:
            return await retry_once(attempt, lambda: self._sftp is None, self._drop, self.describe())

    async def put_atomic(self, path: str, data: bytes) -> None:
        await self._put(path, data)

    async def put_file(self, path: str, local: Path) -> None:
        size = await asyncio.to_thread(lambda: local.stat().st_size)
        await self._put(path, local, OP_TIMEOUT + size / SLOWEST_LINK)

    async def _put(self, path: str, data: bytes | Path, seconds: float = OP_TIMEOUT) -> None:
        final, tmp = self._abs(path), self._abs(temp_name(path))

        async def op(sftp: asyncssh.SFTPClient) -> None:
            if isinstance(data, Path):
                await sftp.put(str(data), tmp)  # streamed, a block at a time
            else:
                async with sftp.open(tmp, "wb") as fh:
                    await fh.write(data)
            try:
                await sftp.posix_rename(tmp, final)
            except asyncssh.SFTPOpUnsupported:
                if not self._warned_rename:
                    log.warning("%s has no posix-rename; replacing in two steps", self.target.host)
                    self._warned_rename = True
                with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                    await sftp.remove(final)
                await sftp.rename(tmp, final)

        await self._with_client(op, f"uploading {path}", seconds)

    async def delete(self, path: str) -> None:
        async def op(sftp: asyncssh.SFTPClient) -> None:
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                await sftp.remove(self._abs(path))

        await self._with_client(op, f"deleting {path}")

    async def list(self, folder: str) -> list[Entry]:
        async def op(sftp: asyncssh.SFTPClient) -> list[Entry]:
            try:
                names = await sftp.readdir(self._abs(folder))
            except asyncssh.SFTPNoSuchFile:
                return []
            out = []
            for n in names:
                if n.filename in (".", ".."):
                    continue
                attrs = n.attrs
                is_dir = attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY
                out.append(Entry(str(n.filename), is_dir, attrs.size, attrs.mtime))
            return out

        return await self._with_client(op, f"listing {folder or '.'}")

    async def makedirs(self, folder: str) -> None:
        await self._with_client(lambda s: s.makedirs(self._abs(folder), exist_ok=True), f"creating {folder}")

    async def _drop(self) -> None:
        sftp, conn = self._sftp, self._conn
        self._sftp = self._conn = None
        if sftp is not None:
            sftp.exit()
        if conn is not None:
            conn.close()
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                await asyncio.wait_for(conn.wait_closed(), 5)

    async def aclose(self) -> None:
        await self._drop()
