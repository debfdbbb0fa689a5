"""The supervisor: every long-running part of camcast (a camera's capture, a publisher, a motion
watcher, a notifier, the recorders, the status line) is a child under it, and one child's failure
never stops another.

A child is a name and a function that makes its coroutine. When the coroutine raises:

- a :class:`~camcast.errors.CamcastError` (a known condition: a store refused, a broker gone) is one
  warning line;
- anything else is a bug: logged once at ERROR with its traceback (the log file keeps it; the console
  shows one line, see :mod:`camcast.logs`), counted, and shown to the owner in ``/status.json``;

and either way the child is started again after a wait of 1 s, doubling up to 60 s; a child that ran
for a minute since its last start begins again at 1 s. A child that returns has ended by itself (a
video file that does not loop) and is not restarted. Like Erlang/OTP's ``transient`` restart strategy,
one child at a time: the others never notice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from camcast.errors import CamcastError

log = logging.getLogger("camcast")

#: The first wait before a failed child starts again (seconds), doubled after each failure up to
#: BACKOFF_MAX: a bug that fails at once costs one traceback a minute, not a busy loop.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
#: A child that ran this long (seconds) since its last start is healthy: its next failure waits
#: BACKOFF_FIRST again.
STABLE_AFTER = 60.0

Factory = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Child:
    """One supervised part, as the status shows it."""

    name: str
    factory: Factory
    state: str = "starting"  # running, restarting, ended, stopped
    failures: int = 0  # unexpected exceptions (bugs), since the process started
    refusals: int = 0  # CamcastErrors: a known condition that stopped the child
    last_error: str | None = None
    last_failure: float | None = None  # Unix time
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # set once it returned

    def describe(self) -> dict[str, object]:
        return {
            "state": self.state, "failures": self.failures, "refusals": self.refusals,
            "last_error": self.last_error, "last_failure": self.last_failure,
        }  # fmt: skip


class Supervisor:
    """Children, each run in its own task until :meth:`run` is cancelled (see the module docstring)."""

    def __init__(self) -> None:
        self.children: dict[str, Child] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None

    def add(self, name: str, factory: Factory) -> Child:
        """Supervise ``factory()``'s coroutine under ``name`` (unique); started now if :meth:`run` runs,
        else when it starts."""
        if name in self.children:
            raise ValueError(f"a child named {name!r} is supervised already")
        child = self.children[name] = Child(name, factory)
        if self._group is not None:
            self._start(child)
        return child

    def __iter__(self) -> Iterator[Child]:
        return iter(self.children.values())

    async def run(self) -> None:
        """Keep every child running until cancelled; then every child is cancelled and awaited."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                for child in self.children.values():
                    self._start(child)
                await asyncio.Event().wait()
            finally:
                self._group = None
                for task in self._tasks.values():
                    task.cancel()

    def _start(self, child: Child) -> None:
        assert self._group is not None
        self._tasks[child.name] = self._group.create_task(self._keep(child), name=f"camcast {child.name}")

    async def _keep(self, child: Child) -> None:
        try:
            await self._restarting(child)
        finally:
            if child.state != "ended":
                child.state = "stopped"

    async def _restarting(self, child: Child) -> None:
        wait = BACKOFF_FIRST
        while True:
            started = time.monotonic()
            child.state = "running"
            try:
                await child.factory()
            except Exception as raised:
                exc = _cause(raised)
                if isinstance(exc, CamcastError):
                    wait = self._failed(child, str(exc), started, wait)
                    child.refusals += 1
                    log.warning("%s stopped: %s; starting it again in %g s", child.name, exc, wait)
                else:
                    wait = self._failed(child, f"{type(exc).__name__}: {exc}", started, wait)
                    child.failures += 1
                    log.error("%s failed (%s: %s); starting it again in %g s", child.name,
                              type(exc).__name__, exc, wait, exc_info=raised)  # fmt: skip
            else:
                child.state = "ended"
                child.ended.set()
                return
            await asyncio.sleep(wait)
            wait = min(wait * 2, BACKOFF_MAX)

    @staticmethod
    def _failed(child: Child, error: str, started: float, wait: float) -> float:
        """Note the failure; returns the wait before the next start."""
        if time.monotonic() - started >= STABLE_AFTER:
            wait = BACKOFF_FIRST
        child.last_error = error
        child.last_failure = time.time()
        child.state = "restarting"
        return wait


def _cause(exc: Exception) -> Exception:
    """The one exception inside the task groups ``exc`` came through (a part's own tasks), else
    ``exc``."""
    while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
