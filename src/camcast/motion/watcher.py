"""One camera's motion: pictures from its hub, analysed in a worker thread, events kept and told.

The hub hands every frame to :meth:`MotionWatcher.receive`, which only keeps the newest (a reference:
no copy, no work on the event loop). :meth:`MotionWatcher.run` takes at most ``motion_fps`` of them a
second and analyses each in the watcher's worker (:mod:`camcast.runtime.worker`, one job at most
waiting, the newest winning): a slow analysis makes the watcher skip pictures, never queue them.
The detector and the tracker belong to the worker's thread alone; each job carries the settings it
runs with, so a reload changes the next analysis, never one under way (the detector is made anew in
the thread when its thresholds or zones change). Only live pictures are analysed: the shutter's and
an offline source's cards end the open event and reset the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from camcast.config import CameraSettings
from camcast.encode.jpeg import encode
from camcast.errors import CamcastError
from camcast.frames import Captured
from camcast.hub import Hub
from camcast.motion.detector import Analysis, Detector
from camcast.motion.events import JOURNAL, PICTURES, Change, Event, EventLog, Tracker
from camcast.motion.grey import small_grey
from camcast.picture.jpeg import pixels
from camcast.picture.regions import watched
from camcast.runtime.health import HEALTH
from camcast.runtime.worker import Worker

log = logging.getLogger(__name__)

#: Who is told of each start and end (on the event loop): the notifiers, the status.
Tell = Callable[[str, Event], None]
#: Settings the detector is made from: a change makes it anew.
DETECTOR_KEYS = ("motion_sensitivity", "motion_zones", "motion_ignore")
#: Seconds a stopping watcher waits for the analysis under way.
STOP_WAIT = 5.0
#: Quality of an event's picture.
PICTURE_QUALITY = 85


class MotionWatcher:
    """Motion detection for the camera whose frames ``hub`` publishes. Run :meth:`run` as a task."""

    def __init__(self, hub: Hub, settings: CameraSettings, events: EventLog, tell: Tell) -> None:
        self.hub = hub
        self.settings = settings
        self.events = events
        self.tell = tell
        self.detector = Detector(settings.motion_sensitivity)
        self.tracker = self._tracker(settings)
        self._made_with = settings  # the settings the detector and tracker were last set from (thread)
        self._worker = Worker(f"motion-{self.hub.name}", 1, when_full="replace")
        self.started = 0  # events started since the server started
        self.analyses = 0
        self.lights = 0  # changes of the whole picture that reset the background
        self.last: Analysis | None = None
        self._size: tuple[int, int] | None = None
        self._newest: Captured | None = None
        self._peak: tuple[Captured, Event] | None = None
        self._fresh = asyncio.Event()
        hub.subscribe(self.receive)

    @property
    def enabled(self) -> bool:
        return self.settings.motion

    @property
    def active(self) -> bool:
        """An event is open now."""
        return self.tracker.open is not None

    def wants_pixels(self) -> bool:
        """Whether the camera should decode its H.264 for this watcher now."""
        return self.enabled and not self.hub.paused

    def receive(self, frame: Captured) -> None:
        self._newest = frame
        if self.settings.motion:  # off, the watcher sleeps (change() wakes it when turned on)
            self._fresh.set()

    def change(self, settings: CameraSettings) -> None:
        """Take reloaded settings at once: the next analysis runs with them (thresholds and zones);
        turning motion off ends the open event."""
        self.settings = settings
        self._fresh.set()  # motion turned off: run() ends the open event, between two analyses

    async def run(self) -> None:
        was_live = False
        if self._worker.closed:  # started again by the supervisor
            self._worker = Worker(f"motion-{self.hub.name}", 1, when_full="replace")
        try:
            while True:
                await self._fresh.wait()
                self._fresh.clear()
                settings = self.settings
                live = settings.motion and self.hub.live and self._newest is not None
                if not live:
                    if was_live:  # the shutter closed, the source went away, or motion was turned off
                        self._conclude(await self._worker.run(self._stop))
                    was_live = False
                    continue
                was_live = True
                frame = self._newest
                assert frame is not None
                began = time.monotonic()
                self._conclude(await self._worker.run(self._analyse, frame, settings))
                # At most motion_fps analyses a second; the newest picture when the time comes.
                await asyncio.sleep(max(0.0, 1.0 / settings.motion_fps - (time.monotonic() - began)))
        finally:
            # The analysis under way finishes (a few ms, or writing an event on a slow disk); then the
            # tracker is the loop's to close. A thread stuck on a dead disk keeps it.
            self._worker.close(drain=False)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.to_thread(self._worker.join, STOP_WAIT)
            if not self._worker.alive:
                self._conclude(self._finish(self.tracker.close()))

    def _conclude(self, changes: list[Change]) -> None:
        for kind, event in changes:
            if kind == "start":
                self.started += 1
            self.tell(kind, event)

    def _stop(self) -> list[Change]:
        self.detector.reset()
        return self._finish(self.tracker.close())

    def _analyse(self, frame: Captured, settings: CameraSettings) -> list[Change]:
        """In the worker's thread: one picture through the detector and the tracker, with ``settings``;
        the log written."""
        grey = small_grey(frame)
        if grey is None:
            return []
        made = self._made_with
        if any(getattr(made, key) != getattr(settings, key) for key in DETECTOR_KEYS):
            self.detector = Detector(settings.motion_sensitivity)
            self._size = None
        self.tracker.min_seconds = settings.motion_min_seconds
        self.tracker.gap_seconds = settings.motion_gap_seconds
        self._made_with = settings
        if self._size != grey.shape:
            self._watch(grey.shape[1], grey.shape[0], settings)
        analysis = self.detector.analyse(grey)
        self.analyses += 1
        self.lights += analysis.light
        self.last = analysis
        return self._finish(self.tracker.update(frame.wall, analysis), frame)

    def _watch(self, width: int, height: int, s: CameraSettings) -> None:
        self.detector.reset()
        self.detector.watch = watched(s.motion_zones, s.motion_ignore, width, height)
        self.tracker.zones = tuple(zone.raster(width, height) for zone in s.motion_zones)
        self._size = (height, width)

    def _finish(self, changes: list[Change], frame: Captured | None = None) -> list[Change]:
        """Keep the peak's picture; at a start and an end, store the picture and the log line. Returns
        the starts and ends, as stored."""
        done: list[Change] = []
        for kind, event in changes:
            if kind == "peak":
                if frame is not None:
                    self._peak = (frame, event)
                continue
            stored = self._store(event)
            if kind == "end":
                self._peak = None
            done.append((kind, stored))
        return done

    def _store(self, event: Event) -> Event:
        """``event`` with its picture (the peak's, boxed) stored, and its line written. A full disk
        or an unwritable folder is the owner's to see (:data:`HEALTH`); detection and notifications go
        on, and an event whose picture cannot be stored keeps its line."""
        try:
            if self._peak is not None and self._peak[1].id == event.id:
                frame, peak = self._peak
                event = replace(event, picture=self.events.write_picture(event.id, boxed(frame, peak.box)))
            elif event.picture is None and self.events.picture_path(event.id).exists():
                event = replace(event, picture=self.events.picture_path(event.id).name)
            HEALTH.worked(PICTURES)
        except (CamcastError, ValueError) as exc:
            HEALTH.failed(PICTURES, f"an event's picture is not stored: {exc}")
        try:
            self.events.write(event)
            HEALTH.worked(JOURNAL)
        except CamcastError as exc:
            HEALTH.failed(JOURNAL, f"motion events are not stored: {exc}")
        return event

    @staticmethod
    def _tracker(settings: CameraSettings) -> Tracker:
        return Tracker(settings.id, settings.motion_min_seconds, settings.motion_gap_seconds)


def boxed(frame: Captured, box: tuple[float, float, float, float] | None) -> bytes:
    """``frame`` as a JPEG with ``box`` (fractions of the picture) drawn around what moved."""
    image = pixels(frame)
    if box is not None:
        h, w = image.y.shape
        left, top = int(box[0] * w) & ~1, int(box[1] * h) & ~1
        right, bottom = min(int(box[2] * w + 1) & ~1, w), min(int(box[3] * h + 1) & ~1, h)
        line = max(2, (w // 320) & ~1)
        red = (81, 90, 240)  # Y, Cb, Cr
        for plane, value, step in ((image.y, red[0], 1), (image.u, red[1], 2), (image.v, red[2], 2)):
            x0, y0, x1, y1, t = left // step, top // step, right // step, bottom // step, max(line // step, 1)
            plane[y0 : y0 + t, x0:x1] = value
            plane[max(y1 - t, 0) : y1, x0:x1] = value
            plane[y0:y1, x0 : x0 + t] = value
            plane[y0:y1, max(x1 - t, 0) : x1] = value
    return encode(image, PICTURE_QUALITY)


def detector_view(analysis: Analysis | None, detector: Detector) -> np.ndarray | None:
    """What the detector sees, as a small RGB picture: its background in grey, moving pixels red, where
    constant motion raised the threshold yellow, what is not watched dimmed."""
    background = detector.background
    if background is None:
        return None
    grey = np.clip(background, 0, 255).astype(np.uint8)
    rgb = np.stack([grey, grey, grey], -1)
    if detector.watch is not None:
        rgb[~detector.watch] //= 3
    raised = detector.raised
    if raised is not None:
        rgb[raised] = (230, 200, 0)
    if analysis is not None and analysis.mask is not None and analysis.mask.shape == grey.shape:
        rgb[analysis.mask] = (230, 30, 30)
    return rgb
