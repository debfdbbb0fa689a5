"""The timelapses over the set of cameras: one :class:`~camcast.timelapse.taker.Timelapse` each (idle
while its ``every`` is unset), the films' retention here by ``keep_days``, and each finished film
uploaded where the camera publishes (``publish = true``: the film, then the page listing the days,
each atomically, and the host's films past ``keep_days`` deleted) and copied to its recordings'
``copy_to``. Run its :meth:`Timelapses.children` under the server's supervisor."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from camcast import pages
from camcast.camera import Camera
from camcast.config import CameraSettings
from camcast.errors import CamcastError
from camcast.publish import store_for
from camcast.publish.store import RemoteStore
from camcast.record.runner import copy_store
from camcast.runtime.outbox import Outbox
from camcast.runtime.plan import Plan
from camcast.runtime.supervisor import Factory
from camcast.timelapse.film import Film, delete
from camcast.timelapse.film import films as films_in
from camcast.timelapse.taker import Timelapse

log = logging.getLogger(__name__)

#: The folder of the films where a camera publishes, and the page that lists them.
FOLDER = "timelapse"
PAGE = "timelapse.html"
#: Seconds between passes of the retention here.
SWEEP_EVERY = 3600.0
#: Waits before the attempts to upload a film (seconds).
UPLOAD_BACKOFF = (10.0, 60.0, 300.0, 900.0)


def caption(film: Film) -> str:
    start, end = (datetime.datetime.fromtimestamp(t).strftime("%H:%M") for t in (film.first, film.last))
    return f"{start} to {end}, {film.frames} pictures in {film.length:g} s ({film.bytes / 1e6:.1f} MB)"


def page(title: str, listed: Sequence[tuple[Film, str]], asset_base: str, **layout: object) -> str:
    """The page listing ``listed`` (a film and its URL), newest first, a ``<video>`` each."""
    rows = [(f.day, url, caption(f)) for f, url in sorted(listed, key=lambda p: p[0].day, reverse=True)]
    return pages.fill(
        "timelapse", title=title, asset_base=asset_base, films=rows, refresh="", script="",
        **{"csrf": "", "nav": [], "mic": None, "talking": None, **layout},
    )  # fmt: skip


class Timelapses:
    """The cameras' timelapses, their films in ``folder``."""

    def __init__(self, cameras: Sequence[Camera], folder: Path) -> None:
        self.folder = folder
        self.takers = {c.name: Timelapse(c, folder, self._made) for c in cameras}
        self._uploads: dict[str, Outbox[Film]] = {}
        self._stores: dict[str, list[tuple[RemoteStore, str]]] = {}
        for camera in cameras:
            s = camera.settings
            stores = []
            if s.timelapse_publish and s.publish_to:
                stores.append((store_for(s), ""))
            if s.timelapse_publish and s.record_copy_to:
                stores.append((copy_store(s), f"{camera.name}/"))
            if stores:
                self._stores[camera.name] = stores
                self._uploads[camera.name] = Outbox(f"{camera.name}: timelapse uploads", size=64)

    def describe(self) -> list[str]:
        """A line per camera making a timelapse, for the start-up banner."""
        lines = []
        for name, taker in self.takers.items():
            s = taker.settings
            if s.timelapse_every is None:
                continue
            where = ", published" if name in self._stores else ""
            lines.append(f"{name} makes a timelapse: a picture every {s.timelapse_every:g} s, "
                         f"{s.timelapse_window.show()}, a film of {s.timelapse_length:g} s a day{where}; "
                         "camcast timelapse lists them")  # fmt: skip
        return lines

    def check(self, settings: Mapping[str, CameraSettings]) -> Plan:
        """Reloaded settings apply from the next picture (where the films go is restart-only)."""
        changes = [(self.takers[name], new) for name, new in settings.items() if name in self.takers]

        def commit() -> None:
            for taker, new in changes:
                taker.change(new)

        return Plan(commit)

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        for stores in self._stores.values():
            for store, _ in stores:
                stack.push_async_callback(store.aclose)

    def children(self) -> list[tuple[str, Factory]]:
        found: list[tuple[str, Factory]] = [(t.part, t.run) for t in self.takers.values()]
        found.append(("timelapse: retention", self._sweeps))
        return found + [
            (f"{n}: timelapse uploads", functools.partial(self._uploader, n)) for n in self._uploads
        ]

    def films(self, cameras: Sequence[str]) -> list[Film]:
        """The finished films of ``cameras``, oldest first (in a worker thread: it reads the sidecars)."""
        return films_in(self.folder, list(cameras))

    def _made(self, film: Film) -> None:
        outbox = self._uploads.get(film.camera)
        if outbox is not None:
            outbox.put(film)

    # --- retention -------------------------------------------------------------------------------------
    async def _sweeps(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.sweep)
            await asyncio.sleep(SWEEP_EVERY)

    def sweep(self) -> list[Film]:
        """Delete the films older than their camera's ``keep_days``; returns them."""
        gone = []
        for film in films_in(self.folder, list(self.takers)):
            days = self.takers[film.camera].settings.timelapse_keep_days
            if days is not None and _older(film.day, days):
                delete(self.folder, film)
                gone.append(film)
        if gone:
            log.info("timelapse: deleted %d films older than their keep_days", len(gone))
        return gone

    # --- uploads ---------------------------------------------------------------------------------------
    async def _uploader(self, name: str) -> None:
        outbox = self._uploads[name]
        while True:
            film = await outbox.get()
            for store, prefix in self._stores[name]:
                for attempt in range(len(UPLOAD_BACKOFF) + 1):
                    try:
                        await self._upload(store, prefix, film)
                        break
                    except (CamcastError, OSError) as exc:
                        if attempt == len(UPLOAD_BACKOFF):
                            log.warning("%s: the timelapse of %s was not uploaded to %s: %s", name, film.day,
                                        store.describe(), exc)  # fmt: skip
                            break
                        log.info("%s: uploading the timelapse of %s to %s: %s; retrying", name, film.day,
                                 store.describe(), exc)  # fmt: skip
                        await asyncio.sleep(UPLOAD_BACKOFF[attempt])

    async def _upload(self, store: RemoteStore, prefix: str, film: Film) -> None:
        """The film (atomically), then the page listing every film on the store (newest first), then
        the store's films past ``keep_days`` deleted."""
        folder = f"{prefix}{FOLDER}"
        await store.makedirs(folder)
        await store.put_file(f"{folder}/{film.day}.mp4", film.path(self.folder))
        settings = self.takers[film.camera].settings
        days = settings.timelapse_keep_days
        here = {f.day: f for f in await asyncio.to_thread(films_in, self.folder, [film.camera])}
        there = set()
        for entry in await store.list(folder):
            day = entry.name.removesuffix(".mp4")
            if entry.is_dir or not entry.name.endswith(".mp4") or not _is_day(day):
                continue  # never touch what camcast did not put there
            if days is not None and _older(day, days):
                await store.delete(f"{folder}/{entry.name}")
            else:
                there.add(day)
        listed = [(f, f"{FOLDER}/{f.day}.mp4") for day, f in here.items() if day in there]
        body = page(f"{settings.title} · timelapse", listed, ".")
        await store.put_atomic(f"{prefix}{PAGE}", body.encode())
        log.info("%s: the timelapse of %s is uploaded to %s", film.camera, film.day, store.describe())


def _is_day(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _older(day: str, days: float) -> bool:
    """Whether ``day`` (ISO) is more than ``days`` days before today."""
    cutoff = datetime.date.today() - datetime.timedelta(days=math.ceil(days))
    return datetime.date.fromisoformat(day) < cutoff
