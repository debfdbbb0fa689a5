"""Audio encoded once per codec, for every output that carries that codec.

An :class:`AudioRendition` is to sound what :class:`~camcast.encode.rendition.Rendition` is to
pictures: one encoder, its listeners, and no work while nobody listens. The camera's
:class:`~camcast.audio.sound.Sound` hands it each chunk while it has listeners; the encoder's packets
go to every listener in order. A source whose own sound is already in the codec (a file's or an RTSP
camera's AAC, a stream's Opus) is *passed through* instead, as a camera's own H.264 is: its packets
go to the listeners as they came, in the source's format (its rate and channels), and nothing is
encoded. Should the source come back with its sound in another format (a camera set differently),
its chunks are encoded in the format the outputs were set up with, so they go on as they were.

Unlike a picture's, a chunk is encoded on the event loop: 20 ms of mono costs Opus or AAC under
0.1 ms (bench/audio.py), and handing each chunk to a thread and its packets back cost the server more
than the encoding itself (+4.5 to +6.0% of a core for a camera's sound with an encoder thread per
codec, +2.8 to +3.3% without; bench/audio.py, one run).

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

from camcast.frames import RATE, AudioFormat, AudioPacket, Chunk
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
    """Mono PCM chunks at :data:`RATE` in, ``codec`` packets out (blocking; one thread, chunks in
    order); with ``rate`` and ``channels``, packets of that format (the chunks resampled to it)."""

    def __init__(self, codec: str, rate: int = RATE, channels: int = 1) -> None:
        name, self._format = _CODECS[codec]
        self.codec = codec
        self.rate, self.channels = rate, channels
        layout = "mono" if channels == 1 else "stereo"
        context = av.CodecContext.create(name, "w")
        assert isinstance(context, av.AudioCodecContext)
        self._context = context
        self._context.sample_rate = rate
        self._context.layout = layout
        self._context.format = self._format
        self._context.bit_rate = BITRATES[codec] * channels
        self._context.time_base = Fraction(1, rate)
        self._context.open()
        self.frame_size = self._context.frame_size or 960
        self._float = self._format == "fltp"
        planar = "fltp" if self._float else "s16p"
        same = rate == RATE and channels == 1
        self._resampler = None if same else av.AudioResampler(format=planar, layout=layout, rate=rate)
        self._pending = np.zeros((channels, 0), np.float32 if self._float else np.int16)  # planar
        self._pts = 0  # samples given to the encoder so far (and the pending ones' first)
        self._anchors: list[tuple[int, float]] = []  # (sample count, monotonic time), in order

    @property
    def format(self) -> AudioFormat:
        """What its packets are, for the decoder (AAC's AudioSpecificConfig, Opus's header)."""
        return AudioFormat(self.codec, self.rate, self.channels, bytes(self._context.extradata or b""))

    def encode(self, chunk: Chunk) -> list[AudioPacket]:
        """The packets ``chunk`` completes (none, one or more)."""
        samples = self._converted(chunk.samples)
        counted = self._pts + self._pending.shape[1]
        expected = self.time_of(counted) if self._anchors else None
        if expected is None or abs(chunk.time - expected) > REANCHOR:
            self._anchors.append((counted, chunk.time))
        self._pending = np.concatenate((self._pending, samples), axis=1)
        packets: list[AudioPacket] = []
        size = self.frame_size
        while self._pending.shape[1] >= size:
            planes, self._pending = self._pending[:, :size], self._pending[:, size:]
            packets += self._packets(self._context.encode(self._frame(planes)))
        self._forget_anchors()
        return packets

    def _converted(self, samples: np.ndarray) -> np.ndarray:
        """``samples`` (mono at :data:`RATE`) as the encoder takes them, one row a channel: floats
        for AAC, in its rate and channels."""
        if self._resampler is None:
            return (samples.astype(np.float32) / 32768.0 if self._float else samples).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        out = [f.to_ndarray() for f in self._resampler.resample(frame)]
        return np.concatenate(out, axis=1) if out else self._pending[:, :0]

    def _frame(self, planes: np.ndarray) -> av.AudioFrame:
        data = planes if self._float else planes.T.reshape(1, -1)  # Opus takes them interleaved
        frame = av.AudioFrame.from_ndarray(data, format=self._format, layout=self._context.layout.name)
        frame.sample_rate = self.rate
        frame.pts = self._pts
        frame.time_base = Fraction(1, self.rate)
        self._pts += planes.shape[1]
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
        return anchor_time + (pts - anchor_pts) / self.rate

    def _forget_anchors(self) -> None:
        """Keep the anchors the encoder may still need: its delay is a few frames."""
        oldest = self._pts - 8 * self.frame_size
        while len(self._anchors) > 1 and self._anchors[1][0] <= oldest:
            self._anchors.pop(0)


class AudioRendition:
    """One codec's sound for one camera, and its listeners (see the module docstring): encoded, or
    with ``passed`` (the source's own format) the source's packets as they came."""

    def __init__(self, codec: str, name: str, passed: AudioFormat | None = None) -> None:
        self.codec = codec
        self.name = name
        self.listeners: list[AudioListener] = []
        self.packets = 0
        self.encode_seconds = 0.0
        self.closed = False
        self._failing = False
        self._encoder = AudioEncoder(codec) if passed is None else None
        #: What every packet it hands on is, for the whole of its life: outputs are set up with it.
        self.format = passed if passed is not None else self.encoder.format
        #: Whether it carries the source's own packets (while their format is ``format``).
        self.own = passed is not None
        #: Whether the source's packets go on as they came now (False: the chunks are encoded).
        self.passing = self.own

    @property
    def encoder(self) -> AudioEncoder:
        """Its encoder: from the start, or once a passed-through source's sound changed format."""
        if self._encoder is None:
            self._encoder = AudioEncoder(self.codec, self.format.rate, self.format.channels)
        return self._encoder

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
        docstring), unless the source's own packets are passed through. A chunk the encoder refuses
        is one warning (:data:`HEALTH`), not a stop."""
        if not self.listeners or self.closed or self.passing:
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
        self._hand_on(packets)

    def forward(self, packet: AudioPacket, format: AudioFormat) -> None:
        """A packet of the source's own sound: handed on as it is while its format is the one this
        rendition was made with; in another (the source came back set differently), the chunks are
        encoded in this one's format instead, until it is this one's again."""
        if not self.own:
            return  # made as an encoder (the source's sound was not known then): the chunks go on
        passing = format == self.format
        if passing != self.passing:
            self.passing = passing
            then = "passed through again" if passing else f"encoded as {_described(self.format)}"
            log.info("%s: the source's sound is %s; %s", self.name, _described(format), then)
        if passing and self.listeners and not self.closed:
            self._hand_on([packet])

    def _hand_on(self, packets: list[AudioPacket]) -> None:
        for packet in packets:
            self.packets += 1
            for listener in tuple(self.listeners):
                try:
                    listener(packet)
                except Exception:  # one broken output must not stop the others
                    log.exception("%s: listener %r failed", self.name, listener)

    def close(self) -> None:
        self.closed = True


def _described(format: AudioFormat) -> str:
    layout = {1: "mono", 2: "stereo"}.get(format.channels, f"{format.channels} channels")
    return f"{format.codec} at {format.rate / 1000:g} kHz {layout}"
