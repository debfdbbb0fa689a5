"""The names of a stream's HLS files, made and read here only.

Every name carries the stream's ``run`` (random hex, new each time a segmenter starts), so a name never
means two different files: a player or a CDN that cached one keeps the right bytes for good.

- ``init-RUN-VERSION.mp4``: an init segment (a new version when the picture size or encoder changes);
- ``seg-RUN-MSN.m4s``: a whole segment, by media sequence number;
- ``part-RUN-MSN-INDEX.m4s``: an LL-HLS part of a segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_NAME = re.compile(
    r"(?P<kind>seg|part|init)-(?P<run>[0-9a-f]+)-(?P<a>\d{1,9})(?:-(?P<b>\d{1,4}))?\.(?P<ext>m4s|mp4)"
)


def init(run: str, version: int) -> str:
    return f"init-{run}-{version}.mp4"


def segment(run: str, msn: int) -> str:
    return f"seg-{run}-{msn}.m4s"


def part(run: str, msn: int, index: int) -> str:
    return f"part-{run}-{msn}-{index}.m4s"


@dataclass(frozen=True, slots=True)
class Name:
    """A parsed file name: ``number`` is the init version or the segment's MSN; ``index`` a part's."""

    kind: Literal["init", "seg", "part"]
    run: str
    number: int
    index: int | None = None


def parse(name: str) -> Name | None:
    """The parts of an HLS file name made by this module, or None for any other name."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    kind, b = match["kind"], match["b"]
    if (kind == "part") != (b is not None) or (match["ext"] == "mp4") != (kind == "init"):
        return None
    if kind == "init" and len(match["a"]) > 6:
        return None
    return Name(kind, match["run"], int(match["a"]), int(b) if b is not None else None)  # type: ignore[arg-type]
