"""Brute-force limits: too many failed logins from one address lock that address out for a while."""

from __future__ import annotations

import time
from collections import deque

#: After FAILURES failed attempts within WINDOW seconds, an address is refused for LOCKOUT seconds
#: (issue 4: 5 in 5 minutes, then 10 minutes). Other addresses are not affected.
FAILURES = 5
WINDOW = 300.0
LOCKOUT = 600.0
#: Addresses remembered at most; the oldest are forgotten first, so a flood of addresses cannot grow
#: memory without bound.
MAX_TRACKED = 10_000


class FailureLimiter:
    def __init__(self, failures: int = FAILURES, window: float = WINDOW, lockout: float = LOCKOUT) -> None:
        self.failures, self.window, self.lockout = failures, window, lockout
        self._failed: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}

    def retry_after(self, address: str, now: float | None = None) -> float:
        """Seconds ``address`` must still wait, or 0 when it may try."""
        now = time.monotonic() if now is None else now
        until = self._blocked.get(address)
        if until is None:
            return 0.0
        if until <= now:
            del self._blocked[address]
            return 0.0
        return until - now

    def fail(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        times = self._failed.setdefault(address, deque())
        times.append(now)
        while times and times[0] < now - self.window:
            times.popleft()
        if len(times) >= self.failures:
            self._blocked[address] = now + self.lockout
            times.clear()
        if len(self._failed) > MAX_TRACKED:
            del self._failed[next(iter(self._failed))]
        if len(self._blocked) > MAX_TRACKED:
            del self._blocked[next(iter(self._blocked))]

    def succeed(self, address: str) -> None:
        self._failed.pop(address, None)
