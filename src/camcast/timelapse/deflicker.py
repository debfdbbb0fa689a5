"""No flicker: each picture's brightness brought toward a running average of the pictures' before it.

A camera's exposure jumps between pictures taken seconds apart (a cloud, the auto-exposure hunting), and
a film of them flickers. The running average (exponential, weight :data:`WEIGHT`) follows a slow change
(the day getting darker) and smooths a jump over a few pictures; the gain that brings a picture's mean
luma to it is applied to the luma, through a table. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np

#: The weight of each new picture in the running average: a jump is smoothed over about 1/WEIGHT pictures.
WEIGHT = 0.2
#: The most a picture is brightened or darkened by (a factor).
MOST = 2.0


def brightness(y: np.ndarray) -> float:
    """A picture's mean luma (from every 4th pixel each way: the mean of a picture needs no more)."""
    return float(y[::4, ::4].mean())


class Deflicker:
    """Call :meth:`apply` with each picture's luma plane, in order."""

    def __init__(self, weight: float = WEIGHT) -> None:
        self.weight = weight
        self.average: float | None = None

    def apply(self, y: np.ndarray) -> np.ndarray:
        """``y`` with its brightness brought to the running average (a new array; ``y`` is untouched)."""
        level = max(brightness(y), 1.0)
        self.average = level if self.average is None else self.average + self.weight * (level - self.average)
        gain = min(max(self.average / level, 1 / MOST), MOST)
        if abs(gain - 1) < 0.005:
            return y
        table = np.clip(np.arange(256) * gain + 0.5, 0, 255).astype(np.uint8)
        picture: np.ndarray = table[y]
        return picture
