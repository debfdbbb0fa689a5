"""The processing step: the one shape every change to a picture takes (geometry, masks, overlays)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from camcast.frames import Yuv420

#: A step takes a frame's picture (which it may change in place) and its capture time (Unix seconds),
#: and returns the picture to continue with.
Step = Callable[[Yuv420, float], Yuv420]


def apply(steps: Sequence[Step], image: Yuv420, wall: float) -> Yuv420:
    """``steps`` applied in order to ``image``."""
    for step in steps:
        image = step(image, wall)
    return image
