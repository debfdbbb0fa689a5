"""Where a recording lies, and what it is called: ``FOLDER/CAMERA/YYYY-MM-DD/CAMERA-STAMP.mp4`` (the
stamp is :func:`camcast.clock.stamp` of its start, as in event ids), with its sidecar beside it as
``.json``. The one home of the format, which the recorder writes and the catalog, the server and the
command line read."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from camcast.clock import stamp
from camcast.config.parse import CAMERA_NAME

#: A recording's file name: the camera (as a camera may be named), then its start to the millisecond.
NAME = re.compile(rf"(?P<camera>{CAMERA_NAME.pattern})-(?P<day>\d{{8}})-(?P<time>\d{{6}})-\d{{3}}\.mp4")


def clip_path(folder: Path, camera: str, start: float) -> Path:
    """Where the recording of ``camera`` starting at ``start`` (Unix seconds) is written."""
    day = datetime.datetime.fromtimestamp(start)
    return folder / camera / f"{day:%Y-%m-%d}" / f"{camera}-{stamp(start)}.mp4"


def path_of(folder: Path, name: str) -> Path | None:
    """Where the recording named ``name`` (a file name as listed) lies, or None for a name that is not
    a recording's (nothing outside ``folder`` can be named)."""
    match = NAME.fullmatch(name)
    if match is None:
        return None
    day = f"{match['day'][:4]}-{match['day'][4:6]}-{match['day'][6:]}"
    return folder / match["camera"] / day / name


def sidecar(path: Path) -> Path:
    """The recording's sidecar (camera, start, end, bytes, events)."""
    return path.with_suffix(".json")
