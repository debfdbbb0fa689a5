"""Privacy masks and the on-air badge: steps applied to every raw frame.

Masks are applied before any encoding, so no output (stream, snapshot, upload, archive) can contain
what they cover. A mask is ``x,y,w,h`` where each number is pixels or a percentage of the picture's
width (x, w) or height (y, h): ``0,0,25%,100%`` blacks out the left quarter.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from camcast.frames import Yuv420
from camcast.picture.draw import text_mask
from camcast.picture.steps import Step


@dataclass(frozen=True)
class Mask:
    """A rectangle; each value is ``(number, is_percent)``."""

    x: tuple[float, bool]
    y: tuple[float, bool]
    w: tuple[float, bool]
    h: tuple[float, bool]

    def __str__(self) -> str:
        return ",".join(f"{v:g}{'%' if pct else ''}" for v, pct in (self.x, self.y, self.w, self.h))

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in pixels, clamped to the picture and widened to even edges (so the
        half-size chroma planes are covered entirely too)."""

        def px(value: tuple[float, bool], full: int) -> float:
            return value[0] * full / 100 if value[1] else value[0]

        x0, y0 = px(self.x, width), px(self.y, height)
        x1, y1 = x0 + px(self.w, width), y0 + px(self.h, height)
        ex0, ey0 = max(0, int(x0) & ~1), max(0, int(y0) & ~1)
        ex1, ey1 = min(width, -(-int(np.ceil(x1)) // 2) * 2), min(height, -(-int(np.ceil(y1)) // 2) * 2)
        return ex0, ey0, max(ex0, ex1), max(ey0, ey1)


def parse_mask(value: object) -> Mask:
    """``x,y,w,h`` with each value in pixels or percent; ValueError naming the form otherwise."""
    parts = str(value).replace(" ", "").split(",")
    form = "must be x,y,w,h in pixels or percent, e.g. 0,0,320,180 or 75%,0,25%,20%"
    if len(parts) != 4:
        raise ValueError(form)
    values = []
    for part in parts:
        pct = part.endswith("%")
        try:
            number = float(part[:-1] if pct else part)
        except ValueError:
            raise ValueError(form) from None
        if not np.isfinite(number) or number < 0 or (pct and number > 100):
            raise ValueError(form)
        values.append((number, pct))
    mask = Mask(*values)
    if values[2][0] == 0 or values[3][0] == 0:
        raise ValueError("must have a width and height above 0")
    return mask


def mask_step(masks: Sequence[Mask]) -> Step:
    """A step painting ``masks`` black (full-range Y=0, neutral chroma)."""

    def apply(image: Yuv420, wall: float) -> Yuv420:
        for mask in masks:
            x0, y0, x1, y1 = mask.pixels(image.width, image.height)
            image.y[y0:y1, x0:x1] = 0
            image.u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = 128
            image.v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = 128
        return image

    return apply


@functools.cache
def _badge(height: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The LIVE badge's luma and its size: white text on red, about 1/18 of the picture high."""
    h = max(16, height // 18) & ~1
    w = (h * 3) & ~1
    text = text_mask("LIVE", w, h, max(8, h * 2 // 3), align="center")
    red_y = 76  # full-range luma of pure red
    luma = np.where(text > 127, 255, red_y).astype(np.uint8)
    return luma, text, w, h


def live_badge_step() -> Step:
    """A step drawing a red "LIVE" badge in the top-left corner: the picture says it is on air."""

    def apply(image: Yuv420, wall: float) -> Yuv420:
        luma, _, w, h = _badge(image.height)
        margin = max(2, image.height // 60) & ~1
        if w + margin > image.width or h + margin > image.height:
            return image
        image.y[margin : margin + h, margin : margin + w] = luma
        image.u[margin // 2 : (margin + h) // 2, margin // 2 : (margin + w) // 2] = 85  # red's Cb
        image.v[margin // 2 : (margin + h) // 2, margin // 2 : (margin + w) // 2] = 255  # red's Cr
        return image

    return apply
