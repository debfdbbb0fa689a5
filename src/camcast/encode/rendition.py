"""A rendition: one distinct picture of a camera, encoded once per frame for every output that shows it.

A rendition is a set of drawing steps (caption, logo, LIVE badge) plus one encoder in one thread plus
its listeners. It *receives* the hub's processed frames (newest only, never a queue) and does nothing
with them until someone wants them: while at least one listener (a live stream) is attached, each new
frame is drawn and encoded once, in the rendition's thread, and the same encoded frame is handed to
every listener; a snapshot asks for the newest frame's encoding and shares it if it already exists.
If encoding falls behind the capture rate, frames captured meanwhile are skipped, not queued.

Outputs that draw the same thing share one rendition (the camera decides which, by what they draw),
so a frame is encoded at most once per distinct picture. A camera's own JPEG with nothing drawn on it
is passed through without decoding or encoding, and so is a source's own H.264 (``Frame.packet``).

A source that sends H.264 decodes it only while some rendition wants pixels (:attr:`wants_pixels`:
it has listeners, or made a snapshot lately); meanwhile frames that carry only the packet are ignored
by the renditions that cannot use them, and a snapshot waits for the next decoded frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from camcast.errors import SourceError
from camcast.frames import Captured, Encoded, EncodedFrame, Frame, Yuv420
from camcast.picture.jpeg import pixels
from camcast.picture.steps import Step, apply
from camcast.rate import Rate
from camcast.runtime.worker import Worker

log = logging.getLogger(__name__)

Listener = Callable[[EncodedFrame], None]

#: Seconds a snapshot waits for a frame before giving up (a camera that opened but never sends, or an
#: H.264 source whose decoding starts at its next keyframe).
FIRST_FRAME_TIMEOUT = 10.0
#: Seconds after a snapshot during which a rendition still wants pixels, so that snapshots polled every
#: few seconds (a page's image refresh, the publisher) find a decoded frame at once.
PIXELS_WANTED_AFTER_SNAPSHOT = 30.0
#: With drop_same_frames, an unchanged picture is still sent this often (seconds), like µStreamer's
#: --drop-same-frames, so viewers can tell a still scene from a dead stream.
SAME_FRAME_EVERY = 1.0
#: Encodes of distinct frames waiting for the rendition's thread: the stream's one, and snapshots of
#: other frames asked for at once. Past it a snapshot is refused ("the encoder is behind"): 8 pictures
#: of 1280x720 are 11 MB, the most an overloaded encoder holds.
ENCODE_QUEUE = 8


class Encoder(Protocol):
    """Turns pictures into one codec's bytes; called from one thread only, frames in order."""

    codec: str

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The size a ``width`` x ``height`` picture comes out at (a rendition for phones is smaller)."""
        ...

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
        self.encode_seconds = 0.0  # time spent drawing and encoding, in the rendition's thread
        self.same_frames_dropped = 0
        self.rate_encode = Rate()
        self.rate_out = Rate()
        self._arrived = asyncio.Event()
        self._usable = asyncio.Event()  # set while ``latest`` is a frame this rendition can make
        self._pixels_wanted_until = 0.0
        self._seen = (0, 0)  # the size of the newest frame received
        self._sent_seq = 0  # the hub's number of the last frame sent to the listeners
        self._in_chain = False  # the last frame sent was the source's own H.264, with nothing lost before
        self._encoding: tuple[int, asyncio.Future[EncodedFrame]] | None = None
        self._last_sent: tuple[bytes, float] = (b"", 0.0)
        # One thread, so frames are encoded in order and an encoder's state (stripes) stays in it.
        self._worker = Worker(name, ENCODE_QUEUE, when_full="refuse")

    # --- input -----------------------------------------------------------------------------------------
    def receive(self, frame: Captured) -> None:
        """Take ``frame`` as the newest (called by the hub on the event loop; costs no work)."""
        self._seen = (frame.width, frame.height)
        if not self.can_make(frame):
            self.latest = None  # an H.264 packet without its pixels: wait for a decoded frame
            self._usable.clear()
            return
        self.latest = frame
        self._usable.set()
        self._arrived.set()

    def can_make(self, frame: Captured) -> bool:
        """Whether this rendition can make its picture of ``frame``: pixels, a JPEG (which decodes on
        its own), or the source's own packet in this rendition's codec with nothing to draw."""
        payload = frame.payload
        if not isinstance(payload, Encoded) or payload.codec == "jpeg":
            return True
        return self._passed_through(frame) is not None

    def _passed_through(self, frame: Captured) -> Encoded | None:
        """The source's own encoding of ``frame`` when this rendition sends it untouched."""
        if self.steps or self.encoder.size_for(frame.width, frame.height) != (frame.width, frame.height):
            return None
        for own in (frame.payload, frame.packet):
            if isinstance(own, Encoded) and own.codec == self.encoder.codec:
                return own
        return None

    @property
    def size(self) -> tuple[int, int] | None:
        """The size of this rendition's pictures now, or None before the first frame."""
        return self.encoder.size_for(*self._seen) if self._seen != (0, 0) else None

    @property
    def makes_pictures(self) -> bool:
        """Whether this rendition encodes pictures of its own from pixels, rather than sending a
        source's H.264 packets as they are: it draws, resizes, or is not H.264."""
        resizes = self.encoder.size_for(*self._seen) != self._seen
        return self.encoder.codec != "h264" or bool(self.steps) or resizes

    @property
    def wants_pixels(self) -> bool:
        """Whether this rendition needs decoded pictures now (see the module docstring)."""
        return bool(self.listeners) or time.monotonic() < self._pixels_wanted_until

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
        self._pixels_wanted_until = time.monotonic() + PIXELS_WANTED_AFTER_SNAPSHOT
        try:
            async with asyncio.timeout(wait):
                while self.latest is None:
                    await self._usable.wait()
        except TimeoutError:
            raise SourceError(f"no picture arrived in {wait:g} s") from None
        return await self.encode(self.latest)

    async def run(self) -> None:
        """Encode each new frame for the listeners while there are any; until cancelled (and again
        after that: the rendition is closed by :meth:`close` alone)."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            frame = self.latest
            if frame is None or not self.listeners:
                continue
            try:
                encoded = await self.encode(frame)
            except EncoderBehind:
                continue  # the newest frame is taken when the encoder has room
            except Exception:  # a frame that cannot be drawn or encoded is skipped, not fatal
                log.exception("%s: frame %d could not be encoded", self.name, frame.seq)
                continue
            if self._follows(frame, encoded):
                self._broadcast(encoded)

    def _follows(self, frame: Captured, encoded: EncodedFrame) -> bool:
        """Whether ``encoded`` may go to the listeners after what they got: a source's own H.264 packet
        needs every packet since its keyframe, so after one was lost or skipped (or after pictures of
        this rendition's own encoder, such as the paused card) nothing is sent until a keyframe."""
        packet = encoded.payload
        own = packet.codec == "h264" and packet is frame.packet
        follows = frame.seq == self._sent_seq + 1 and self._in_chain and not packet.after_gap
        if own and not (packet.keyframe or follows):
            return False
        self._sent_seq, self._in_chain = frame.seq, own
        return True

    def close(self) -> None:
        """End the encoder thread (pending encodes are cancelled); the rendition is not used again."""
        self._worker.close(drain=False)

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
        fut: asyncio.Future[EncodedFrame]
        own = self._passed_through(frame)
        if own is not None:
            # A camera's own picture with nothing to draw on it: passed through as it is.
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(Frame(frame.seq, frame.time, frame.wall, frame.width, frame.height, own))
        else:
            fut = asyncio.ensure_future(self._encode(frame))
        self._encoding = (frame.seq, fut)
        return await asyncio.shield(fut)

    async def _encode(self, frame: Captured) -> EncodedFrame:
        # The steps go with the job: a reload swapping them never changes a picture being drawn.
        job = self._worker.submit(self._draw_and_encode, frame, self.steps)
        if job is None:
            raise EncoderBehind(f"{self.name}: the encoder is {ENCODE_QUEUE} pictures behind; try again")
        encoded: EncodedFrame = await job
        self.frames_encoded += 1
        self.rate_encode.tick(time.monotonic())
        return encoded

    def _draw_and_encode(self, frame: Captured, steps: tuple[Step, ...]) -> EncodedFrame:
        """In the rendition's thread: draw ``steps`` on the picture, then encode it."""
        payload = frame.payload
        if steps:
            image = apply(steps, pixels(frame), frame.wall)
        elif isinstance(payload, Encoded):
            image = pixels(frame)
        else:
            image = payload  # encoders only read their input
        started = time.perf_counter()
        encoded = self.encoder.encode(image)
        self.encode_seconds += time.perf_counter() - started
        width, height = self.encoder.size_for(image.width, image.height)
        return Frame(frame.seq, frame.time, frame.wall, width, height, encoded)


class EncoderBehind(SourceError):
    """More encodes wait for the rendition's thread than :data:`ENCODE_QUEUE`."""
