"""Retention on the host: old archive pictures, and temporary files a crash left behind.

Archive pictures are dated by their path (parsed with the archive's strftime pattern), not by the
server's clock, and a file whose path does not match the pattern is never touched.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import time

from camcast.errors import UploadError
from camcast.publish.store import RemoteStore, is_temp

log = logging.getLogger(__name__)

#: Seconds between retention passes while publishing.
EVERY = 3600.0


def pattern_root(pattern: str) -> str:
    """The fixed folder before the first strftime field: ``archive/%Y/%m`` -> ``archive``."""
    fixed = pattern.split("%", 1)[0]
    return fixed.rsplit("/", 1)[0] if "/" in fixed else ""


class Retention:
    def __init__(
        self, store: RemoteStore, pattern: str | None, keep_days: float | None, keep: int | None
    ) -> None:
        self.store = store
        self.pattern = pattern
        self.keep_days = keep_days
        self.keep = keep

    @property
    def active(self) -> bool:
        return bool(self.pattern) and (self.keep_days is not None or self.keep is not None)

    async def run(self) -> None:
        while True:
            try:
                await self.apply()
            except UploadError as exc:
                log.warning("retention pass failed: %s", exc)
            await asyncio.sleep(EVERY)

    async def archived(self) -> list[tuple[float, str]]:
        """(capture time, path) of every archived picture, oldest first; temporary files are cleaned."""
        assert self.pattern is not None
        root = pattern_root(self.pattern)
        found: list[tuple[float, str]] = []
        folders = [root]
        while folders:
            folder = folders.pop()
            for entry in await self.store.list(folder):
                path = posixpath.join(folder, entry.name) if folder else entry.name
                if entry.is_dir:
                    folders.append(path)
                elif is_temp(entry.name):
                    await self.store.delete(path)
                else:
                    try:
                        found.append((time.mktime(time.strptime(path, self.pattern)), path))
                    except ValueError:
                        continue  # not ours
        return sorted(found)

    async def apply(self, now: float | None = None) -> list[str]:
        """Delete archive pictures past the limits; returns what was deleted."""
        if not self.active:
            return []
        now = time.time() if now is None else now
        pictures = await self.archived()
        doomed: list[str] = []
        if self.keep is not None and len(pictures) > self.keep:
            doomed += [path for _, path in pictures[: len(pictures) - self.keep]]
        if self.keep_days is not None:
            cutoff = now - self.keep_days * 86400
            doomed += [path for stamp, path in pictures if stamp < cutoff and path not in doomed]
        for path in doomed:
            await self.store.delete(path)
        if doomed:
            log.info("retention: deleted %d archived pictures", len(doomed))
        return doomed

    async def clean_temp_files(self, folders: list[str]) -> int:
        """Delete temporary upload files in ``folders`` (left by a crash: at start none are ours)."""
        cleaned = 0
        for folder in folders:
            for entry in await self.store.list(folder):
                if not entry.is_dir and is_temp(entry.name):
                    await self.store.delete(posixpath.join(folder, entry.name) if folder else entry.name)
                    cleaned += 1
        if cleaned:
            log.info("removed %d temporary files left by an earlier run", cleaned)
        return cleaned
