"""Sound events: a camera's sound louder than its ``audio_threshold`` for ``audio_min_seconds`` is an
event of kind ``sound``, kept in the same log and told to the same notifiers (webhook, command, MQTT)
and recorder as motion's.

:class:`SoundTracker` is pure (levels in, starts and ends out); :class:`SoundWatcher` reads the
camera's sound chunks as they come (their level costs microseconds on the event loop), writes the
events' lines in a worker of its own (a slow disk never holds the loop; the notifiers are told once a
line is written, or at once when the disk refuses it), and says the microphone's state and level to
whoever follows them (MQTT) every :data:`REPORT_EVERY` seconds. A silenced microphone (the shutter)
ends the open event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from camcast.audio.sound import Sound
from camcast.clock import stamp
from camcast.config import CameraSettings
from camcast.errors import CamcastError
from camcast.frames import Chunk, dbfs
from camcast.motion.events import JOURNAL, Change, Event, EventLog
from camcast.runtime.health import HEALTH
from camcast.runtime.worker import Worker

#: Seconds below the threshold that end a sound event.
QUIET_SECONDS = 3.0
#: A would-be event whose sound dips below the threshold for longer than this starts again (seconds).
DIP_SECONDS = 0.2
#: Seconds between reports of the microphone's state and level.
REPORT_EVERY = 5.0
#: Event lines waiting for a slow disk.
STORE_QUEUE = 16

Report = Callable[[str, str, float | None], None]


@dataclass
class SoundTracker:
    """Levels (dBFS, with their Unix time) in, sound events out (see the module docstring)."""

    camera: str
    threshold: float = -30.0
    min_seconds: float = 0.5
    open: Event | None = None
    _first: float | None = None
    _last: float | None = None

    def update(self, at: float, level: float) -> list[Change]:
        if level >= self.threshold:
            if self._first is None or (
                self.open is None and self._last is not None and at - self._last > DIP_SECONDS
            ):
                self._first = at
            self._last = at
            if self.open is None and at - self._first >= self.min_seconds:
                self.open = Event(f"{self.camera}-sound-{stamp(self._first)}", self.camera, self._first,
                                  kind="sound", level=level)  # fmt: skip
                return [("start", self.open)]
            if self.open is not None and level > (self.open.level or -200):
                self.open = replace(self.open, level=level)
            return []
        if self.open is not None and self._last is not None and at - self._last >= QUIET_SECONDS:
            return self.close()
        return []

    def close(self) -> list[Change]:
        """End the open event now (the microphone silenced, events turned off, the server stops)."""
        self._first = None
        if self.open is None or self._last is None:
            self.open = None
            return []
        ended, self.open = replace(self.open, end=self._last), None
        return [("end", ended)]


class SoundWatcher:
    """One camera's sound events. Run :meth:`run` as a task."""

    def __init__(
        self, sound: Sound, settings: CameraSettings, events: EventLog, tell: Callable[[str, Event], None]
    ) -> None:
        self.sound = sound
        self.settings = settings
        self.events = events
        self.tell = tell
        self.report: list[Report] = []
        self.tracker = SoundTracker(settings.id, settings.audio_threshold, settings.audio_min_seconds)
        self.started = 0
        self._worker = Worker(f"sound-events-{settings.id}", STORE_QUEUE, when_full="refuse")
        sound.hearing.append(self.receive)

    def change(self, settings: CameraSettings) -> None:
        """Reloaded settings, from the next chunk (turned off: the open event ends)."""
        self.settings = settings
        self.tracker.threshold, self.tracker.min_seconds = (
            settings.audio_threshold,
            settings.audio_min_seconds,
        )
        if not settings.audio_events:
            self._conclude(self.tracker.close())

    def receive(self, chunk: Chunk) -> None:
        if self.settings.audio_events:
            wall = time.time() - (time.monotonic() - chunk.time)
            self._conclude(self.tracker.update(wall, dbfs(chunk.samples)))

    async def run(self) -> None:
        if self._worker.closed:  # started again by the supervisor
            self._worker = Worker(f"sound-events-{self.settings.id}", STORE_QUEUE, when_full="refuse")
        reported = 0.0
        try:
            while True:
                if self.sound.state != "on" and self.tracker.open is not None:
                    self._conclude(self.tracker.close())  # silenced (the shutter), or gone
                if time.monotonic() - reported >= REPORT_EVERY:
                    reported = time.monotonic()
                    for report in self.report:
                        report(self.settings.id, self.sound.state, self.sound.level)
                await asyncio.sleep(0.5)
        finally:
            self._conclude(self.tracker.close())
            self._worker.close(drain=True)

    def _conclude(self, changes: list[Change]) -> None:
        for kind, event in changes:
            self.started += kind == "start"
            job = None if self._worker.closed else self._worker.submit(self._store, event)
            if job is None:
                HEALTH.failed(JOURNAL, "sound events are not stored: the disk is not answering")
                self.tell(kind, event)
            else:
                job.add_done_callback(lambda _done, kind=kind, event=event: self.tell(kind, event))  # type: ignore[misc]

    def _store(self, event: Event) -> None:
        try:
            self.events.write(event)
            HEALTH.worked(JOURNAL)
        except CamcastError as exc:
            HEALTH.failed(JOURNAL, f"sound events are not stored: {exc}")
