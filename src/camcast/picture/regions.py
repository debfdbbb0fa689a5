"""Zones: where motion counts (and where it never does), as fractions of the picture so that they hold
at any size (picture geometry, below both the settings that parse them and the detector that uses
them). A zone is a rectangle ``[left, top, right, bottom]`` or a polygon ``[[x, y], ...]``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

#: A picture-sized boolean mask: True where a region covers.
Mask = npt.NDArray[np.bool_]

_FORMS = (
    "a rectangle [left, top, right, bottom] or a polygon [[x, y], [x, y], [x, y], ...] in fractions "
    'of the picture (0 to 1), or as text "0,0.4,1,1" or "0.1,0.1 0.9,0.1 0.5,0.9"'
)


@dataclass(frozen=True)
class Region:
    """A polygon with corners in fractions of the picture; ``rectangle`` when it was given as one."""

    points: tuple[tuple[float, float], ...]
    rectangle: bool = False

    def raster(self, width: int, height: int) -> Mask:
        """The region as a boolean picture of ``width`` x ``height``."""
        image = Image.new("1", (width, height), 0)
        corners = [(x * width, y * height) for x, y in self.points]
        if self.rectangle:
            (left, top), (right, bottom) = corners[0], corners[2]
            ImageDraw.Draw(image).rectangle((left, top, right - 1, bottom - 1), fill=1)
        else:
            ImageDraw.Draw(image).polygon(corners, fill=1)
        return np.asarray(image, dtype=np.bool_)

    def to_toml(self) -> str:
        if self.rectangle:
            (left, top), (right, bottom) = self.points[0], self.points[2]
            return f"[{left:g}, {top:g}, {right:g}, {bottom:g}]"
        return "[" + ", ".join(f"[{x:g}, {y:g}]" for x, y in self.points) + "]"

    def __str__(self) -> str:
        return self.to_toml()


def parse_region(value: Any) -> Region:
    """A :class:`Region` from a TOML array or a flag's text (see the forms above)."""
    if isinstance(value, str):
        parts = value.replace(";", " ").split()
        numbers = [p for part in parts for p in part.split(",") if p]
        value = numbers if len(parts) == 1 else [part.split(",") for part in parts]
    try:
        if isinstance(value, list | tuple) and len(value) == 4 and not isinstance(value[0], list | tuple):
            left, top, right, bottom = (_fraction(v) for v in value)
            if not (left < right and top < bottom):
                raise ValueError("a rectangle's right must be past its left and its bottom below its top")
            return Region(((left, top), (right, top), (right, bottom), (left, bottom)), rectangle=True)
        if isinstance(value, list | tuple) and len(value) >= 3:
            points = []
            for point in value:
                if not isinstance(point, list | tuple) or len(point) != 2:
                    raise ValueError(f"must be {_FORMS}")
                points.append((_fraction(point[0]), _fraction(point[1])))
            return Region(tuple(points))
    except (TypeError, ValueError) as exc:
        if "must be" in str(exc) or "rectangle" in str(exc):
            raise
        raise ValueError(f"must be {_FORMS}") from None
    raise ValueError(f"must be {_FORMS}")


def _fraction(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"must be {_FORMS}")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"corners are fractions of the picture, from 0 to 1 ({_FORMS})")
    return number


def watched(zones: tuple[Region, ...], ignore: tuple[Region, ...], width: int, height: int) -> Mask:
    """Where motion counts in a ``width`` x ``height`` picture: the zones (all of it when none), less
    the ignored regions."""
    area = np.zeros((height, width), np.bool_) if zones else np.ones((height, width), np.bool_)
    for zone in zones:
        area |= zone.raster(width, height)
    for region in ignore:
        area &= ~region.raster(width, height)
    return area
