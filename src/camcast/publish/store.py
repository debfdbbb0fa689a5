"""The remote-store contract: where published files go, whatever the protocol.

A :class:`RemoteStore` writes whole files atomically (``put_atomic`` uploads to a temporary name in the
same folder and renames it over the final name, so a visitor never gets a partial file; ``put_file``
does the same from a file on this disk, streamed, never whole in memory: a recording may be hours of
video), deletes, lists and makes folders. Paths are ``/``-separated and relative to the store's root
(the URL's folder). Every failure is an :class:`~camcast.errors.UploadError` with a one-line reason;
each operation has a timeout. Local folders, FTP, FTPS, SFTP and S3 all fit behind it.
"""

from __future__ import annotations

import logging
import posixpath
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from camcast.errors import UploadLost

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Temporary upload names start with this prefix and end with TMP_SUFFIX, so a crash's leftovers can
#: be recognised and cleaned up later (see publish.retention).
TMP_PREFIX = ".camcast-"
TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class Entry:
    """A file or folder in a listing; ``mtime`` is Unix seconds, or None when the server does not say."""

    name: str
    is_dir: bool
    size: int | None = None
    mtime: float | None = None


class RemoteStore(Protocol):
    def describe(self) -> str:
        """Where the store writes, without any secret, e.g. ``ftps://alice@host/cam/``."""
        ...

    async def put_atomic(self, path: str, data: bytes) -> None: ...

    async def put_file(self, path: str, local: Path) -> None: ...

    async def delete(self, path: str) -> None: ...

    async def list(self, folder: str) -> list[Entry]: ...

    async def makedirs(self, folder: str) -> None: ...

    async def aclose(self) -> None: ...


def temp_name(path: str) -> str:
    """A unique temporary name beside ``path``."""
    folder, name = posixpath.split(path)
    return posixpath.join(folder, f"{TMP_PREFIX}{name}.{secrets.token_hex(4)}{TMP_SUFFIX}")


def is_temp(name: str) -> bool:
    return name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX)


async def retry_once(
    attempt: Callable[[], Awaitable[T]],
    fresh: Callable[[], bool],
    drop: Callable[[], Awaitable[None]],
    where: str,
) -> T:
    """Run ``attempt`` on a store's kept connection. When the connection is lost (:class:`UploadLost`)
    it is dropped; if it was an old one (``fresh()`` was false before the attempt: a server that closed
    an idle client) one new connection is tried, and a new one that fails is the error."""
    for n in (1, 2):
        was_fresh = fresh()
        try:
            return await attempt()
        except UploadLost:
            await drop()
            if was_fresh or n == 2:
                raise
            log.debug("%s: connection lost; reconnecting", where)
    raise AssertionError("unreachable")
