"""One camera's recorder: a listener of its H.264 rendition (the packets every other output gets, so
nothing is encoded twice, and a camera's own H.264 is written as it came), of its AAC while its audio
is on (each group of pictures keeps the sound that came with it), and of its motion events.

- ``events``: the last ``pre_seconds`` of video are kept in memory as whole groups of pictures, so a
  clip starts at a keyframe before the event; the clip goes on while any event is open and
  ``post_seconds`` after the last one ends. Events that overlap share one clip, which names them all.
- ``continuous``: one file after another, each cut at the first keyframe past ``file_minutes``; the
  events during a file are named in its sidecar (an event's clip is exported from it on demand).

Only live pictures are recorded: the shutter closes the clip at once (the record shows the gap, and
no clip holds a paused period), as does a source going offline. Files are written by one bounded
worker per camera (:mod:`camcast.runtime.worker`), so a slow disk never stalls the event loop; a write
that fails (a full disk) ends the clip with one warning, and recording resumes once the runner finds
room (:mod:`camcast.record.runner`). A disk that stops answering (a stalled network share, a dying
card) holds at most RECORD_QUEUE groups of pictures in memory: then the clip ends there, its sidecar
says why (``cut``), and the next clip starts once the disk has caught up.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camcast.audio.encode import AudioRendition
from camcast.config import CameraSettings
from camcast.encode.rendition import Rendition
from camcast.frames import AudioPacket, EncodedFrame
from camcast.hub import Hub
from camcast.motion.events import Event
from camcast.record.clip import Clip, RecordError, Recording
from camcast.record.gops import Gop, GopBuilder, Params
from camcast.record.names import clip_path
from camcast.runtime.health import HEALTH
from camcast.runtime.worker import Worker

log = logging.getLogger(__name__)

#: Seconds to wait after a failed write before trying to record again.
RETRY_AFTER_FAILURE = 10.0
#: Groups of pictures (a second each at the default keyframe interval) waiting for a slow disk: 30 s,
#: about 7.5 MB at 2 Mbit/s. A disk further behind loses the clip's tail, never the server's memory.
RECORD_QUEUE = 30
#: Seconds a stopping recorder waits for its disk to take what is queued.
STOP_WAIT = 20.0
#: Why a clip the disk could not keep up with ends early (its sidecar's ``cut``).
DISK_BEHIND = "the disk fell behind"


@dataclass
class _Open:
    """The clip being written, as the event loop knows it (the file itself lives in the thread)."""

    path: Path
    params: Params
    start: float
    seconds: float = 0.0
    events: list[str] = field(default_factory=list)


class Recorder:
    """See the module docstring. ``finished`` is called on the event loop with each finished file."""

    def __init__(
        self,
        hub: Hub,
        rendition: Rendition,
        settings: CameraSettings,
        folder: Path,
        finished: Callable[[Recording], None],
        sound: AudioRendition | None = None,
    ) -> None:
        self.hub = hub
        self.sound = sound
        self.name = settings.id
        self.rendition = rendition
        self.settings = settings
        self.folder = folder
        self.finished = finished
        self.clip: _Open | None = None
        self.full = False  # the disk is short of min_free even with the old recordings gone
        self.bytes = 0
        self.files = 0
        self.failures = 0
        self.gaps = 0  # clips ended early because the disk fell behind
        self._behind = False  # since the last gap, until the worker has caught up
        self._gops = GopBuilder()
        self._pre: deque[Gop] = deque()
        self._events: set[str] = set()  # open events
        self._until = 0.0  # record events until this Unix time
        self._failed_at = -math.inf
        self._attached = False
        self._file: Clip | None = None  # only the worker thread touches it
        self._worker = Worker(f"record-{self.name}", RECORD_QUEUE, when_full="refuse")

    @property
    def mode(self) -> str:
        return self.settings.record

    @property
    def recording(self) -> bool:
        """Writing a clip of live pictures now (false from the moment the shutter closes)."""
        return self.clip is not None and self.hub.live

    def set_full(self, short: bool) -> None:
        """The disk is (or no longer is) short of ``min_free`` with the old recordings gone: the clip
        ends now, and none starts until there is room."""
        self.full = short
        if short and self.clip is not None:
            self._close()

    def start(self) -> None:
        """Listen to the camera's video (while the mode is not off)."""
        if self.mode != "off" and not self._attached:
            self._attached = True
            self.rendition.add_listener(self.receive)
            if self.sound is not None:
                self.sound.add_listener(self.receive_sound)

    def change(self, settings: CameraSettings) -> None:
        """Take reloaded settings: a new mode from the next group of pictures (off closes the clip)."""
        self.settings = settings
        if settings.record == "off" and self._attached:
            self._detach()
            self._interrupt()
        elif settings.record != "off":
            self.start()
            if settings.record == "events" and self.clip is not None and not self._events:
                self._until = min(self._until, time.time() + settings.record_post_seconds)

    # --- the video -------------------------------------------------------------------------------------
    def receive(self, frame: EncodedFrame) -> None:
        """A rendition listener: each encoded frame, on the event loop (cheap: no I/O here)."""
        if not self.hub.live:
            self._interrupt()
            return
        gop = self._gops.push(frame)
        if gop is not None:
            self._complete(gop)

    def receive_sound(self, packet: AudioPacket) -> None:
        """The AAC rendition's listener: the packet goes with the group of pictures open now."""
        if self.hub.live:
            self._gops.push_sound(packet)

    def _detach(self) -> None:
        self._attached = False
        self.rendition.remove_listener(self.receive)
        if self.sound is not None:
            self.sound.remove_listener(self.receive_sound)

    def _complete(self, gop: Gop) -> None:
        self._pre.append(gop)
        while len(self._pre) >= 2 and self._pre[1].wall <= gop.end_wall - self.settings.record_pre_seconds:
            self._pre.popleft()
        if self.clip is not None and gop.params != self.clip.params:
            self._close()  # a new picture size: a new file
        if self.clip is not None:
            self._add(gop)
            if self.clip is not None and self._ending(gop):
                self._close()
        elif self._wanted(gop):
            self._open(list(self._pre) if self.mode == "events" else [gop])

    def _wanted(self, gop: Gop) -> bool:
        if self._behind and self._worker.waiting == 0:
            self._behind = False
            log.warning("%s: the disk has caught up: recording resumes", self.name)
        if self.full or self._behind or time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE:
            return False
        if self.mode == "continuous":
            return True
        return self.mode == "events" and (bool(self._events) or gop.wall < self._until)

    def _ending(self, gop: Gop) -> bool:
        assert self.clip is not None
        if self.mode == "continuous":
            return self.clip.seconds >= self.settings.record_file_minutes * 60
        return not self._events and gop.end_wall >= self._until

    def _interrupt(self) -> None:
        """The pictures stop (the shutter, an offline source, recording turned off): the clip ends with
        the last live picture, and nothing from before the gap is kept for the next."""
        last = self._gops.flush()
        if last is not None and self.clip is not None and last.params == self.clip.params:
            self._add(last)
        if self.clip is not None:
            self._close()
        self._pre.clear()

    # --- events ----------------------------------------------------------------------------------------
    def on_event(self, kind: str, event: Event) -> None:
        """A motion event of this camera started or ended (on the event loop)."""
        if event.camera != self.name or self.mode == "off":
            return
        if kind == "start":
            self._events.add(event.id)
            may = (
                not (self.full or self._behind) and time.monotonic() - self._failed_at >= RETRY_AFTER_FAILURE
            )
            if self.clip is None and self.mode == "events" and self._pre and self.hub.live and may:
                self._open(list(self._pre))
            if self.clip is not None and event.id not in self.clip.events:
                self.clip.events.append(event.id)
        else:
            self._events.discard(event.id)
            self._until = max(self._until, (event.end or time.time()) + self.settings.record_post_seconds)

    # --- the file, through the worker -------------------------------------------------------------------
    def _open(self, gops: list[Gop]) -> None:
        first = gops[0]
        path = clip_path(self.folder, self.name, first.wall)
        self.clip = _Open(path, first.params, first.wall, events=sorted(self._events))
        log.info("%s: recording to %s", self.name, path)
        self._submit(self._t_open, path, first.params, first.wall, force=True)
        for gop in gops:
            self._add(gop)
            if self.clip is None:
                return  # the disk is behind already

    def _add(self, gop: Gop) -> None:
        assert self.clip is not None
        if not self._submit(self._t_add, gop):
            self._fell_behind()
            return
        self.clip.seconds += gop.seconds
        self.bytes += gop.bytes

    def _fell_behind(self) -> None:
        """The worker holds RECORD_QUEUE groups the disk has not taken: the clip ends with what is
        queued, and none starts until the disk has caught up."""
        self.gaps += 1
        self._behind = True
        log.warning("%s: the disk is %d s of video behind: the clip ends here (a gap in the recording); "
                    "the next starts when the disk has caught up", self.name, RECORD_QUEUE)  # fmt: skip
        self._close(DISK_BEHIND)

    def _close(self, cut: str = "") -> None:
        assert self.clip is not None
        events = tuple(self.clip.events)
        self.clip = None
        if not self._events:
            self._until = 0.0  # the seconds after the last event are in this clip: none is owed
        self._submit(self._t_finish, events, cut, force=True)  # one per clip opened: bounded

    def _submit(self, job: Callable[..., object], *args: object, force: bool = False) -> bool:
        future = self._worker.submit(job, *args, force=force)
        if future is None:
            return False
        future.add_done_callback(self._done)
        return True

    def _done(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, RecordError):
            self.failures += 1
            self._failed_at = time.monotonic()
            if self.clip is not None:
                self.clip = None  # the thread has abandoned the file; it plays up to its last fragment
            HEALTH.failed(
                f"{self.name}: recording", f"stopped: {exc}; trying again every {RETRY_AFTER_FAILURE:g} s"
            )
        elif exc is not None:
            log.error("%s: recording failed: %r", self.name, exc)
        elif isinstance(future.result(), Recording):
            self.files += 1
            HEALTH.worked(f"{self.name}: recording")
            self.finished(future.result())

    def _t_open(self, path: Path, params: Params, start: float) -> None:
        sound = self.sound.format if self.sound is not None else None
        self._file = Clip(path, self.name, params, start, sound)

    def _t_add(self, gop: Gop) -> None:
        if self._file is None:
            return
        try:
            self._file.add(gop)
        except RecordError:
            self._file.abandon()
            self._file = None
            raise

    def _t_finish(self, events: tuple[str, ...], cut: str) -> Recording | None:
        if self._file is None:
            return None
        clip, self._file = self._file, None
        clip.events, clip.cut = list(events), cut
        return clip.finish()

    async def aclose(self) -> None:
        """Finish the clip being written (the server stops) and wait for the thread."""
        if self._attached:
            self._detach()
        self._interrupt()
        # What is queued is written and the clip finished; a disk that does not answer is not waited for
        # past STOP_WAIT (the file plays up to its last fragment, as after a crash).
        await self._worker.aclose(seconds=STOP_WAIT)
