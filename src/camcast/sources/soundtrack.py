"""The sound track of a source read through FFmpeg (:class:`~camcast.sources.media.MediaSource`):
decoded and resampled to 48 kHz mono for ``source.on_sound``, and its packets as they came, with
their format, for ``source.on_sound_packet`` (the outputs of that codec pass them through); both
placed on the clock the source's pictures are placed by."""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import av
import av.error
import numpy as np

from camcast.frames import RATE, AudioFormat, AudioPacket, Chunk


class Listened(Protocol):
    """What the track reads of its source: the format of its sound, and who takes it."""

    sound_format: AudioFormat | None
    on_sound: Callable[[Chunk], None] | None
    on_sound_packet: Callable[[AudioPacket, AudioFormat], None] | None


#: Seconds of sound (source time) held at most for the picture it goes with: past it (the pictures
#: stopped coming, the sound has not; or the source's times jumped back, a camera restarting its
#: clock), it is placed by the clock as it is.
SOUND_HOLD = 1.0


class SoundTrack:
    """A stream's audio track, decoded and resampled to 48 kHz mono for ``source.on_sound``, and its
    packets as they came for ``source.on_sound_packet``.

    Each piece of sound is held until the picture at or after its time has been placed, then placed
    on the pictures' clock as that picture was: a live source's clock moves while it settles (the
    pictures that arrive in a burst at a stream's start move its origin back), and sound placed before
    the move, with the pictures after it, was up to half a second off at an RTSP camera's start."""

    def __init__(self, stream: Any, source: Listened, place: Callable[[float], float | None]) -> None:
        self.stream = stream
        self.source = source
        self.place = place  # where a source time falls on the pictures' clock
        self.format = source.sound_format
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        self._held: deque[tuple[float, Chunk | AudioPacket]] = deque()  # (source time, with time 0)
        self._ends: dict[str, float] = {}  # where the sound handed on ends (monotonic), chunks and packets

    def hear(self, packet: Any) -> None:
        """Hold ``packet`` as it is (when its format is one an output carries) and its decoded chunks,
        until :meth:`release`. A packet that does not decode is skipped: the pictures go on."""
        t = packet_seconds(packet)
        if t is None:
            return
        if self.source.on_sound_packet is not None and self.format is not None:
            rate = self.format.rate
            samples = round(packet.duration * packet.time_base * rate) if packet.duration else 0
            samples = samples or (1024 if self.format.codec == "aac" else 960)
            self._held.append((t, AudioPacket(self.format.codec, bytes(packet), 0.0, samples)))
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            frames = []
        for frame in frames:
            out = self.resampler.resample(frame)
            if out and frame.time is not None:
                samples = np.concatenate([f.to_ndarray().reshape(-1) for f in out]).astype(np.int16)
                self._held.append((frame.time, Chunk(samples, 0.0)))
        while self._held and abs(self._held[-1][0] - self._held[0][0]) > SOUND_HOLD:
            self._deliver(*self._held.popleft())

    def release(self, upto: float) -> None:
        """The picture at source time ``upto`` was placed: the sound up to it goes on."""
        while self._held and self._held[0][0] <= upto:
            self._deliver(*self._held.popleft())

    def _deliver(self, t: float, held: Chunk | AudioPacket) -> None:
        """Place ``held`` and hand it on, unless it would overlap sound already handed on: where the
        clock moved back (pictures that came faster than they were taken), the sound of the pictures
        squeezed together is left out, never played twice over."""
        at = self.place(t)
        if at is None:
            return  # before the first picture
        if isinstance(held, Chunk):
            seconds, kind = len(held.samples) / RATE, "chunk"
        else:
            seconds, kind = held.samples / (self.format.rate if self.format else RATE), "packet"
        if at < self._ends.get(kind, -math.inf) - seconds / 2:
            return
        self._ends[kind] = at + seconds
        if isinstance(held, Chunk):
            if (take := self.source.on_sound) is not None:
                take(Chunk(held.samples, at))
        elif (given := self.source.on_sound_packet) is not None and self.format is not None:
            given(dataclasses.replace(held, time=at), self.format)


#: Sample rates AAC's AudioSpecificConfig names by index (the ones an MP4 and HLS player expects).
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def sound_format(stream: Any) -> AudioFormat | None:
    """The format of a sound track that outputs can carry as it is: AAC-LC described out of band
    (an AudioSpecificConfig, as MP4 and RTSP give it; not ADTS) or Opus, mono or stereo."""
    context = stream.codec_context
    channels = context.layout.nb_channels
    config = bytes(context.extradata or b"")
    if channels not in (1, 2):
        return None
    if context.name == "aac" and context.profile == "LC" and config and context.sample_rate in AAC_RATES:
        return AudioFormat("aac", context.sample_rate, channels, config)
    if context.name == "opus" and context.sample_rate == RATE:
        return AudioFormat("opus", RATE, channels, config)
    return None


def heard(packet: Any, sound: SoundTrack | None) -> bool:
    """Whether ``packet`` was the sound's (and went to it)."""
    if sound is None or packet.stream is not sound.stream:
        return False
    sound.hear(packet)
    return True


def packet_seconds(packet: Any) -> float | None:
    """A packet's time in the stream (seconds): its decoding time, which only grows (its presentation
    time jumps about where there are B-frames)."""
    stamp = packet.dts if packet.dts is not None else packet.pts
    return None if stamp is None else float(stamp * packet.time_base)
