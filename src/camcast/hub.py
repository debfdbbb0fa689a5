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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from camcast import jpeg
from camcast.errors import SourceError
from camcast.frames import Frame, JpegFrame
from camcast.privacy import Step
from camcast.sources import Source

log = logging.getLogger(__name__)

Listener = Callable[[JpegFrame], None]

#: Seconds a snapshot waits for the first frame before giving up (a camera that opened but never sends).
FIRST_FRAME_TIMEOUT = 10.0
#: Seconds between paused (or unavailable) cards: enough for a new viewer to see the state at once.
CARD_INTERVAL = 1.0
#: With drop_same_frames, an unchanged picture is still sent this often (seconds), like µStreamer's
#: --drop-same-frames, so viewers can tell a still scene from a dead stream.
SAME_FRAME_EVERY = 1.0
#: Seconds between attempts to reopen a source that failed to reopen after a pause.
RETRY_AFTER_PAUSE = 5.0


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
    """Latest-frame broadcast from one source to many outputs. Run :meth:`run` as a task.

    ``reopen`` makes the source again after a pause (the privacy shutter closes the device, so resuming
    opens it anew); ``process`` runs on every raw frame before anything can encode it (privacy masks,
    the on-air badge), in the order given.
    """

    def __init__(
        self,
        source: Source,
        quality: int,
        reopen: Callable[[], Source] | None = None,
        process: Sequence[Step] = (),
        drop_same_frames: bool = False,
    ) -> None:
        self.source = source
        self.quality = quality
        self.reopen = reopen
        self.process = tuple(process)
        self.latest: Frame | None = None
        self.frames_in = 0
        self.frames_encoded = 0
        self.rate_in = Rate()
        self.rate_encode = Rate()
        self.paused_since: float | None = None
        self.dropped_by_processing = 0
        self.drop_same_frames = drop_same_frames
        self._seq = 0
        self._new_frame = asyncio.Event()
        self._state_changed = asyncio.Event()
        self._capture: asyncio.Task[None] | None = None
        # One thread, so frames are encoded in order and each stripe encoder's state stays in it.
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camcast-encode")
        self.main = Output(self, (), quality, drop_same_frames)
        self.outputs: list[Output] = [self.main]

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    @property
    def live(self) -> bool:
        """Capturing from a working source (not paused, not offline)."""
        return not self.paused and bool(getattr(self.source, "live", True))

    # --- the privacy shutter -----------------------------------------------------------------------------
    def pause(self) -> None:
        """Close the source now (a camera's light goes off) and show a "paused" card until resumed."""
        if self.paused:
            return
        self.paused_since = time.time()
        log.warning("paused: the camera is closed and every output shows the paused card")
        if self._capture is not None:
            self._capture.cancel()
        self._state_changed.set()

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused_since = None
        log.warning("resumed: capturing again")
        self._state_changed.set()

    # --- capture ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Capture until the source ends or the task is cancelled, publishing each frame to listeners."""
        broadcaster = asyncio.create_task(self._broadcast(), name="camcast-broadcast")
        fresh = True  # the source given to __init__ is open already
        try:
            while True:
                if self.paused:
                    await self._show_paused()
                    continue
                if not fresh:
                    if self.reopen is None:
                        return
                    try:
                        self.source = await asyncio.to_thread(self.reopen)
                    except SourceError as exc:
                        log.warning("cannot reopen the source after the pause: %s; retrying", exc)
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
                    await self.source.aclose()
                if not self.paused:
                    return  # the source ended by itself
        finally:
            broadcaster.cancel()
            self._encoder.shutdown(wait=False, cancel_futures=True)

    async def _read(self, source: Source) -> None:
        async for frame in source:
            self.publish(frame)

    def publish(self, frame: Frame) -> None:
        """Make ``frame`` the newest: renumber it in the hub's sequence and apply ``process``.

        A frame a step fails on is dropped, never passed on unprocessed: a mask must not be skipped.
        """
        if self.process:
            # Decode a camera's JPEG if need be; never write into a source's own buffer.
            if frame.image is None:
                assert frame.jpeg is not None
                image = jpeg.decode_yuv(frame.jpeg)
            else:
                image = frame.image.copy()
            try:
                for step in self.process:
                    image = step(image, frame.wall)
            except Exception as exc:
                self.dropped_by_processing += 1
                if self.dropped_by_processing in (1, 100) or self.dropped_by_processing % 10000 == 0:
                    log.error("frame processing failed (%s); frames are dropped until it works", exc)
                return
            frame = Frame(frame.seq, frame.time, frame.wall, image.width, image.height, image)
        self._seq += 1
        self.latest = replace(frame, seq=self._seq)
        self.frames_in += 1
        self.rate_in.tick(frame.time)
        self._new_frame.set()

    async def _show_paused(self) -> None:
        since = time.strftime("%H:%M:%S", time.localtime(self.paused_since or time.time()))
        await self._show_card(["paused by the owner", f"since {since}"], None)

    async def _show_card(self, lines: list[str], seconds: float | None) -> None:
        """Publish a message card once a second until the state changes (or ``seconds`` pass)."""
        from camcast.sources.pattern import message_card

        width, height = (self.latest.width, self.latest.height) if self.latest else (1280, 720)
        card = message_card(width, height, lines)
        self._state_changed.clear()
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            self.publish(Frame.of_image(0, card))
            try:
                await asyncio.wait_for(self._state_changed.wait(), CARD_INTERVAL)
                return
            except TimeoutError:
                continue

    async def _broadcast(self) -> None:
        while True:
            await self._new_frame.wait()
            self._new_frame.clear()
            frame = self.latest
            if frame is None:
                continue
            for output in self.outputs:
                if output.listeners:
                    await output.broadcast(frame)

    # --- outputs ---------------------------------------------------------------------------------------
    def output(self, steps: Sequence[Step] = ()) -> Output:
        """An output with ``steps`` of its own on top of the shared processing (e.g. a caption only on
        published pictures); without steps, the main output. Each output encodes each frame once."""
        if not steps:
            return self.main
        output = Output(self, steps, self.quality, self.drop_same_frames)
        self.outputs.append(output)
        return output

    # The main output's interface, for outputs that need no steps of their own.
    def add_listener(self, listener: Listener) -> None:
        self.main.add_listener(listener)

    def remove_listener(self, listener: Listener) -> None:
        self.main.remove_listener(listener)

    @property
    def last_encoded(self) -> JpegFrame | None:
        return self.main.last_encoded

    async def snapshot(self) -> JpegFrame:
        return await self.main.snapshot()

    async def latest_frame(self) -> Frame:
        """The newest processed frame, waiting up to FIRST_FRAME_TIMEOUT for the first one."""
        deadline = time.monotonic() + FIRST_FRAME_TIMEOUT
        while self.latest is None:
            if time.monotonic() > deadline:
                raise SourceError(f"{self.source.describe()} sent no frame in {FIRST_FRAME_TIMEOUT:g} s")
            await asyncio.sleep(0.01)
        return self.latest

    async def run_encoder(self, encoder: jpeg.StripeEncoder, frame: Frame) -> bytes:
        """Encode ``frame`` in the hub's one encoder thread (frames in order, encoder state in it)."""
        assert frame.image is not None
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(self._encoder, encoder.encode, frame.image)
        self.frames_encoded += 1
        self.rate_encode.tick(time.monotonic())
        return data


