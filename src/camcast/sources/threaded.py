"""The one bridge from a blocking reader thread into the event loop.

Consumers (the hub) always want the newest frame, so the bridge keeps one slot, not a queue: a frame not
taken before the next arrives is dropped and counted. The thread's errors are raised in the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator

from camcast.errors import SourceError
from camcast.frames import Captured, Yuv420, of_image
from camcast.picture.draw import message_card

log = logging.getLogger(__name__)

#: Waits between attempts to reopen a lost source, in seconds: quick at first, then settling at 30 s so a
#: camera left unplugged costs almost nothing.
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
#: While a source is lost, an "offline" card is shown at this rate (frames per second): viewers see it
#: promptly without the hub encoding a full frame rate of identical pictures.
OFFLINE_FPS = 2.0
#: Seconds a network stream opened at start-up may go unread before its reading begins: past them it
#: is opened anew, since what it buffered meanwhile (a second or two while the server is built) would
#: come out in a burst of old pictures, squeezed together by the source's clock, their sound overlapping.
FRESH = 0.5


def retry_delay(attempt: int) -> float:
    """Seconds to wait before attempt ``attempt`` (0, 1, ...) to open a lost source again."""
    return RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]


def offline_card(width: int, height: int, since: float) -> Yuv420:
    """The picture every output shows while a camera is offline since Unix time ``since``."""
    lost_at = time.strftime("%H:%M:%S", time.localtime(since))
    return message_card(width, height, ["camera offline", f"since {lost_at}"])


class ThreadedSource(ABC):
    """A source whose frames come from blocking I/O (V4L2, FFmpeg) in one dedicated thread.

    Subclasses implement :meth:`open_frames`, a generator that opens the device or stream and yields
    frames until it ends or fails. This class runs it in a thread, hands the newest frame to the loop,
    and when it fails after a successful start shows an offline card while retrying with backoff.
    ``start()`` opens the source once in the caller's thread so that a bad device fails the program at
    start-up with a clear :class:`SourceError` instead of retrying forever.
    """

    #: Whether what the source buffers while unread grows old (a network stream; see :data:`FRESH`).
    buffers_while_unread = False

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.dropped = 0
        self.reconnects = 0  # times the source came back after going offline
        self.camera_name = ""  # whose source this is, in log lines (the camera sets it)
        self._slot: Captured | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._first: Iterator[Captured] | None = None
        self._rest: Iterator[Captured] | None = None  # the opening behind _first, to close it
        self._opened_at = 0.0
        self._seq = 0
        self._offline_since = 0.0

    @abstractmethod
    def open_frames(self) -> Iterator[Captured]:
        """Open the source and yield its frames; raise :class:`SourceError` when it cannot be read."""

    @abstractmethod
    def describe(self) -> str: ...

    @property
    def live(self) -> bool:
        """False while the source is lost and retrying."""
        return not self._offline_since

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def start(self) -> None:
        """Open the source now (blocking); raises SourceError if it cannot be opened."""
        frames = self.open_frames()
        try:
            first = next(frames)
        except StopIteration:
            raise SourceError(f"{self.describe()} produced no frames") from None
        self._first, self._rest = _chain(first, frames), frames
        self._opened_at = time.monotonic()

    def __aiter__(self) -> AsyncIterator[Captured]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Captured]:
        if self._first is None:
            await asyncio.to_thread(self.start)
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name=f"source {self.describe()}", daemon=True)
        self._thread.start()
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                frame, self._slot = self._slot, None
            if self._error is not None:
                raise self._error
            if frame is not None:
                yield frame

    async def aclose(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)

    # --- reader thread -------------------------------------------------------------------------------
    def _hand_over(self, frame: Captured) -> None:
        with self._lock:
            if self._slot is not None:
                self.dropped += 1
                lost = self._slot.packet
                if lost is not None and frame.packet is not None and not frame.packet.keyframe:
                    # An H.264 packet was lost: whoever sends this one on must wait for a keyframe.
                    packet = dataclasses.replace(frame.packet, after_gap=True)
                    payload = frame.payload if isinstance(frame.payload, Yuv420) else packet
                    frame = dataclasses.replace(frame, payload=payload, packet=packet)
            self._slot = frame
        self._notify()

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop closed between the check and the call
                self._stop.set()

    def _run(self) -> None:
        try:
            frames = self._first_frames()
            while not self._stop.is_set():
                try:
                    for frame in frames:
                        if self._offline_since:
                            log.warning("%s is back", self._who())
                            self._offline_since = 0.0
                            self.reconnects += 1
                        self._hand_over(frame)
                        if self._stop.is_set():
                            return
                    reason = "the stream ended"
                except SourceError as exc:
                    reason = str(exc)
                if self._stop.is_set():
                    return
                frames = self._recover(reason)
        except BaseException as exc:  # surfaced in the loop, never lost in the thread
            self._error = exc
            self._notify()

    def _first_frames(self) -> Iterator[Captured]:
        """The frames of the opening :meth:`start` made, or of a new one (see :data:`FRESH`)."""
        first, self._first = self._first, None
        rest, self._rest = self._rest, None
        stale = self.buffers_while_unread and time.monotonic() - self._opened_at > FRESH
        if first is not None and not stale:
            return first
        if (close := getattr(rest, "close", None)) is not None:
            close()  # the opening's own generator: its stream is closed
        try:
            return self.open_frames()
        except SourceError as exc:
            return self._recover(str(exc))

    def _who(self) -> str:
        return f"{self.camera_name}: {self.describe()}" if self.camera_name else self.describe()

    def ended_normally(self) -> bool:
        """Whether a finished stream should simply be opened again (a looped file) without a card."""
        return False

    def _recover(self, reason: str) -> Iterator[Captured]:
        """Show the offline card and retry opening until it works or the source is closed."""
        if self.ended_normally():
            try:
                return self.open_frames()
            except SourceError as exc:
                reason = str(exc)
        self._offline_since = time.time()
        log.warning("%s lost (%s); retrying", self._who(), reason)
        attempt = 0
        while not self._stop.is_set():
            retry_at = time.monotonic() + retry_delay(attempt)
            card = offline_card(self.width, self.height, self._offline_since)
            while not self._stop.is_set() and time.monotonic() < retry_at:
                self._hand_over(of_image(self.next_seq(), card))
                self._stop.wait(1.0 / OFFLINE_FPS)
            if self._stop.is_set():
                break
            attempt += 1
            try:
                frames = self.open_frames()
                first = next(frames)
            except (SourceError, StopIteration) as exc:
                log.debug("reopening %s failed: %s", self.describe(), exc)
                continue
            return _chain(first, frames)
        return iter(())


def _chain(first: Captured, rest: Iterator[Captured]) -> Iterator[Captured]:
    yield first
    yield from rest
