"""Warm-up: after a camera opens, drop frames until its automatic exposure has settled, so the first
picture anyone sees (or that is published) is not black. fswebcam makes users guess a --skip count;
this watches the picture's mean brightness instead, with an upper bound."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import numpy as np
import simplejpeg

from camcast.frames import Captured, Encoded

log = logging.getLogger(__name__)

#: Settled when the last WINDOW frames' mean brightness (0–255) differ by at most TOLERANCE levels.
WINDOW = 4
TOLERANCE = 3.0
#: Never drop more than this: some scenes flicker for ever (a TV in view), and a slow camera must still
#: start within a few seconds.
MAX_FRAMES = 90
MAX_SECONDS = 4.0


def brightness(frame: Captured) -> float:
    """Mean luma of ``frame``, sampled (every 8th pixel; a camera JPEG decoded at 1/8 scale)."""
    payload = frame.payload
    if not isinstance(payload, Encoded):
        return float(payload.y[::8, ::8].mean())
    small = simplejpeg.decode_jpeg(
        payload.data, colorspace="GRAY", fastdct=True, fastupsample=True, min_height=8, min_width=8
    )
    return float(np.asarray(small).mean())


def settle(frames: Iterator[Captured], what: str) -> Iterator[Captured]:
    """``frames`` from the first one after exposure has settled (see the module docstring)."""
    recent: list[float] = []
    started = time.monotonic()
    for dropped, frame in enumerate(frames):  # every frame before this one was dropped
        recent = [*recent[-(WINDOW - 1) :], brightness(frame)]
        steady = len(recent) == WINDOW and max(recent) - min(recent) <= TOLERANCE
        if steady or dropped >= MAX_FRAMES or time.monotonic() - started > MAX_SECONDS:
            if dropped:
                how = "settled" if steady else "still changing; gave up waiting"
                log.info(
                    "%s: warm-up dropped %d frames (brightness %.0f, %s)", what, dropped, recent[-1], how
                )
            yield frame
            yield from frames
            return
