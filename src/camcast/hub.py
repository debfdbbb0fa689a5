"""The frame hub: the newest frame from one source, the processing every output shares, the shutter.

Capture runs whether or not anyone watches; only the newest frame is kept, never a queue. Each frame
gets the shared processing (geometry, privacy masks) once, and is then handed to every subscriber
(the camera's renditions, which draw and encode only when someone wants their pictures). The hub
encodes nothing itself.

The privacy shutter lives here: :meth:`Hub.pause` closes the source at once (a camera's light goes
off) and the hub publishes a "paused" card until :meth:`Hub.resume` opens it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from camcast.errors import SourceError
from camcast.frames import DEFAULT_SIZE, Captured, Encoded, Frame, Source, of_image
from camcast.picture.draw import message_card
from camcast.picture.jpeg import pixels
from camcast.picture.steps import Step, apply
from camcast.rate import Rate

log = logging.getLogger(__name__)

Subscriber = Callable[[Captured], None]

#: Seconds between paused (or unavailable) cards: enough for a new viewer to see the state at once.
CARD_INTERVAL = 1.0
#: Seconds between attempts to reopen a source that failed to reopen after a pause.
RETRY_AFTER_PAUSE = 5.0


class Hub:
    """Latest-frame broadcast from one source to its subscribers. Run :meth:`run` as a task.

    ``reopen`` makes the source again after a pause (the shutter closes the device, so resuming opens
    it anew); ``process`` runs on every captured frame before any subscriber sees it (geometry, privacy
    masks), in the order given.
    """

    def __init__(
        self,
        source: Source,
        reopen: Callable[[], Source] | None = None,
        process: Sequence[Step] = (),
        name: str = "camera",
    ) -> None:
        self.name = name  # which camera, in log lines
        self.source = source
        self.reopen = reopen
        self.process = tuple(process)
        self.latest: Captured | None = None
        self.frames_in = 0
        self.rate_in = Rate()
        self.paused_since: float | None = None
        #: When the shutter last opened (epoch seconds): a frame from before is a paused card.
        self.resumed_at = 0.0
        self.dropped_by_processing = 0
        self._subscribers: list[Subscriber] = []
        self._seq = 0
        self._state_changed = asyncio.Event()
        self._capture: asyncio.Task[None] | None = None
        self._source_open = True  # the source given is open; run() closes it when it stops

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    @property
    def live(self) -> bool:
        """Capturing from a working source (not paused, not offline)."""
        return not self.paused and bool(getattr(self.source, "live", True))

    @property
    def state(self) -> str:
        """``live``, ``paused`` or ``offline``, as the status shows it."""
        return "paused" if self.paused else "live" if self.live else "offline"

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber`` on the event loop with every new processed frame (the newest at once)."""
        self._subscribers.append(subscriber)
        if self.latest is not None:
            subscriber(self.latest)

    # --- the privacy shutter -----------------------------------------------------------------------------
    def pause(self) -> None:
        """Close the source now (a camera's light goes off) and show a "paused" card until resumed."""
        if self.paused:
            return
        self.paused_since = time.time()
        log.warning("%s (%s) paused: the camera is closed and every output shows the paused card",
                    self.name, self.source.describe())  # fmt: skip
        if self._capture is not None:
            self._capture.cancel()
        self._state_changed.set()

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused_since = None
        self.resumed_at = time.time()
        log.warning("%s (%s) resumed: capturing again", self.name, self.source.describe())
        self._state_changed.set()

    # --- capture ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Capture until the source ends or the task is cancelled, publishing each frame. Run again
        after it failed (the supervisor), it opens the source anew."""
        fresh = self._source_open
        while True:
            if self.paused:
                await self._show_paused()
                continue
            if not fresh:
                if self.reopen is None:
                    return
                try:
                    self.source = await asyncio.to_thread(self.reopen)
                    self._source_open = True
                except SourceError as exc:
                    log.warning("%s: cannot reopen the source after the pause: %s; retrying", self.name, exc)
                    await self._show_card(["camera unavailable", str(exc)[:60]], RETRY_AFTER_PAUSE)
                    continue
            fresh = False
            self._capture = asyncio.create_task(self._read(self.source), name="camcast-capture")
            try:
                await asyncio.shield(self._capture)
            except asyncio.CancelledError:
                if not self.paused:
                    raise  # the hub itself is being stopped
            finally:
                if not self._capture.done():
                    self._capture.cancel()
                self._source_open = False
                await self.source.aclose()
            if not self.paused:
                return  # the source ended by itself

    async def _read(self, source: Source) -> None:
        async for frame in source:
            self.publish(frame)

    def publish(self, frame: Captured, *, process: bool = True) -> None:
        """Make ``frame`` the newest: renumber it in the hub's sequence, apply the shared processing
        (unless ``process`` is false: the hub's own cards), and hand it to every subscriber.

        A frame a step fails on is dropped, never passed on unprocessed: a mask must not be skipped. So
        is a camera's own H.264 frame that came without its pixels (its decoding starts at the next
        keyframe once processing is asked for).
        """
        if process and self.process:
            if isinstance(frame.payload, Encoded) and frame.payload.codec != "jpeg":
                return
            try:
                image = apply(self.process, pixels(frame), frame.wall)
            except Exception as exc:
                self.dropped_by_processing += 1
                if self.dropped_by_processing in (1, 100) or self.dropped_by_processing % 10000 == 0:
                    log.error(
                        "%s: frame processing failed (%s); frames are dropped until it works", self.name, exc
                    )
                return
            frame = Frame(frame.seq, frame.time, frame.wall, image.width, image.height, image)  # no packet
        self._seq += 1
        newest: Captured = Frame(
            self._seq, frame.time, frame.wall, frame.width, frame.height, frame.payload, frame.packet
        )
        self.latest = newest
        self.frames_in += 1
        self.rate_in.tick(frame.time)
        for subscriber in self._subscribers:
            subscriber(newest)

    async def _show_paused(self) -> None:
        since = time.strftime("%H:%M:%S", time.localtime(self.paused_since or time.time()))
        await self._show_card(["paused by the owner", f"since {since}"], None)

    async def _show_card(self, lines: list[str], seconds: float | None) -> None:
        """Publish a message card once a second until the state changes (or ``seconds`` pass). The
        card has the size of the processed pictures and is not processed again."""
        width, height = (self.latest.width, self.latest.height) if self.latest else DEFAULT_SIZE
        card = message_card(width, height, lines)
        self._state_changed.clear()
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            self.publish(of_image(0, card), process=False)
            try:
                await asyncio.wait_for(self._state_changed.wait(), CARD_INTERVAL)
                return
            except TimeoutError:
                continue
