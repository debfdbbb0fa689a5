"""Audio encoded once per codec, for every output that carries that codec.

An :class:`AudioRendition` is to sound what :class:`~camcast.encode.rendition.Rendition` is to
pictures: one encoder, its listeners, and no work while nobody listens. The camera's
:class:`~camcast.audio.sound.Sound` hands it each chunk while it has listeners; the encoder's packets
go to every listener in order. Unlike a picture's, a chunk is encoded on the event loop: 20 ms of
mono costs Opus or AAC under 0.1 ms (bench/audio.py), and handing each chunk to a thread and its
packets back cost the server more than the encoding itself (+4.5 to +6.0% of a core for a camera's
sound with an encoder thread per codec, +2.8 to +3.3% without; bench/audio.py, one run).

Times: packets are stamped on the inputs' monotonic clock. The encoder counts samples (its ``pts``);
an *anchor* ties a sample count to a monotonic time, and a new one is taken when a chunk arrives
further than :data:`REANCHOR` from where the count says it should (the input paused, was reopened, or
its clock drifted), so a packet's time is never off by more than that. AAC's encoder delay (its first
packet is 1024 samples of priming) comes out as a first packet stamped that much earlier, which is
where a decoder's first real sample then lands.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
import numpy as np

from camcast.frames import RATE, AudioPacket, Chunk
from camcast.runtime.health import HEALTH

log = logging.getLogger(__name__)

AudioListener = Callable[[AudioPacket], None]

#: Seconds a chunk may arrive early or late against the samples counted before it a new anchor is
#: taken: well under what a viewer notices (40 ms), well over an ALSA period's jitter.
REANCHOR = 0.02
#: Bits per second: Opus at 32k is transparent for speech and a room's sound in mono; AAC-LC needs
#: about twice that for the same.
BITRATES = {"opus": 32_000, "aac": 64_000}
#: FFmpeg's encoder for each codec, and the sample format it takes.
_CODECS = {"opus": ("libopus", "s16"), "aac": ("aac", "fltp")}


class AudioEncoder:
    """Mono PCM chunks in, ``codec`` packets out (blocking; one thread, chunks in order)."""

    def __init__(self, codec: str) -> None:
        name, self._format = _CODECS[codec]
        self.codec = codec
        context = av.CodecContext.create(name, "w")
        assert isinstance(context, av.AudioCodecContext)
        self._context = context
        self._context.sample_rate = RATE
        self._context.layout = "mono"
        self._context.format = self._format
        self._context.bit_rate = BITRATES[codec]
        self._context.time_base = Fraction(1, RATE)
        self._context.open()
        self.frame_size = self._context.frame_size or 960
        self._pending = np.zeros(0, np.int16)
        self._pts = 0  # samples given to the encoder so far (and the pending ones' first)
        self._anchors: list[tuple[int, float]] = []  # (sample count, monotonic time), in order

    @property
    def extradata(self) -> bytes:
        """The decoder's configuration (AAC's AudioSpecificConfig, Opus's header)."""
        return bytes(self._context.extradata or b"")

    def encode(self, chunk: Chunk) -> list[AudioPacket]:
        """The packets ``chunk`` completes (none, one or more)."""
        expected = self.time_of(self._pts + len(self._pending)) if self._anchors else None
        if expected is None or abs(chunk.time - expected) > REANCHOR:
            self._anchors.append((self._pts + len(self._pending), chunk.time))
        self._pending = np.concatenate((self._pending, chunk.samples))
        packets: list[AudioPacket] = []
        size = self.frame_size
        while len(self._pending) >= size:
            samples, self._pending = self._pending[:size], self._pending[size:]
            packets += self._packets(self._context.encode(self._frame(samples)))
        self._forget_anchors()
        return packets

    def _frame(self, samples: np.ndarray) -> av.AudioFrame:
        if self._format == "fltp":
            data = (samples.astype(np.float32) / 32768.0).reshape(1, -1)
        else:
            data = samples.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format=self._format, layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = Fraction(1, RATE)
        self._pts += len(samples)
        return frame

    def _packets(self, packets: list[av.Packet[Any]]) -> list[AudioPacket]:
        out = []
        for packet in packets:
            pts = packet.pts if packet.pts is not None else self._pts
            samples = packet.duration or self.frame_size
            out.append(AudioPacket(self.codec, bytes(packet), self.time_of(pts), samples))
        return out

    def time_of(self, pts: int) -> float:
        """The monotonic time of sample ``pts`` (the anchor at or before it; the first for priming)."""
        index = max(0, bisect.bisect_right(self._anchors, (pts, float("inf"))) - 1)
        anchor_pts, anchor_time = self._anchors[index]
        return anchor_time + (pts - anchor_pts) / RATE

    def _forget_anchors(self) -> None:
        """Keep the anchors the encoder may still need: its delay is a few frames."""
        oldest = self._pts - 8 * self.frame_size
        while len(self._anchors) > 1 and self._anchors[1][0] <= oldest:
            self._anchors.pop(0)


class AudioRendition:
    """One codec's encoder for one camera's sound, and its listeners (see the module docstring)."""

    def __init__(self, codec: str, name: str) -> None:
        self.codec = codec
        self.name = name
        self.encoder = AudioEncoder(codec)
        self.listeners: list[AudioListener] = []
        self.packets = 0
        self.encode_seconds = 0.0
        self.closed = False
        self._failing = False

    def add_listener(self, listener: AudioListener) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: AudioListener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    @property
    def part(self) -> str:
        return f"{self.name}: audio encoder"

    def receive(self, chunk: Chunk) -> None:
        """Encode ``chunk`` and hand its packets to the listeners (on the event loop: see the module
        docstring). A chunk the encoder refuses is one warning (:data:`HEALTH`), not a stop."""
        if not self.listeners or self.closed:
            return
        started = time.perf_counter()
        try:
            packets = self.encoder.encode(chunk)
        except (av.FFmpegError, ValueError) as exc:
            HEALTH.failed(self.part, f"a chunk of sound was not encoded: {exc}")
            self._failing = True
            return
        if self._failing:
            HEALTH.worked(self.part)
            self._failing = False
        self.encode_seconds += time.perf_counter() - started
        for packet in packets:
            self.packets += 1
            for listener in tuple(self.listeners):
                try:
                    listener(packet)
                except Exception:  # one broken output must not stop the others
                    log.exception("%s: listener %r failed", self.name, listener)

    def close(self) -> None:
        self.closed = True
