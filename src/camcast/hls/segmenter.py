"""Cuts a live H.264 stream into HLS: an init segment, segments on keyframes, and LL-HLS parts.

Frames come in as the shared H.264 rendition encodes them (Annex B, with their capture times). A
frame's duration is known when the next one arrives, so each frame is held until then. A part
closes once it spans ``part_target`` seconds; a segment closes at the first keyframe after it spans
most of ``segment_target`` seconds. Each part is one fMP4 fragment, and a segment is its parts
end to end, so a part and its segment share bytes and timing exactly.

With the camera's sound (``sound``: its AAC format), each part also holds the AAC packets that
arrived since the last one, stamped on the same clock (ticks of the sound's rate from the same start):
a player places them by their own decode time, so sound that arrives a few milliseconds after the
pictures it goes with still plays with them.

The window is bounded: ``window`` finished segments, older ones are forgotten, and the bytes of a
finished segment's parts are let go once the playlist no longer lists them. Everything here runs on
the event loop; waiting (for a blocking playlist reload, a preloaded part) is
:meth:`Segmenter.wait_for`.

URIs carry a random run id, so that segment numbers that restart with the program never name bytes
a cache (a CDN in front of the server) kept from an earlier run.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from camcast.frames import AudioFormat, AudioPacket, EncodedFrame
from camcast.hls import fmp4, names
from camcast.hls.playlist import MediaPlaylist, Part, Segment

#: A segment ends at the first keyframe once it spans this share of the target: keyframes come on a
#: clock that jitters by a frame, and a segment cut a frame short of the target is still a segment.
CUT_AT = 0.9
#: Segments, counting back from the newest, whose parts the playlist lists: the spec asks for parts in
#: the last three target durations at least.
PARTS_LISTED = 3


@dataclass
class _Part:
    data: bytes
    duration: float
    independent: bool
    frames: int


@dataclass(frozen=True)
class Finished:
    """A segment just finished, as the publisher uploads it: its bytes, and its init segment's."""

    msn: int
    uri: str
    data: bytes
    duration: float
    date: float
    init_uri: str
    init: bytes
    discontinuity: bool


@dataclass
class _Segment:
    msn: int
    date: float
    start: int  # 90 kHz ticks
    init: str
    discontinuity: bool
    parts: list[_Part] = field(default_factory=list)
    data: bytes | None = None  # once finished
    duration: float = 0.0

    @property
    def finished(self) -> bool:
        return self.data is not None


