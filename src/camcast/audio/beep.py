"""The test pattern's sound: a 100 ms tone at the start of each second of the monotonic clock, when
the pattern shows its flash (:data:`~camcast.sources.pattern.FLASH_SECONDS`).

Both are drawn from the one clock, so a recording, a segment or a stream that plays the beep exactly
when it shows the flash is in sync; how far apart they land is what ``bench/sync.py`` measures. The
chunks are made on the event loop as their time comes (20 ms each, a few microseconds of numpy) and
stamped with the time their first sample stands for, as a microphone's are.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable

import numpy as np

from camcast.frames import RATE, Chunk, dbfs
from camcast.sources.pattern import FLASH_SECONDS

#: The tone: 1 kHz at a quarter of full scale (-15 dBFS RMS while it sounds).
TONE_HZ = 1000.0
AMPLITUDE = 8192
#: Samples per chunk: 20 ms, an Opus frame.
CHUNK = 960


def beep_samples(start: float, count: int) -> np.ndarray:
    """``count`` samples of the beep from monotonic time ``start`` on: the tone in the first
    :data:`FLASH_SECONDS` of each second, silence otherwise."""
    times = start + np.arange(count) / RATE
    sounding = np.mod(times + 1e-6, 1.0) < FLASH_SECONDS
    tone = np.sin(2 * np.pi * TONE_HZ * times) * AMPLITUDE
    return np.where(sounding, tone, 0).astype(np.int16)


#: One second of the beep, from a whole second of the clock on: the tone's period (1 ms) divides a
#: second, so every chunk is a slice of it (computing each anew with numpy's sin was 0.7% of a core).
SECOND = beep_samples(0.0, RATE)
SECOND.setflags(write=False)


def beep_chunk(start: float, count: int = CHUNK) -> np.ndarray:
    """The same as :func:`beep_samples`, sliced from :data:`SECOND` (``start`` rounded to a sample)."""
    first = round(start * RATE) % RATE
    if first + count <= RATE:
        return SECOND[first : first + count]
    return np.concatenate((SECOND[first:], SECOND[: first + count - RATE]))


class Beep:
    """The pattern's beep for camera ``camera``, silent while ``paused()`` (the shutter)."""

    device = "the test pattern's beep"

    def __init__(self, camera: str, paused: Callable[[], bool]) -> None:
        self.camera = camera
        self.paused = paused
        self.deliver: Callable[[Chunk], None] = lambda chunk: None
        self.state = "off"
        self.level: float | None = None
        self.samples = 0

    @property
    def part(self) -> str:
        return f"{self.camera}: beep"

    async def run(self) -> None:
        """Play until cancelled: each chunk once its last sample's time has come."""
        step = CHUNK / RATE
        start = math.ceil(time.monotonic() / step) * step
        try:
            while True:
                delay = start + step - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -1.0:  # the loop stalled: start again from now, leaving a gap
                    start = math.ceil(time.monotonic() / step) * step
                    continue
                if self.paused():
                    self.state, self.level = "silenced", None
                else:
                    samples = beep_chunk(start)
                    self.state, self.level = "on", _level(round(start * RATE) % RATE)
                    self.samples += CHUNK
                    self.deliver(Chunk(samples, start))
                start += step
        finally:
            self.state, self.level = "off", None


@functools.cache
def _level(first: int) -> float:
    """The level of the chunk that starts ``first`` samples into the second (50 of them)."""
    return dbfs(beep_chunk(first / RATE))
