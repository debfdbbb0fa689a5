"""A local folder as a remote store: temporary file in the same folder, fsync, rename."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from camcast.errors import UploadError
from camcast.publish.store import Entry, temp_name


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"folder {self.root}"

    def _path(self, path: str) -> Path:
        full = (self.root / path.lstrip("/")).resolve()
        if full != self.root.resolve() and self.root.resolve() not in full.parents:
            raise UploadError(f"{path} is outside {self.root}")
        return full

    async def put_atomic(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, path, data)

    def _put(self, path: str, data: bytes) -> None:
        final = self._path(path)
        tmp = self._path(temp_name(path))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise UploadError(f"cannot write {final}: {exc.strerror}") from exc

    async def delete(self, path: str) -> None:
        try:
            await asyncio.to_thread(self._path(path).unlink)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UploadError(f"cannot delete {path}: {exc.strerror}") from exc

    async def list(self, folder: str) -> list[Entry]:
        def scan() -> list[Entry]:
            out = []
            with os.scandir(self._path(folder)) as it:
                for e in it:
                    st = e.stat(follow_symlinks=False)
                    out.append(Entry(e.name, e.is_dir(follow_symlinks=False), st.st_size, st.st_mtime))
            return out

        try:
            return await asyncio.to_thread(scan)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise UploadError(f"cannot list {folder}: {exc.strerror}") from exc

    async def makedirs(self, folder: str) -> None:
        try:
            await asyncio.to_thread(self._path(folder).mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise UploadError(f"cannot create folder {self._path(folder)}: {exc.strerror}") from exc

    async def aclose(self) -> None:
        return None
