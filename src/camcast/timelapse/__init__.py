"""The timelapse: a picture every few seconds within the day's window (:mod:`camcast.daylight`), brightness
smoothed (:mod:`.deflicker`), encoded as it is taken into the day's film (:mod:`.film`) by a camera's
:mod:`.taker`; the cameras' timelapses, their retention and uploads (:mod:`.runner`); the command
(:mod:`.make`). This module holds the command's arguments alone, so that the CLI reads them without
loading the video pipeline."""

from __future__ import annotations

import argparse
from typing import Any


def add_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """``camcast timelapse`` on the CLI's subcommands ``sub``."""
    lapse = sub.add_parser(
        "timelapse", parents=[common], help="the timelapse films made, or a film of any span"
    )
    lapse.add_argument("--camera", action="append", default=[], metavar="NAME", help="only this camera's")
    lapse.add_argument("--json", action="store_true", help="one JSON object per film, for scripts")
    lapse.add_argument("--make", metavar="OUT", help="make a film from --from to --to, written to OUT (MP4)")
    lapse.add_argument("--from", dest="start", metavar="TIME", help="with --make: from TIME (ISO 8601)")
    lapse.add_argument("--to", dest="end", metavar="TIME", help="with --make: to TIME (ISO 8601)")
    lapse.add_argument("--length", metavar="LENGTH", help="with --make: how long the film lasts (90s, 2m)")
