"""A rendition: one distinct picture of a camera, encoded once per frame for every output that shows it.

A rendition is a set of drawing steps (caption, logo, LIVE badge) plus one encoder in one thread plus
its listeners. It *receives* the hub's processed frames (newest only, never a queue) and does nothing
with them until someone wants them: while at least one listener (a live stream) is attached, each new
frame is drawn and encoded once, in the rendition's thread, and the same encoded frame is handed to
every listener; a snapshot asks for the newest frame's encoding and shares it if it already exists.
If encoding falls behind the capture rate, frames captured meanwhile are skipped, not queued.

Outputs that draw the same thing share one rendition (the camera decides which, by what they draw),
so a frame is encoded at most once per distinct picture. A camera's own JPEG with nothing drawn on it
is passed through without decoding or encoding.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from camcast.errors import SourceError
from camcast.frames import Captured, Encoded, EncodedFrame, Frame, Yuv420
from camcast.hub import Rate, pixels
from camcast.picture.steps import Step, apply

log = logging.getLogger(__name__)

Listener = Callable[[EncodedFrame], None]

#: Seconds a snapshot waits for the first frame before giving up (a camera that opened but never sends).
FIRST_FRAME_TIMEOUT = 10.0
#: With drop_same_frames, an unchanged picture is still sent this often (seconds), like µStreamer's
#: --drop-same-frames, so viewers can tell a still scene from a dead stream.
SAME_FRAME_EVERY = 1.0


class Encoder(Protocol):
    """Turns pictures into one codec's bytes; called from one thread only, frames in order."""

    codec: str

    def encode(self, image: Yuv420) -> Encoded: ...


class Rendition:
    """See the module docstring. Run :meth:`run` as a task; feed it with :meth:`receive`."""

    def __init__(
        self,
        encoder: Encoder,
        steps: Sequence[Step] = (),
        *,
        drop_same_frames: bool = False,
        name: str = "rendition",
    ) -> None:
        self.encoder = encoder
        self.steps = tuple(steps)
        self.drop_same_frames = drop_same_frames
        self.name = name
        self.listeners: list[Listener] = []
        self.latest: Captured | None = None
        self.frames_encoded = 0
        self.same_frames_dropped = 0
        self.rate_encode = Rate()
        self.rate_out = Rate()
        self._arrived = asyncio.Event()
        self._first = asyncio.Event()
        self._encoding: tuple[int, asyncio.Future[EncodedFrame]] | None = None
        self._last_sent: tuple[bytes, float] = (b"", 0.0)
        # One thread, so frames are encoded in order and an encoder's state (stripes) stays in it.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"camcast-{name}")

    # --- input -----------------------------------------------------------------------------------------
    def receive(self, frame: Captured) -> None:
        """Take ``frame`` as the newest (called by the hub on the event loop; costs no work)."""
        self.latest = frame
        self._first.set()
        self._arrived.set()

    # --- output ----------------------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` on the event loop with each new encoded frame, until removed."""
        self.listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self.listeners.remove(listener)

    @property
    def last_encoded(self) -> EncodedFrame | None:
        """The newest finished encoding, which may be older than the newest frame."""
        if self._encoding is None:
            return None
        fut = self._encoding[1]
        if not fut.done() or fut.cancelled() or fut.exception() is not None:
            return None
        return fut.result()

    async def snapshot(self, wait: float = FIRST_FRAME_TIMEOUT) -> EncodedFrame:
        """The newest frame, encoded now unless it already was; waits up to ``wait`` seconds for the
        first frame."""
        if self.latest is None:
            try:
                async with asyncio.timeout(wait):
                    await self._first.wait()
            except TimeoutError:
                raise SourceError(f"no picture arrived in {wait:g} s") from None
        assert self.latest is not None
        return await self.encode(self.latest)

    async def run(self) -> None:
        """Encode each new frame for the listeners while there are any; until cancelled."""
        try:
            while True:
                await self._arrived.wait()
                self._arrived.clear()
                frame = self.latest
                if frame is None or not self.listeners:
                    continue
                try:
                    encoded = await self.encode(frame)
                except Exception:  # a frame that cannot be drawn or encoded is skipped, not fatal
                    log.exception("%s: frame %d could not be encoded", self.name, frame.seq)
                    continue
                self._broadcast(encoded)
        finally:
            self.close()

    def close(self) -> None:
        """End the encoder thread (pending encodes are cancelled); the rendition is not used again."""
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _broadcast(self, encoded: EncodedFrame) -> None:
        now = time.monotonic()
        if self.drop_same_frames:
            last_data, last_at = self._last_sent
            # The stripe encoder returns the very same bytes for an unchanged picture; a camera's
            # own JPEG compares equal. Still send one a second so viewers know the stream is alive.
            data = encoded.payload.data
            if (data is last_data or data == last_data) and now - last_at < SAME_FRAME_EVERY:
                self.same_frames_dropped += 1
                return
            self._last_sent = (data, now)
        self.rate_out.tick(now)
        for listener in tuple(self.listeners):
            try:
                listener(encoded)
            except Exception:  # one broken output must not stop the others
                log.exception("%s: listener %r failed on frame %d", self.name, listener, encoded.seq)

    async def encode(self, frame: Captured) -> EncodedFrame:
        """The encoding of ``frame``, shared with any caller that asks for the same frame.

        A caller that is cancelled while waiting (a viewer who left) does not cancel the encoding the
        others are waiting for.
        """
        if self._encoding is not None and self._encoding[0] == frame.seq:
            return await asyncio.shield(self._encoding[1])
        payload = frame.payload
        fut: asyncio.Future[EncodedFrame]
        if isinstance(payload, Encoded) and payload.codec == self.encoder.codec and not self.steps:
            # A camera's own picture with nothing to draw on it: passed through as it is.
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(Frame(frame.seq, frame.time, frame.wall, frame.width, frame.height, payload))
        else:
            fut = asyncio.ensure_future(self._encode(frame))
        self._encoding = (frame.seq, fut)
        return await asyncio.shield(fut)

    async def _encode(self, frame: Captured) -> EncodedFrame:
        loop = asyncio.get_running_loop()
        encoded = await loop.run_in_executor(self._thread, self._draw_and_encode, frame)
        self.frames_encoded += 1
        self.rate_encode.tick(time.monotonic())
        return encoded

    def _draw_and_encode(self, frame: Captured) -> EncodedFrame:
        """In the rendition's thread: draw the steps on the picture, then encode it."""
        payload = frame.payload
        if self.steps:
            image = apply(self.steps, pixels(frame), frame.wall)
        elif isinstance(payload, Encoded):
            image = pixels(frame)
        else:
            image = payload  # encoders only read their input
        encoded = self.encoder.encode(image)
        return Frame(frame.seq, frame.time, frame.wall, image.width, image.height, encoded)
