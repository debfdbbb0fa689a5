"""A local folder as a remote store: temporary file in the same folder, fsync, rename (the same
atomic write as every private file camcast keeps)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from camcast.errors import UploadRefused
from camcast.publish.errors import map_local_errors
from camcast.publish.store import Entry, temp_name
from camcast.security.files import write_atomic

#: Bytes copied at a time by put_file.
COPY_CHUNK = 1024 * 1024


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"folder {self.root}"

    def _path(self, path: str) -> Path:
        full = (self.root / path.lstrip("/")).resolve()
        if full != self.root.resolve() and self.root.resolve() not in full.parents:
            raise UploadRefused(f"{path} is outside {self.root}")
        return full

    async def put_atomic(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, path, data)

    def _put(self, path: str, data: bytes) -> None:
        write_atomic(self._path(path), data, 0o644, self._path(temp_name(path)), UploadRefused)

    async def put_file(self, path: str, local: Path) -> None:
        await asyncio.to_thread(self._put_file, path, local)

    def _put_file(self, path: str, local: Path) -> None:
        final, temp = self._path(path), self._path(temp_name(path))
        with map_local_errors(f"copy {local} to {final}"):
            try:
                with local.open("rb") as source, temp.open("xb") as out:
                    shutil.copyfileobj(source, out, COPY_CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(temp, 0o644)
                os.replace(temp, final)
            finally:
                temp.unlink(missing_ok=True)

    async def delete(self, path: str) -> None:
        with map_local_errors(f"delete {path}"):
            await asyncio.to_thread(self._path(path).unlink, missing_ok=True)

    async def list(self, folder: str) -> list[Entry]:
        def scan() -> list[Entry]:
            out = []
            with os.scandir(self._path(folder)) as it:
                for e in it:
                    st = e.stat(follow_symlinks=False)
                    out.append(Entry(e.name, e.is_dir(follow_symlinks=False), st.st_size, st.st_mtime))
            return out

        with map_local_errors(f"list {folder}"):
            try:
                return await asyncio.to_thread(scan)
            except FileNotFoundError:
                return []

    async def makedirs(self, folder: str) -> None:
        with map_local_errors(f"create folder {self._path(folder)}"):
            await asyncio.to_thread(self._path(folder).mkdir, parents=True, exist_ok=True)

    async def aclose(self) -> None:
        return None
