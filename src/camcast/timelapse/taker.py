"""A camera's timelapse: a picture every ``every`` seconds within the day's window, each encoded into
the day's film as it is taken (:mod:`camcast.timelapse.film`), the film finished when the window ends.

Pictures come from the camera's JPEG rendition like a snapshot (masks and drawing applied; a camera's
own JPEG as it came when nothing is drawn), are decoded and brightness-smoothed
(:mod:`~camcast.timelapse.deflicker`) in a worker thread, one at a time: a picture due while the last
is still being encoded is skipped. No picture is taken while the shutter is closed or the camera is
offline (the film has a gap there), nor while the disk is short of room (one warning, and the camera
goes on).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from camcast.camera import Camera
from camcast.config import CameraSettings
from camcast.daylight import Span, span
from camcast.errors import CamcastError
from camcast.frames import EncodedFrame, Yuv420
from camcast.picture.jpeg import decode_yuv
from camcast.runtime.health import HEALTH
from camcast.security.files import private_dir
from camcast.timelapse import film as films
from camcast.timelapse.deflicker import Deflicker

log = logging.getLogger(__name__)

#: Free bytes the timelapse leaves on its disk (for the system and the other writers): below it, no
#: picture is taken.
MIN_FREE = 16 * 1024**2


class Timelapse:
    """The timelapse of ``camera``, its films in ``folder``; ``made`` is told of each finished film."""

    def __init__(self, camera: Camera, folder: Path, made: Callable[[films.Film], None]) -> None:
        self.camera = camera
        self.name = camera.name
        self.settings = camera.settings
        #: The settings the day's pictures were taken with: its film is made with their length, even
        #: once a reload turned the timelapse off.
        self.taking = camera.settings
        self.folder = folder
        self.made = made
        self.rendition = camera.rendition("timelapse")
        self.state = "off"
        self.span: Span | None = None
        self.pictures = 0  # taken into the film being made
        self.skipped = 0  # due while the last was still being encoded
        self.full = False
        self._working: films.WorkingFilm | None = None
        self._deflicker = Deflicker()
        self._changed = asyncio.Event()
        self._adding: asyncio.Future[None] | None = None  # the picture being encoded, in its thread

    @property
    def part(self) -> str:
        return f"{self.name}: timelapse"

    def change(self, settings: CameraSettings) -> None:
        """Reloaded settings: they apply from the next picture (a new window or interval at once)."""
        self.settings = settings
        self._changed.set()

    def describe(self) -> dict[str, object]:
        """For the owner's status: what it is doing, the window today and the pictures taken."""
        s, window = self.settings, self.span
        return {
            "state": self.state,
            "every": s.timelapse_every,
            "window": s.timelapse_window.show(),
            "today": None if window is None or window.start is None or window.end is None
            else [window.start.isoformat(timespec="seconds"), window.end.isoformat(timespec="seconds")],
            "note": window.note if window else "",
            "pictures": self.pictures,
            "length": s.timelapse_length,
        }  # fmt: skip

    async def run(self) -> None:
        try:
            await self._finish_left()
            while True:
                await self._step()
        finally:
            HEALTH.forget(self.part)
            HEALTH.forget(f"{self.part} film")
            if self._adding is not None:  # a picture still being encoded in its thread
                await asyncio.wait([self._adding])
                self._adding = None
            working, self._working = self._working, None
            if working is not None:
                await asyncio.shield(asyncio.to_thread(working.close))

    async def _step(self) -> None:
        """One turn: take a picture if one is due now, finish a film whose window ended, then wait."""
        s = self.settings
        self._changed.clear()
        if s.timelapse_every is None:
            self.state, self.span = "off", None
            await self._finish_today()
            await self._changed.wait()
            return
        now = datetime.datetime.now().astimezone()
        today = span(s.timelapse_window, now.date(), s.timelapse_location)
        if self.span is None or self.span.day != today.day or self.span != today:
            if today.note and (self.span is None or self.span.day != today.day):
                log.info("%s: timelapse on %s: %s", self.name, today.day, today.note)
            self.span = today
        if today.start is None or today.end is None or now >= today.end:
            self.state = "done for the day" if today.start is not None else "no window today"
            await self._finish_today()
            tomorrow = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time())
            await self._wait((tomorrow.astimezone() - now).total_seconds() + 0.5)
            return
        if now < today.start:
            self.state = "waiting for the window"
            await self._wait((today.start - now).total_seconds())
            return
        every = s.timelapse_every
        await self._take()
        since = (datetime.datetime.now().astimezone() - today.start).total_seconds()
        due = today.start.timestamp() + (int(since / every) + 1) * every
        await self._wait(min(due, today.end.timestamp()) - time.time())

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(seconds, 0.0))

    async def _take(self) -> None:
        hub = self.camera.hub
        if not hub.live:
            self.state = "paused" if hub.paused else "camera offline"
            return
        if self._adding is not None and not self._adding.done():
            self.skipped += 1
            return
        try:
            frame = await self.rendition.snapshot()
        except CamcastError as exc:
            log.debug("%s: no timelapse picture: %s", self.name, exc)
            return
        if not hub.live or frame.wall <= hub.resumed_at:  # the shutter closed meanwhile, or a card
            return
        self.taking = self.settings
        self._adding = asyncio.ensure_future(asyncio.to_thread(self._add, frame, self.settings))
        try:
            await asyncio.shield(self._adding)
        except (OSError, CamcastError) as exc:
            self._short(f"cannot write the day's film: {exc}")
        except ValueError as exc:  # a picture the camera sent damaged: the next one will do
            log.info("%s: a timelapse picture is skipped: %s", self.name, exc)
        finally:
            if self._adding.done():  # else (cancelled meanwhile) run() waits for it before closing
                self._adding = None

    def _add(self, frame: EncodedFrame, settings: CameraSettings) -> None:
        """In the worker thread: decode, smooth, encode into the day's film."""
        if shutil.disk_usage(private_dir(self.folder)).free < MIN_FREE:
            self._short(f"the disk has less than {MIN_FREE // 1024**2} MB free")
            return
        picture = decode_yuv(frame.payload.data)
        day = datetime.datetime.fromtimestamp(frame.wall).date()
        if self._working is not None and self._working.day != day:
            self._working.close()
            self._working = None
        if self._working is None:
            self._working = films.WorkingFilm(self.folder, self.name, day)
            self._deflicker = Deflicker()  # a day's light is not smoothed toward last night's
        if settings.timelapse_deflicker:
            picture = Yuv420(self._deflicker.apply(picture.y), picture.u, picture.v)
        self._working.add(picture, frame.wall)
        self.pictures = self._working.pictures
        self.state = "taking pictures"
        if self.full:
            self.full = False
            HEALTH.worked(self.part)  # says so, once

    def _short(self, why: str) -> None:
        """No picture now: the warning is HEALTH's, once until the pictures start again."""
        self.state = "disk full"
        self.full = True
        HEALTH.failed(self.part, f"no pictures: {why}; they start again when there is room")

    async def _finish_today(self) -> None:
        """The film of the day whose window has ended (or whose timelapse was turned off)."""
        working, self._working = self._working, None
        if working is not None:
            await asyncio.to_thread(working.close)
        self.pictures = 0
        await self._finish(datetime.date.today().isoformat() if working is None else str(working.day))
        await self._finish_left()  # an earlier day's that could not be made then

    async def _finish_left(self) -> None:
        """Parts a stop or a crash left: those of an earlier day are finished now (today's are added to)."""
        today = datetime.date.today().isoformat()
        for day in await asyncio.to_thread(films.parts, self.folder, self.name):
            if day < today:
                await self._finish(day)

    async def _finish(self, day: str) -> None:
        paths = (await asyncio.to_thread(films.parts, self.folder, self.name)).get(day, [])
        if not paths:
            return
        started = time.monotonic()
        try:
            made = await asyncio.to_thread(
                films.finish, self.folder, self.name, day, paths, self.taking.timelapse_length
            )
        except (OSError, CamcastError) as exc:  # its parts stay: tried again at the next day's end
            HEALTH.failed(f"{self.part} film", f"the film of {day} was not made: {exc}")
            return
        HEALTH.worked(f"{self.part} film")
        if made is None:
            return
        log.info("%s: the timelapse of %s is made: %d pictures in %.0f s, %.1f MB (in %.1f s)", self.name,
                 day, made.frames, made.length, made.bytes / 1e6, time.monotonic() - started)  # fmt: skip
        self.made(made)
