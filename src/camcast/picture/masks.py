"""Privacy masks and the on-air badge: steps applied to every raw frame.

Masks are applied before any encoding, so no output (stream, snapshot, upload, archive) can contain
what they cover. A mask is ``x,y,w,h`` where each number is pixels or a percentage of the picture's
width (x, w) or height (y, h): ``0,0,25%,100%`` blacks out the left quarter. A polygon is its corners,
``x,y x,y x,y ...`` in the same units: ``0,0 50%,0 0,50%`` blacks out the top-left triangle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
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

    def outline(self, width: int, height: int) -> list[tuple[float, float]]:
        """The corners as fractions of a ``width`` x ``height`` picture (for the settings page)."""
        x, y = _fraction(self.x, width), _fraction(self.y, height)
        x2, y2 = x + _fraction(self.w, width), y + _fraction(self.h, height)
        return [(x, y), (x2, y), (x2, y2), (x, y2)]

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


Value = tuple[float, bool]


@dataclass(frozen=True)
class PolygonMask:
    """A polygon; each corner is ``(x, y)``, each value ``(number, is_percent)``."""

    corners: tuple[tuple[Value, Value], ...]

    def __str__(self) -> str:
        return " ".join(
            ",".join(f"{v:g}{'%' if pct else ''}" for v, pct in corner) for corner in self.corners
        )

    def outline(self, width: int, height: int) -> list[tuple[float, float]]:
        """The corners as fractions of a ``width`` x ``height`` picture (for the settings page)."""
        return [(_fraction(x, width), _fraction(y, height)) for x, y in self.corners]

    def area(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """The polygon as boolean pictures, made once per size: ``width`` x ``height`` for luma, and
        half that for chroma, true wherever any of the four pixels a chroma sample covers is."""
        return _raster(self, width, height)


def _fraction(value: tuple[float, bool], full: int) -> float:
    number, percent = value
    return number / 100 if percent else number / max(full, 1)


@functools.lru_cache(maxsize=64)
def _raster(mask: PolygonMask, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, ImageDraw

    def px(value: Value, full: int) -> float:
        return value[0] * full / 100 if value[1] else value[0]

    image = Image.new("1", (width, height), 0)
    ImageDraw.Draw(image).polygon([(px(x, width), px(y, height)) for x, y in mask.corners], fill=1)
    full = np.asarray(image, dtype=np.bool_)
    half = full[::2, ::2] | full[1::2, ::2] | full[::2, 1::2] | full[1::2, 1::2]
    return full, half


_FORM = (
    "must be x,y,w,h or the corners of a polygon x,y x,y x,y ..., in pixels or percent, e.g. "
    "0,0,320,180 or 75%,0,25%,20% or 0,0 50%,0 0,50%"
)


def _number(part: str) -> Value:
    pct = part.endswith("%")
    try:
        number = float(part[:-1] if pct else part)
    except ValueError:
        raise ValueError(_FORM) from None
    if not np.isfinite(number) or number < 0 or (pct and number > 100):
        raise ValueError(_FORM)
    return number, pct


def parse_mask(value: object) -> Mask | PolygonMask:
    """``x,y,w,h``, or a polygon's corners ``x,y x,y x,y ...``, with each value in pixels or percent;
    ValueError naming the forms otherwise."""
    groups = str(value).replace(";", " ").split()
    if len(groups) >= 3:
        corners = []
        for group in groups:
            xy = group.split(",")
            if len(xy) != 2:
                raise ValueError(_FORM)
            corners.append((_number(xy[0]), _number(xy[1])))
        return PolygonMask(tuple(corners))
    parts = "".join(groups).split(",")
    if len(parts) != 4:
        raise ValueError(_FORM)
    values = [_number(part) for part in parts]
    mask = Mask(*values)
    if values[2][0] == 0 or values[3][0] == 0:
        raise ValueError("must have a width and height above 0")
    return mask


def mask_step(masks: Sequence[Mask | PolygonMask]) -> Step:
    """A step painting ``masks`` black (full-range Y=0, neutral chroma)."""

    def apply(image: Yuv420, wall: float) -> Yuv420:
        for mask in masks:
            if isinstance(mask, PolygonMask):
                covered, half = mask.area(image.width, image.height)
                image.y[covered] = 0
                image.u[half] = 128
                image.v[half] = 128
                continue
            x0, y0, x1, y1 = mask.pixels(image.width, image.height)
            image.y[y0:y1, x0:x1] = 0
            image.u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = 128
            image.v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = 128
        return image

    return apply


@functools.cache
def _badge(height: int, label: str = "LIVE") -> tuple[np.ndarray, np.ndarray, int, int]:
    """The badge's luma and its size: white ``label`` on red, about 1/18 of the picture high."""
    h = max(16, height // 18) & ~1
    w = (h * 3 * len(label) // 4) & ~1
    text = text_mask(label, w, h, max(8, h * 2 // 3), align="center")
    red_y = 76  # full-range luma of pure red
    luma = np.where(text > 127, 255, red_y).astype(np.uint8)
    return luma, text, w, h


def live_badge_step(mic: Callable[[], bool] = lambda: False) -> Step:
    """A step drawing a red "LIVE" badge in the top-left corner: the picture says it is on air, and
    "LIVE MIC" while ``mic()`` (the camera's microphone is on: its sound is carried too)."""

    def apply(image: Yuv420, wall: float) -> Yuv420:
        luma, _, w, h = _badge(image.height, "LIVE MIC" if mic() else "LIVE")
        margin = max(2, image.height // 60) & ~1
        if w + margin > image.width or h + margin > image.height:
            return image
        image.y[margin : margin + h, margin : margin + w] = luma
        image.u[margin // 2 : (margin + h) // 2, margin // 2 : (margin + w) // 2] = 85  # red's Cb
        image.v[margin // 2 : (margin + h) // 2, margin // 2 : (margin + w) // 2] = 255  # red's Cr
        return image

    return apply
