"""The shared H.264 stream as groups of pictures (a keyframe and the pictures up to the next), each
picture an MP4 sample with its duration. A group is complete when the next keyframe arrives: only
then is its last picture's duration known. Pure: frames in, groups out."""

from __future__ import annotations

from dataclasses import dataclass, field

from camcast.frames import AudioPacket, EncodedFrame
from camcast.hls import fmp4

Params = tuple[bytes, bytes, int, int]  # SPS, PPS, width, height


@dataclass
class Gop:
    """One group: ``params`` its parameter sets and size; ``wall`` and ``time`` its first picture's
    Unix and monotonic time; ``samples`` with durations in 90 kHz ticks once complete."""

    params: Params
    wall: float
    time: float
    samples: list[fmp4.Sample] = field(default_factory=list)
    ticks: int = 0
    #: The camera's sound (AAC) that arrived while the group was open.
    sound: list[AudioPacket] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.ticks / fmp4.TIMESCALE

    @property
    def end_wall(self) -> float:
        return self.wall + self.seconds

    @property
    def bytes(self) -> int:
        return sum(len(s.data) for s in self.samples)


class GopBuilder:
    """Feed :meth:`push` every encoded frame in order; it returns each group as it completes."""

    def __init__(self) -> None:
        self.open: Gop | None = None
        self._params: Params | None = None
        self._held: tuple[float, bytes, bool] | None = None  # the newest picture, until the next comes

    def push(self, frame: EncodedFrame) -> Gop | None:
        picture = fmp4.access_unit(frame)
        if picture is None:
            return None
        units, keyframe = picture.units, picture.keyframe
        if picture.params is not None:
            self._params = (*picture.params, frame.width, frame.height)
        if self.open is None and not (keyframe and self._params is not None):
            return None  # a group starts at a keyframe whose parameter sets are known
        done = None
        if self._held is not None:
            self._add_held(frame.time)
        if keyframe and self._params is not None:
            done = self.open
            assert self._params is not None
            self.open = Gop(self._params, frame.wall, frame.time)
        self._held = (frame.time, fmp4.sample_data(units), keyframe)
        return done

    def push_sound(self, packet: AudioPacket) -> None:
        """Keep ``packet`` with the group open now (its time, not the group's, places it)."""
        if self.open is not None:
            self.open.sound.append(packet)

    def flush(self, nominal: float = 1 / 30) -> Gop | None:
        """The open group, its last picture given ``nominal`` seconds (the stream stops: the shutter)."""
        if self._held is not None:
            self._add_held(self._held[0] + nominal)
        done, self.open, self._held = self.open, None, None
        return done if done is not None and done.samples else None

    def _add_held(self, next_time: float) -> None:
        assert self._held is not None and self.open is not None
        at, data, keyframe = self._held
        duration = max(1, round((next_time - at) * fmp4.TIMESCALE))
        self.open.samples.append(fmp4.Sample(duration, data, keyframe))
        self.open.ticks += duration
        self._held = None
