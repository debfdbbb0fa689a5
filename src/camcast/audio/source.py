"""The sound a camera's source carries: a video file's or an RTSP camera's audio track.

The source's reader thread decodes it with the pictures (:class:`~camcast.sources.media.MediaSource`,
resampled to 48 kHz mono) and stamps each chunk on the clock its pictures are placed by, so a file's
or a camera's own sync is kept; :meth:`SourceSound.take` hands the chunks to the event loop, and
:meth:`SourceSound.take_packet` the packets as they came, for the outputs that pass them through. Its
state is ``on`` while chunks come, ``waiting`` while none has for :data:`QUIET` seconds (a source
without sound now, or offline), ``silenced`` while the shutter is closed (the source is closed then).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from camcast.frames import AudioFormat, AudioPacket, Chunk, dbfs

#: Seconds without a chunk after which the sound is said to be waiting.
QUIET = 2.0


class SourceSound:
    """The sound of ``source`` (its description) for camera ``camera``."""

    def __init__(
        self, camera: str, source: str, paused: Callable[[], bool], format: AudioFormat | None = None
    ) -> None:
        self.camera = camera
        self.device = f"the sound of {source}"
        self.paused = paused
        #: The source's sound as it was when the camera was set up (None: not known, or not a format
        #: an output carries as it is): the renditions of its codec pass its packets through.
        self.format = format
        self.deliver: Callable[[Chunk], None] = lambda chunk: None
        self.deliver_packet: Callable[[AudioPacket, AudioFormat], None] = lambda packet, format: None
        self.state = "off"
        self.level: float | None = None
        self.samples = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last = 0.0

    @property
    def part(self) -> str:
        return f"{self.camera}: sound"

    async def run(self) -> None:
        """Take the source's chunks until cancelled, keeping the state current."""
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                if self.paused():
                    self.state, self.level = "silenced", None
                elif time.monotonic() - self._last > QUIET:
                    self.state, self.level = "waiting", None
                await asyncio.sleep(0.5)
        finally:
            self._loop = None
            self.state, self.level = "off", None

    def take(self, chunk: Chunk) -> None:
        """A chunk from the source's reader thread."""
        loop = self._loop
        if loop is None or self.paused():
            return
        self._last = time.monotonic()
        self.state, self.level = "on", dbfs(chunk.samples)
        self.samples += len(chunk.samples)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens any more
            loop.call_soon_threadsafe(self.deliver, chunk)

    def take_packet(self, packet: AudioPacket, format: AudioFormat) -> None:
        """A packet of the source's sound as it came, and its format, from the reader thread."""
        loop = self._loop
        if loop is None or self.paused():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self.deliver_packet, packet, format)
