"""Motion in a small grey picture: pictures in, what moved out. No clock, no threads, no I/O.

The detector sees about 1/8 of each side of the camera's picture (160x90 for 720p; see
:mod:`camcast.motion.grey`), a few times a second. Each picture goes through:

1. **The light model.** Lights, sun and exposure change the whole picture smoothly: the picture is
   fitted to the background as ``background x gain(x, y) + offset``, the gain a plane across the
   picture (a lamp on one side brightens that side more), robustly (moving pixels do not pull the
   fit). The background is carried into the new light, so what lights do never counts as motion.
2. **The difference** from the background, a running average that adapts, beyond a threshold per pixel:
   the sensitivity's floor, or a multiple of the noise learned at that pixel, whichever is higher.
   Isolated pixels are dropped (a pixel counts when most of its neighbours moved too).
3. **The spread test.** A change the light model could not explain (a light switched with shadows,
   camera shake, an exposure jump) touches most of the picture at once; it resets the background and
   is reported as ``light``, never as motion.
4. **Constant motion backs off.** The noise learned at a pixel rises where it moves all the time
   (leaves, rain, a screen): the threshold rises there instead of firing all day, and :attr:`raised`
   shows where. It falls back within minutes once the place is still.

One knob, ``sensitivity`` (0..1), sets the thresholds (:func:`thresholds`). ``watch`` (a boolean
picture: the zones less the ignored areas) limits where motion counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from camcast.picture.regions import Mask

Grey = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]

#: Noise (mean absolute luma difference) assumed at a pixel before any is learned. The 1/8 picture
#: averages 64 sensor pixels, so a camera's noise of 3–5 levels is well under 1 here.
INITIAL_NOISE = 1.0
#: The threshold is this multiple of a pixel's learned noise, when that is above the floor.
NOISE_FACTOR = 4.0
#: A change touching more than this share of the picture's cells is the light or the camera, not motion.
SPREAD_CELLS = 0.7
#: ...as is a change covering more than this share of the watched area.
SPREAD_AREA = 0.5
#: Cells across and down for the spread test.
GRID = (8, 6)
#: The background follows the picture with this weight per analysis (at 5 a second: about 4 s).
BACKGROUND_RATE = 0.05
#: Where something moves, the background follows at this fraction of the rate (a parked car joins it
#: in a minute or two, a passer-by does not).
MOVING_RATE = 0.1
#: The noise learned at a pixel rises and falls with these weights per analysis (at 5 a second: about
#: 20 s to rise, a minute to fall back).
NOISE_RISE = 0.01
NOISE_FALL = 0.003


@dataclass(frozen=True)
class Thresholds:
    """What ``sensitivity`` means, in numbers (documented in the README's motion section)."""

    sensitivity: float
    #: Luma levels (0–255) a pixel must differ from the background by, at least.
    pixel: float
    #: The least share of the watched area that must move for the picture to count as motion.
    area: float


def thresholds(sensitivity: float) -> Thresholds:
    """0 is the least sensitive (30 levels, 0.5% of the picture), 1 the most (6 levels, 0.02%); 0.5 is
    18 levels and 0.1%: a thing of about 30x30 pixels in a 1280x720 picture."""
    s = min(1.0, max(0.0, sensitivity))
    return Thresholds(s, pixel=30.0 - 24.0 * s, area=0.005 * 0.04**s)


@dataclass(frozen=True)
class Analysis:
    """What one picture showed. ``share`` is the moving part of the watched area; ``box`` bounds what
    moved (fractions of the picture: left, top, right, bottom); ``light`` is a change of the whole
    picture that reset the background; ``learning`` is the first picture (nothing to compare yet)."""

    moving: bool
    share: float
    box: tuple[float, float, float, float] | None
    light: bool = False
    learning: bool = False
    mask: Mask | None = None


class Detector:
    """One camera's motion detector. Feed it :meth:`analyse` with pictures of one size."""

    def __init__(self, sensitivity: float = 0.5, watch: Mask | None = None) -> None:
        self.limits = thresholds(sensitivity)
        self.watch = watch
        self.background: Floats | None = None
        self.noise: Floats | None = None
        self._plane: tuple[Floats, Floats] | None = None

    def reset(self) -> None:
        """Forget the background (after a pause, or when the picture changes size)."""
        self.background = None
        self.noise = None

    @property
    def raised(self) -> Mask | None:
        """Where constant motion raised the threshold above the sensitivity's floor."""
        if self.noise is None:
            return None
        return np.asarray(self.noise * NOISE_FACTOR > self.limits.pixel * 1.5)

    def analyse(self, grey: Grey) -> Analysis:
        picture = grey.astype(np.float32)
        if self.background is None or self.background.shape != picture.shape:
            self.background = picture
            self.noise = np.full(picture.shape, INITIAL_NOISE, np.float32)
            if self.watch is not None and self.watch.shape != picture.shape:
                raise ValueError(f"the watched area is {self.watch.shape}, the picture {picture.shape}")
            return Analysis(False, 0.0, None, learning=True)
        assert self.noise is not None
        watch = self.watch if self.watch is not None else np.ones(picture.shape, np.bool_)
        lit = self._in_this_light(self.background, picture, watch)
        residual = picture - lit
        size = np.abs(residual)
        moving = size > np.maximum(self.limits.pixel, NOISE_FACTOR * self.noise)
        moving = _drop_isolated(moving) & watch
        watched = max(int(watch.sum()), 1)
        share = float(moving.sum()) / watched
        if share > SPREAD_AREA or _cells_touched(moving, watch) > SPREAD_CELLS:
            self.background = picture  # the light or the camera changed: start again from here
            return Analysis(False, share, None, light=True)
        # The background follows the picture (slowly where something moves), in the new light.
        rate = np.where(moving, BACKGROUND_RATE * MOVING_RATE, BACKGROUND_RATE).astype(np.float32)
        self.background = lit + rate * residual
        rise = np.minimum(size, self.noise * 3 + 2 * self.limits.pixel)  # one big change counts little
        weight = np.where(rise > self.noise, NOISE_RISE, NOISE_FALL).astype(np.float32)
        self.noise = self.noise + weight * (rise - self.noise)
        is_motion = share >= self.limits.area
        return Analysis(is_motion, share, _box(moving) if is_motion else None, mask=moving)

    def _in_this_light(self, background: Floats, picture: Floats, watch: Mask) -> Floats:
        """The background as it would look in the picture's light: ``background x (a + b x + c y) + d``,
        fitted by least squares on every other pixel, then again without those the first fit left far
        off (what moved), clipped to the range of luma."""
        x, y = self._coordinates(picture.shape)
        sample = np.zeros(picture.shape, np.bool_)
        sample[::2, ::2] = True
        sample &= watch
        if sample.sum() < 16:
            return background
        columns = np.stack([background, background * x, background * y, np.ones_like(background)], -1)
        a, target = columns[sample], picture[sample]
        for _ in range(2):
            coef, *_ = np.linalg.lstsq(a, target, rcond=None)
            off = np.abs(a @ coef - target)
            keep = off <= max(3.0 * float(np.median(off)), self.limits.pixel / 2)
            if keep.all() or keep.sum() < 16:
                break
            a, target = a[keep], target[keep]
        lit = (columns @ coef.astype(np.float32)).astype(np.float32)
        return np.clip(lit, 0.0, 255.0)

    def _coordinates(self, shape: tuple[int, ...]) -> tuple[Floats, Floats]:
        if self._plane is None or self._plane[0].shape != shape:
            height, width = shape
            ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
            self._plane = (xs / width - 0.5, ys / height - 0.5)
        return self._plane


def _drop_isolated(moving: Mask) -> Mask:
    """``moving`` without pixels that fewer than 4 of their 8 neighbours share."""
    padded = np.pad(moving, 1).astype(np.uint8)
    h, w = moving.shape
    neighbours = sum(
        padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx
    )
    return moving & (np.asarray(neighbours) >= 4)


def _cells_touched(moving: Mask, watch: Mask) -> float:
    """The share of the watched cells of a grid in which more than 2% of the pixels moved."""
    columns, rows = GRID
    h, w = moving.shape
    starts = ([r * h // rows for r in range(rows)], [c * w // columns for c in range(columns)])

    def per_cell(mask: Mask) -> npt.NDArray[np.int64]:
        counts = np.add.reduceat(mask.astype(np.int64), starts[0], axis=0)
        return np.add.reduceat(counts, starts[1], axis=1)

    area = per_cell(watch)
    watched = area > 0
    if not watched.any():
        return 0.0
    touched = per_cell(moving) > 0.02 * area
    return float(touched[watched].sum()) / float(watched.sum())


def _box(moving: Mask) -> tuple[float, float, float, float] | None:
    rows = np.flatnonzero(moving.any(axis=1))
    cols = np.flatnonzero(moving.any(axis=0))
    if not rows.size:
        return None
    h, w = moving.shape
    return (cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h)
