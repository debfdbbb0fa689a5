"""Events per second over a sliding window: how fast frames arrive, are encoded and are sent."""

from __future__ import annotations

import time
from collections import deque


class Rate:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()

    def per_second(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(now - self._times[0], 1e-6)

    def spacing(self) -> float:
        """Events per second as they were spaced within the window (0 for fewer than two): the rate a
        source runs at, however long it has run or when it was last asked."""
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-6)
