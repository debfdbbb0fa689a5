"""Private files: written atomically, mode 0600, in a folder only the owner can enter."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from camcast.errors import CamcastError


def private_dir(path: Path) -> Path:
    """Create ``path`` if needed, and every folder above it that is missing, each mode 0700 (``mkdir
    -p`` would give the ones above the umask's mode); return it."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    try:
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise CamcastError(f"cannot create {path}: {exc.strerror}") from exc
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, in a private folder; the file is mode 0600 from its
    first byte."""
    private_dir(path.parent)
    write_atomic(path, data)


def write_atomic(
    path: Path,
    data: bytes,
    mode: int = 0o600,
    temp: Path | None = None,
    error: type[CamcastError] = CamcastError,
) -> None:
    """Write ``data`` to a temporary file beside ``path`` (``temp``, or a fresh unique name), fsync
    it, and rename it over ``path``, so a reader sees the old file or the new one, never half of one.
    The file has ``mode`` from its first byte, and the folder is synced after the rename. Failures raise
    ``error`` naming the file."""
    try:
        if temp is None:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temp = Path(name)
            if mode != 0o600:
                os.fchmod(fd, mode)
        else:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise error(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise error(f"cannot write {path}: {exc.strerror}") from exc
    _sync_folder(path.parent)


def append_line(path: Path, line: bytes) -> None:
    """Append ``line`` (ending in a newline) to the journal ``path`` (mode 0600), whole or not at all:
    a write the disk cuts short (full) is cut off again, so that every line before it stays readable
    and the next line does not join it; a file left ending mid-line (a crash) gets the newline first.
    Raises OSError."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        try:
            if os.write(fd, line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a power cut after it keeps the new file); a filesystem that
    cannot sync a folder is left as it is."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when ``path`` is replaced or edited (inode, size, mtime), or None if it is absent."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)
