"""The HLS media playlist as a small value that renders itself (RFC 8216, with Apple's Low-Latency
extensions when ``part_target`` is set), as gohlslib's ``pkg/playlist`` does: the segmenter fills
it from plain data, the server and the publisher only send its text."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Part:
    uri: str
    duration: float
    independent: bool


@dataclass(frozen=True, slots=True)
class Segment:
    """A media segment; ``duration`` is None while it is still being made (then only its ``parts``
    are listed). ``date`` is the Unix time of its first frame; ``init`` the URI of its init segment."""

    uri: str
    duration: float | None
    date: float
    init: str
    parts: tuple[Part, ...] = ()
    discontinuity: bool = False


def program_date_time(wall: float) -> str:
    """ISO 8601 in UTC with milliseconds, as EXT-X-PROGRAM-DATE-TIME wants it."""
    whole = math.floor(wall)
    ms = min(999, round((wall - whole) * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}Z"


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    """A live media playlist. ``segments`` are oldest first, the last possibly unfinished;
    ``media_sequence`` is the first one's number and ``discontinuity_sequence`` counts the
    discontinuities already gone from the window."""

    target_duration: float
    media_sequence: int
    segments: tuple[Segment, ...]
    part_target: float | None = None
    preload_hint: str | None = None
    discontinuity_sequence: int = 0

    def render(self, query: str = "") -> str:
        """The playlist's text; ``query`` (``?token=...``, a share link's) follows every URI in it, so a
        player that was given the link fetches every file with it."""
        longest = max([s.duration for s in self.segments if s.duration is not None], default=0.0)
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{9 if self.part_target else 7}",
            # Rounded as the spec says (EXTINF rounded to the nearest integer must not exceed it).
            f"#EXT-X-TARGETDURATION:{max(1, round(self.target_duration), round(longest))}",
        ]
        if self.part_target:
            lines += [
                # PART-HOLD-BACK: three part targets, the spec's recommended minimum distance from the
                # live edge for a player using parts.
                f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={3 * self.part_target:.3f}",
                f"#EXT-X-PART-INF:PART-TARGET={math.ceil(self.part_target * 1000) / 1000:.3f}",
            ]
        lines.append(f"#EXT-X-MEDIA-SEQUENCE:{self.media_sequence}")
        if self.discontinuity_sequence:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.discontinuity_sequence}")
        init = None
        for segment in self.segments:
            # Kept on the first segment too: a segment's discontinuity number counts the tags up to
            # and including its own, so the tag may only go when its segment does (and then
            # ``discontinuity_sequence`` counts it).
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if segment.init != init:
                init = segment.init
                lines.append(f'#EXT-X-MAP:URI="{init}{query}"')
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(segment.date)}")
            for part in segment.parts:
                independent = ",INDEPENDENT=YES" if part.independent else ""
                lines.append(f'#EXT-X-PART:DURATION={part.duration:.5f},URI="{part.uri}{query}"{independent}')
            if segment.duration is not None:
                lines += [f"#EXTINF:{segment.duration:.5f},", segment.uri + query]
        if self.preload_hint:
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self.preload_hint}{query}"')
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Variant:
    """One rendition as a multivariant playlist lists it: its playlist's URI, its peak and average bits
    per second, and, when known, its picture size, codec (RFC 6381) and frame rate."""

    uri: str
    bandwidth: int
    average_bandwidth: int
    resolution: tuple[int, int] | None = None
    codecs: str | None = None
    frame_rate: float | None = None


@dataclass(frozen=True, slots=True)
class MultivariantPlaylist:
    """The playlist that names a stream's renditions (RFC 8216's master playlist), so players choose
    one by their screen and their link. Every segment of every rendition starts with a keyframe."""

    variants: tuple[Variant, ...]

    def render(self, query: str = "") -> str:
        lines = ["#EXTM3U", "#EXT-X-INDEPENDENT-SEGMENTS"]
        for v in self.variants:
            attrs = [f"BANDWIDTH={v.bandwidth}", f"AVERAGE-BANDWIDTH={v.average_bandwidth}"]
            if v.codecs:
                attrs.append(f'CODECS="{v.codecs}"')
            if v.resolution:
                attrs.append(f"RESOLUTION={v.resolution[0]}x{v.resolution[1]}")
            if v.frame_rate:
                attrs.append(f"FRAME-RATE={v.frame_rate:.3f}")
            lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), v.uri + query]
        return "\n".join(lines) + "\n"
