"""What is failing now without stopping anything, part by part: a write a full disk refuses, a
notifier whose receiver does not answer, a store that refuses uploads. The one record the owner's
status (``failing``) and ``/metrics`` (``camcast_failing``, ``camcast_failures_total``) read, and the
one place that decides what reaches the log: a part's first failure is one warning, the failures after
it are counted, not logged, and its recovery is one line. A camera left running for months on a full
disk logs two lines, not a million.

The process has one :data:`HEALTH`, as it has one logging tree: the parts that fail are everywhere (the
detector's thread, the viewer log's worker, a notifier's task), and each names itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

from camcast.clock import iso

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trouble:
    """A part failing since ``since`` (Unix time): ``count`` failures, the last at ``last`` with ``error``."""

    since: float
    last: float
    error: str
    count: int

    def describe(self) -> dict[str, object]:
        return {"since": iso(self.since), "last": iso(self.last), "error": self.error, "failures": self.count}


class Health:
    """Safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing: dict[str, Trouble] = {}
        #: Failures by part since the start, recovered or not (the counter /metrics shows).
        self.failures: Counter[str] = Counter()

    def failed(self, part: str, error: str) -> None:
        """``part`` failed with ``error`` (one line, naming what and why). Logged the first time since
        it last worked."""
        now = time.time()
        with self._lock:
            before = self._failing.get(part)
            count = 1 if before is None else before.count + 1
            self._failing[part] = Trouble(now if before is None else before.since, now, error, count)
            self.failures[part] += 1
        if before is None:
            log.warning("%s: %s", part, error)

    def worked(self, part: str) -> None:
        """``part`` did what it failed to do before (if it did fail): said once."""
        if part not in self._failing:  # the common case, without the lock
            return
        with self._lock:
            trouble = self._failing.pop(part, None)
        if trouble is not None:
            log.warning(
                "%s: working again, after %d failures since %s", part, trouble.count, iso(trouble.since)
            )

    def forget(self, part: str) -> None:
        """``part`` is gone (a reload removed it, or the server stops): no longer listed as failing."""
        with self._lock:
            self._failing.pop(part, None)

    def failing(self) -> dict[str, Trouble]:
        """The parts failing now."""
        with self._lock:
            return dict(self._failing)

    def describe(self) -> dict[str, dict[str, object]]:
        return {part: trouble.describe() for part, trouble in sorted(self.failing().items())}


#: The process's record.
HEALTH = Health()
