"""Test scenes with known truth for motion detection: a still textured scene with sensor noise, things
crossing it, lights going down and up (evenly, as a lamp on one side, at once), and leaves moving all
the time. Deterministic (seeded). Used by tests/test_motion.py and bench/motion.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

#: Frames of sensor noise drawn per scene, used in turn.
NOISE_POOL = 16


@dataclass(frozen=True)
class Mover:
    """A rectangle of ``luma`` that crosses from ``x0`` to ``x1`` (fractions) at height ``y`` between
    ``start`` and ``end`` seconds; outside that it is not in the picture."""

    start: float
    end: float
    width: int
    height: int
    y: float
    luma: int
    x0: float = -0.1
    x1: float = 1.0


@dataclass(frozen=True)
class Light:
    """The light changes from ``gain_from`` to ``gain_to`` between ``start`` and ``end`` (at once when
    they are equal); ``slope`` makes one side change more (a lamp on the left: gain x (1 + slope x
    (0.5 - x)))."""

    start: float
    end: float
    gain_from: float
    gain_to: float
    slope: float = 0.0


@dataclass
class Scene:
    width: int = 1280
    height: int = 720
    seconds: float = 60.0
    noise: float = 4.0
    movers: tuple[Mover, ...] = ()
    lights: tuple[Light, ...] = ()
    #: A region (fractions: left, top, right, bottom) where leaves move all the time.
    leaves: tuple[float, float, float, float] | None = None
    #: When the camera is knocked: the picture moves by a few pixels for 0.4 s from each time.
    shakes: tuple[float, ...] = ()
    seed: int = 1
    _background: np.ndarray = field(init=False, repr=False)
    _xs: np.ndarray = field(init=False, repr=False)
    _noise: list[np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        coarse = rng.integers(60, 190, (12, 20)).astype(np.uint8)
        smooth = np.asarray(
            Image.fromarray(coarse).resize((self.width, self.height), Image.Resampling.BICUBIC)
        )
        background = smooth.astype(np.float32)
        for _ in range(12):  # some hard edges: furniture, a window frame
            x, y = int(rng.integers(0, self.width - 100)), int(rng.integers(0, self.height - 100))
            w, h = int(rng.integers(30, 200)), int(rng.integers(30, 200))
            background[y : y + h, x : x + w] = float(rng.integers(40, 220))
        self._background = background
        self._xs = np.linspace(0.0, 1.0, self.width, dtype=np.float32)[None, :]
        # Sensor noise: a pool of frames drawn once, taken in turn (drawing a 720p frame of normal
        # samples costs more than everything else a frame needs; 16 in turn are noise all the same to
        # a background that averages over seconds).
        self._noise = [
            rng.normal(0.0, self.noise, (self.height, self.width)).astype(np.float32)
            for _ in range(NOISE_POOL)
        ]

    @property
    def truth(self) -> list[tuple[float, float]]:
        """When something moves: each mover's time in the picture (those overlapping merged)."""
        spans: list[tuple[float, float]] = []
        for m in sorted(self.movers, key=lambda m: m.start):
            start, end = self._visible(m)
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            else:
                spans.append((start, end))
        return spans

    def _visible(self, m: Mover) -> tuple[float, float]:
        """The part of a mover's crossing when it is inside the picture."""
        speed = (m.x1 - m.x0) / (m.end - m.start)
        enter = m.start + max(0.0, (-m.width / self.width - m.x0) / speed)
        leave = m.start + min(m.end - m.start, (1.0 - m.x0) / speed)
        return enter, leave

    def gain(self, t: float) -> np.ndarray | float:
        gain: np.ndarray | float = 1.0
        for light in self.lights:
            if t < light.start:
                continue
            span = light.end - light.start
            done = 1.0 if span <= 0 or t >= light.end else (t - light.start) / span
            g = light.gain_from + (light.gain_to - light.gain_from) * done
            gain = gain * (g * (1 + light.slope * (0.5 - self._xs)) if light.slope else g)
        return gain

    def luma(self, t: float, index: int) -> np.ndarray:
        """The picture's luma at ``t`` seconds; ``index`` seeds its noise (and the leaves)."""
        picture = self._background.copy()
        for m in self.movers:
            if not m.start <= t <= m.end:
                continue
            x = m.x0 + (m.x1 - m.x0) * (t - m.start) / (m.end - m.start)
            left, top = int(x * self.width), int(m.y * self.height)
            picture[top : top + m.height, max(left, 0) : max(left + m.width, 0)] = m.luma
        rng = np.random.default_rng(self.seed * 100_003 + index)
        if self.leaves is not None:
            left, top, right, bottom = self.leaves
            x0, y0 = int(left * self.width), int(top * self.height)
            x1, y1 = int(right * self.width), int(bottom * self.height)
            blocks = rng.integers(70, 170, ((y1 - y0) // 8 + 1, (x1 - x0) // 8 + 1)).astype(np.float32)
            picture[y0:y1, x0:x1] = np.kron(blocks, np.ones((8, 8), np.float32))[: y1 - y0, : x1 - x0]
        if any(start <= t < start + 0.4 for start in self.shakes):
            picture = np.roll(picture, (24, 40), axis=(0, 1))
        picture *= self.gain(t)
        picture += self._noise[index % NOISE_POOL]
        return np.clip(picture, 0, 255).astype(np.uint8)

    def frames(self, fps: float) -> Iterator[tuple[float, np.ndarray]]:
        """(time, luma) at ``fps`` for the whole scene."""
        for index in range(int(self.seconds * fps)):
            t = index / fps
            yield t, self.luma(t, index)


def matched(
    found: list[tuple[float, float]], truth: list[tuple[float, float]], within: float
) -> tuple[int, int, int]:
    """(found, missed, false): events whose start and end are both within ``within`` seconds of a
    true span, true spans no event matched, and events that match none."""
    hits = 0
    used: set[int] = set()
    for start, end in found:
        match = next(
            (
                i
                for i, (s, e) in enumerate(truth)
                if i not in used and abs(start - s) <= within and abs(end - e) <= within
            ),
            None,
        )
        if match is not None:
            used.add(match)
            hits += 1
    return hits, len(truth) - hits, len(found) - hits
