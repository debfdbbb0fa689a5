"""The frame hub: keeps the newest frame from the source and encodes each frame at most once.

Capture runs whether or not anyone watches; only the newest frame is kept, never a queue. Encoding
happens only on demand: while at least one listener (a live stream) is attached, each new frame is
encoded once, in one worker thread, and the same :class:`JpegFrame` is handed to every listener; a
snapshot asks for the newest frame's encoding and shares it if it already exists. If encoding falls
behind the capture rate, frames captured meanwhile are skipped, not queued. With no listener and no
snapshot request, nothing is encoded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from camcast import jpeg
from camcast.errors import SourceError
from camcast.frames import Frame, JpegFrame
from camcast.sources import Source

log = logging.getLogger(__name__)

Listener = Callable[[JpegFrame], None]

#: Seconds a snapshot waits for the first frame before giving up (a camera that opened but never sends).
FIRST_FRAME_TIMEOUT = 10.0


class Rate:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()

    def per_second(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(now - self._times[0], 1e-6)


class Hub:
    """Latest-frame broadcast from one source to many outputs. Run :meth:`run` as a task."""

    def __init__(self, source: Source, quality: int) -> None:
        self.source = source
        self.quality = quality
        self.latest: Frame | None = None
        self.frames_in = 0
        self.frames_encoded = 0
        self.frames_out = 0
        self.rate_in = Rate()
        self.rate_out = Rate()
        self.rate_encode = Rate()
        self._listeners: list[Listener] = []
        self._new_frame = asyncio.Event()
        self._encoding: tuple[int, asyncio.Future[JpegFrame]] | None = None
        # One thread, so frames are encoded in order and the stripe encoder's state stays in it.
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camcast-encode")
        self._stripes = jpeg.StripeEncoder(quality)

    # --- capture ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Read the source until it ends or the task is cancelled; publish each frame to listeners."""
        broadcaster = asyncio.create_task(self._broadcast(), name="camcast-broadcast")
        try:
            async for frame in self.source:
                self.latest = frame
                self.frames_in += 1
                self.rate_in.tick(frame.time)
                self._new_frame.set()
        finally:
            broadcaster.cancel()
            await self.source.aclose()
            self._encoder.shutdown(wait=False, cancel_futures=True)

    async def _broadcast(self) -> None:
        while True:
            await self._new_frame.wait()
            self._new_frame.clear()
            frame = self.latest
            if not self._listeners or frame is None:
                continue
            encoded = await self.encode(frame)
            self.frames_out += 1
            self.rate_out.tick(time.monotonic())
            for listener in tuple(self._listeners):
                try:
                    listener(encoded)
                except Exception:  # one broken output must not stop the others
                    log.exception("output %r failed on frame %d", listener, encoded.seq)

    # --- outputs ---------------------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` on the event loop with each new encoded frame, until removed."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    @property
    def last_encoded(self) -> JpegFrame | None:
        """The newest finished encoding, which may be older than :attr:`latest`."""
        if self._encoding is None:
            return None
        fut = self._encoding[1]
        if not fut.done() or fut.cancelled() or fut.exception() is not None:
            return None
        return fut.result()

    async def snapshot(self) -> JpegFrame:
        """The newest frame as JPEG, encoding it now unless it already was."""
        deadline = time.monotonic() + FIRST_FRAME_TIMEOUT
        while self.latest is None:
            if time.monotonic() > deadline:
                raise SourceError(f"{self.source.describe()} sent no frame in {FIRST_FRAME_TIMEOUT:g} s")
            await asyncio.sleep(0.01)
        return await self.encode(self.latest)

    async def encode(self, frame: Frame) -> JpegFrame:
        """The encoding of ``frame``, shared with any caller that asks for the same frame.

        A caller that is cancelled while waiting (a viewer who left) does not cancel the encoding the
        others are waiting for.
        """
        if self._encoding is not None and self._encoding[0] == frame.seq:
            return await asyncio.shield(self._encoding[1])
        fut: asyncio.Future[JpegFrame]
        if frame.jpeg is not None:  # passed through from the camera: nothing to encode
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(_jpeg_frame(frame, frame.jpeg))
        else:
            fut = asyncio.ensure_future(self._encode(frame))
        self._encoding = (frame.seq, fut)
        return await asyncio.shield(fut)

    async def _encode(self, frame: Frame) -> JpegFrame:
        assert frame.image is not None
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(self._encoder, self._stripes.encode, frame.image)
        self.frames_encoded += 1
        self.rate_encode.tick(time.monotonic())
        return _jpeg_frame(frame, data)


def _jpeg_frame(frame: Frame, data: bytes) -> JpegFrame:
    return JpegFrame(frame.seq, frame.time, frame.wall, frame.width, frame.height, data)