class Output:
    """One kind of picture the outputs share: the hub's processed frames, with ``steps`` of its own
    applied on top, each frame encoded at most once and handed to every listener (latest-frame
    broadcast, never a queue). A snapshot reuses the newest encoding or makes it."""

    def __init__(self, hub: Hub, steps: Sequence[Step], quality: int, drop_same_frames: bool) -> None:
        self.hub = hub
        self.steps = tuple(steps)
        self.drop_same_frames = drop_same_frames
        self.listeners: list[Listener] = []
        self.same_frames_dropped = 0
        self.rate_out = Rate()
        self._stripes = jpeg.StripeEncoder(quality)
        self._encoding: tuple[int, asyncio.Future[JpegFrame]] | None = None
        self._prepared: Frame | None = None
        self._last_broadcast: tuple[bytes, float] = (b"", 0.0)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` on the event loop with each new encoded frame, until removed."""
        self.listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self.listeners.remove(listener)

    def prepare(self, frame: Frame) -> Frame:
        """``frame`` with this output's steps applied (once per frame)."""
        if not self.steps:
            return frame
        if self._prepared is not None and self._prepared.seq == frame.seq:
            return self._prepared
        if frame.image is None:
            assert frame.jpeg is not None
            image = jpeg.decode_yuv(frame.jpeg)
        else:
            image = frame.image.copy()
        for step in self.steps:
            image = step(image, frame.wall)
        self._prepared = replace(frame, image=image, jpeg=None, width=image.width, height=image.height)
        return self._prepared

    async def broadcast(self, raw: Frame) -> None:
        encoded = await self.encode(self.prepare(raw))
        now = time.monotonic()
        if self.drop_same_frames:
            last_data, last_at = self._last_broadcast
            # The stripe encoder returns the very same bytes for an unchanged picture; a camera's
            # own JPEG compares equal. Still send one a second so viewers know the stream is alive.
            if (encoded.data is last_data or encoded.data == last_data) and now - last_at < SAME_FRAME_EVERY:
                self.same_frames_dropped += 1
                return
            self._last_broadcast = (encoded.data, now)
        self.rate_out.tick(now)
        for listener in tuple(self.listeners):
            try:
                listener(encoded)
            except Exception:  # one broken output must not stop the others
                log.exception("output %r failed on frame %d", listener, encoded.seq)

    @property
    def last_encoded(self) -> JpegFrame | None:
        """The newest finished encoding, which may be older than the hub's newest frame."""
        if self._encoding is None:
            return None
        fut = self._encoding[1]
        if not fut.done() or fut.cancelled() or fut.exception() is not None:
            return None
        return fut.result()

    async def snapshot(self) -> JpegFrame:
        """The newest frame as JPEG, encoding it now unless it already was."""
        return await self.encode(self.prepare(await self.hub.latest_frame()))

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
        return _jpeg_frame(frame, await self.hub.run_encoder(self._stripes, frame))


def _jpeg_frame(frame: Frame, data: bytes) -> JpegFrame:
    return JpegFrame(frame.seq, frame.time, frame.wall, frame.width, frame.height, data)