class Segmenter:
    """See the module docstring. ``need_keyframe`` is called when a stream cannot start without one."""

    def __init__(
        self,
        segment_target: float = 1.0,
        part_target: float | None = 0.2,
        window: int = 6,
        need_keyframe: Callable[[], object] = lambda: None,
        on_segment: Callable[[Finished], object] = lambda finished: None,
        sound: AudioFormat | None = None,
    ) -> None:
        self.segment_target = segment_target
        self.part_target = part_target
        self.window = window
        self.need_keyframe = need_keyframe
        self.on_segment = on_segment
        self.sound = sound
        self.run = secrets.token_hex(3)
        self.init: bytes | None = None
        self.init_uri = ""
        self.segments: deque[_Segment] = deque()
        self.discontinuities_dropped = 0
        self._params: tuple[bytes, bytes, int, int] | None = None
        self._versions = 0
        self._next_msn = 0
        self._fragments = 0
        self._t0: float | None = None
        self._held: tuple[int, fmp4.Sample] | None = None  # the newest frame, until its duration is known
        self._samples: list[fmp4.Sample] = []
        self._part_start = 0
        self._gap = False
        self._changed = asyncio.Event()
        self._heard: list[tuple[int, bytes, int]] = []  # AAC packets not yet in a part: tick, data, samples
        self._heard_until = 0  # where the sound in the parts so far ends (ticks of the sound's rate)

    @property
    def codecs(self) -> str | None:
        """The stream's codec as RFC 6381 names it (``avc1.42C01F``), once its first keyframe came."""
        if self._params is None:
            return None
        video = fmp4.codec_string(self._params[0])
        return video if self.sound is None else f"{video},{fmp4.AAC_LC}"

    def bits_per_second(self) -> tuple[int, int] | None:
        """The peak and the average bits per second of the finished segments in the window."""
        finished = [s for s in self.segments if s.data is not None and s.duration > 0]
        if not finished:
            return None
        peak = max(len(s.data or b"") * 8 / s.duration for s in finished)
        average = sum(len(s.data or b"") for s in finished) * 8 / sum(s.duration for s in finished)
        return round(peak), round(average)

    # --- names -----------------------------------------------------------------------------------------
    def segment_uri(self, msn: int) -> str:
        return names.segment(self.run, msn)

    def part_uri(self, msn: int, index: int) -> str:
        return names.part(self.run, msn, index)

    # --- input -----------------------------------------------------------------------------------------
    def push(self, frame: EncodedFrame) -> None:
        """Take the next encoded frame (a rendition listener)."""
        picture = fmp4.access_unit(frame)
        if picture is None:
            return
        units, params = picture.units, picture.params
        if params is not None and (*params, frame.width, frame.height) != self._params:
            self._new_init(*params, frame.width, frame.height)
        if self.init is None or (self._held is None and not picture.keyframe):
            self.need_keyframe()  # nothing can start before a keyframe with its parameter sets
            return
        if self._t0 is None:
            self._t0 = frame.time
        tick = round((frame.time - self._t0) * fmp4.TIMESCALE)
        if self._held is not None:
            held_tick, sample = self._held
            duration = max(1, tick - held_tick)
            self._samples.append(fmp4.Sample(duration, sample.data, sample.keyframe))
        current = self.segments[-1] if self.segments and not self.segments[-1].finished else None
        if picture.keyframe and (
            current is None or (tick - current.start) >= CUT_AT * self.segment_target * fmp4.TIMESCALE
        ):
            self._close_part(tick)
            self._close_segment(tick)
            self._open_segment(tick, frame.wall)
        elif (
            # Close the part at the frame boundary nearest its target, so parts are as even as the
            # frame rate allows; the playlist announces the longest as PART-TARGET.
            self.part_target
            and self._samples
            and tick - self._part_start + self._samples[-1].duration / 2 > self.part_target * fmp4.TIMESCALE
        ):
            self._close_part(tick)
        self._held = (tick, fmp4.Sample(0, fmp4.sample_data(units), picture.keyframe))

    def push_sound(self, packet: AudioPacket) -> None:
        """Take the next AAC packet (a listener of the sound's AAC rendition); kept for the next part."""
        if self._t0 is None or self._held is None or self.sound is None:
            return  # no picture yet to go with it
        tick = round((packet.time - self._t0) * self.sound.rate)
        if tick + packet.samples // 2 >= self._heard_until:  # not sound a part already holds
            self._heard.append((tick, packet.data, packet.samples))

    def _sound_run(self) -> fmp4.Run | None:
        """The packets for the part being closed: those that follow on from one another (a gap, where
        the input stopped or its clock was set anew, waits for the next part, as a part's sound has
        one decode time)."""
        if not self._heard:
            return None
        first = self._heard[0][0]
        if abs(first - self._heard_until) <= self._heard[0][2] // 2:
            first = self._heard_until  # on from the last part's sound, without a gap or an overlap
        end, count = first, 0
        for tick, _data, samples in self._heard:
            if count and abs(tick - end) > samples // 2:
                break
            end, count = end + samples, count + 1
        taken, self._heard = self._heard[:count], self._heard[count:]
        self._heard_until = end
        return fmp4.Run(fmp4.AUDIO_TRACK, first, [fmp4.Sample(n, data, True) for _tick, data, n in taken])

    def interrupt(self) -> None:
        """The stream stops (nobody watches, or the shutter closed): finish what there is; the next
        frames start a new segment after a discontinuity, at a keyframe."""
        if self._held is not None:
            held_tick, sample = self._held
            nominal = self._samples[-1].duration if self._samples else round(fmp4.TIMESCALE / 30)
            self._samples.append(fmp4.Sample(nominal, sample.data, sample.keyframe))
            self._close_part(held_tick + nominal)
            self._close_segment(held_tick + nominal)
        self._held = None
        self._samples = []
        self._heard = []
        self._gap = bool(self.segments)

    def _new_init(self, sps: bytes, pps: bytes, width: int, height: int) -> None:
        if self._params is not None:
            self.interrupt()  # a new picture size or encoder: players start afresh from the new init
        self._params = (sps, pps, width, height)
        self._versions += 1
        self.init = fmp4.init_segment(sps, pps, width, height, self.sound)
        self.init_uri = names.init(self.run, self._versions)

    def _open_segment(self, tick: int, wall: float) -> None:
        self.segments.append(_Segment(self._next_msn, wall, tick, self.init_uri, self._gap))
        self._gap = False
        self._next_msn += 1
        self._part_start = tick
        while sum(1 for s in self.segments if s.finished) > self.window:
            gone = self.segments.popleft()
            self.discontinuities_dropped += gone.discontinuity
        for old in list(self.segments)[: -PARTS_LISTED - 1]:
            old.parts = [_Part(b"", p.duration, p.independent, p.frames) for p in old.parts]

    def _close_part(self, tick: int) -> None:
        if not self._samples or not self.segments or self.segments[-1].finished:
            self._samples = []
            return
        self._fragments += 1
        data = fmp4.fragment(self._fragments, self._part_start, self._samples, self._sound_run())
        duration = (tick - self._part_start) / fmp4.TIMESCALE
        self.segments[-1].parts.append(_Part(data, duration, self._samples[0].keyframe, len(self._samples)))
        self._samples = []
        self._part_start = tick
        self._notify()

    def _close_segment(self, tick: int) -> None:
        if not self.segments or self.segments[-1].finished:
            return
        segment = self.segments[-1]
        if not segment.parts:
            self.segments.pop()
            self._next_msn -= 1
            return
        segment.data = b"".join(p.data for p in segment.parts)
        segment.duration = (tick - segment.start) / fmp4.TIMESCALE
        self._notify()
        assert self.init is not None  # a segment only opens after the init segment is made
        self.on_segment(
            Finished(
                segment.msn, self.segment_uri(segment.msn), segment.data, segment.duration, segment.date,
                segment.init, self.init, segment.discontinuity,
            )
        )  # fmt: skip

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # --- output ----------------------------------------------------------------------------------------
    @property
    def newest(self) -> tuple[int, int]:
        """(media sequence number, part index) of the newest part; (-1, -1) before the first."""
        for segment in reversed(self.segments):
            if segment.parts:
                return segment.msn, len(segment.parts) - 1
        return -1, -1

    @property
    def newest_finished(self) -> int:
        """The media sequence number of the newest finished segment, -1 before the first."""
        for segment in reversed(self.segments):
            if segment.finished:
                return segment.msn
        return -1

    def has(self, msn: int, part: int | None) -> bool:
        """Whether the playlist already holds segment ``msn`` (finished, when ``part`` is None) or its
        part ``part``, or anything later; the test of a blocking playlist reload."""
        if part is None:
            return self.newest_finished >= msn
        newest_msn, newest_part = self.newest
        return (newest_msn, newest_part) >= (msn, part) or self.newest_finished >= msn

    async def wait_for(self, ready: Callable[[], bool], seconds: float) -> bool:
        """Wait until ``ready()`` holds, at most ``seconds``; return whether it does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not ready():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return ready()
        return True

    def _find(self, msn: int) -> _Segment | None:
        if not self.segments or not self.segments[0].msn <= msn <= self.segments[-1].msn:
            return None
        return self.segments[msn - self.segments[0].msn]

    def segment(self, msn: int) -> tuple[bytes, int] | None:
        """A finished segment's bytes and frame count, if it is in the window."""
        found = self._find(msn)
        if found is None or found.data is None:
            return None
        return found.data, sum(p.frames for p in found.parts)

    def part(self, msn: int, index: int) -> tuple[bytes, int] | None:
        """A part's bytes and frame count, if the playlist still lists it."""
        found = self._find(msn)
        if found is None or index >= len(found.parts) or not found.parts[index].data:
            return None
        return found.parts[index].data, found.parts[index].frames

    def is_next_part(self, msn: int, index: int) -> bool:
        """Whether (msn, index) is the part the preload hint names, the one being made now."""
        if not self.segments:
            return False
        last = self.segments[-1]
        if last.finished:
            return (msn, index) == (last.msn + 1, 0)
        return (msn, index) in ((last.msn, len(last.parts)), (last.msn + 1, 0))

    def playlist(self, parts: bool = True) -> MediaPlaylist:
        """The playlist now: with LL-HLS parts (the server), or finished segments only (``parts``
        False: plain HLS, as it is published to a web host)."""
        ll = parts and self.part_target is not None
        newest = self.segments[-1].msn if self.segments else 0
        entries = []
        for s in self.segments:
            if not s.finished and not (ll and s.parts):
                continue
            listed = ll and s.msn > newest - PARTS_LISTED
            entries.append(
                Segment(
                    self.segment_uri(s.msn),
                    s.duration if s.finished else None,
                    s.date,
                    s.init,
                    tuple(
                        Part(self.part_uri(s.msn, i), p.duration, p.independent)
                        for i, p in enumerate(s.parts)
                    )
                    if listed
                    else (),
                    s.discontinuity,
                )
            )
        hint = None
        if ll and self.segments:
            last = self.segments[-1]
            hint = (
                self.part_uri(last.msn + 1, 0) if last.finished else self.part_uri(last.msn, len(last.parts))
            )
        longest_part = max((p.duration for e in entries for p in e.parts), default=0.0)
        return MediaPlaylist(
            self.segment_target,
            self.segments[0].msn if self.segments else 0,
            tuple(entries),
            part_target=max(self.part_target or 0.0, longest_part) if ll else None,
            preload_hint=hint,
            discontinuity_sequence=self.discontinuities_dropped,
        )
