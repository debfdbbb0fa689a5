"""The one bridge from the event loop to a thread: a worker with a bounded queue of jobs.

Blocking work (writing a recording, analysing a picture, drawing and encoding, pushing to a media
server) goes to a :class:`Worker`: one thread, jobs run in the order given, each job's result (or
exception) handed back on the event loop as an :class:`asyncio.Future`. The queue holds at most
``size`` jobs; when it is full the worker's ``when_full`` policy decides, so a stalled disk or a slow
CPU never grows memory:

- ``"refuse"``: the new job is not queued (:meth:`Worker.submit` returns None) and the caller decides
  what that means (the recorder ends its clip and marks the gap);
- ``"replace"``: the oldest waiting job is dropped (its future cancelled) for the new one, so the
  newest work wins (motion analyses the newest picture, never a backlog);
- ``"keyframe"``: the oldest waiting jobs are dropped up to the next one marked ``keyframe``, so what
  follows a gap in a video starts with a picture a decoder can use (pushing to a media server).

A job is a function and its arguments: settings go with the job as immutable values, so a reload
between two jobs changes the next job, never one that is running. The thread is the only one to
touch what the jobs touch (an encoder's state, an open file). (The other direction, a capture thread
handing frames to the loop, is the source's one-slot bridge: :mod:`camcast.sources.threaded`.)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from camcast.errors import CamcastError

log = logging.getLogger(__name__)

Policy = Literal["refuse", "replace", "keyframe"]


@dataclass
class _Job:
    run: Callable[[], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    keyframe: bool = False


class Worker:
    """See the module docstring. ``name`` names the thread (``camcast-NAME``)."""

    def __init__(self, name: str, size: int, when_full: Policy) -> None:
        if size < 1:
            raise ValueError("a worker's queue holds at least one job")
        self.name = name
        self.size = size
        self.when_full = when_full
        self.refused = 0  # jobs not queued ("refuse")
        self.replaced = 0  # jobs dropped for newer ones ("replace", "keyframe")
        self._jobs: collections.deque[_Job] = collections.deque()
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def closed(self) -> bool:
        """Taking no more jobs (:meth:`close` was called)."""
        return self._closing

    @property
    def alive(self) -> bool:
        """The thread is running (a job, or waiting for one)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def waiting(self) -> int:
        """Jobs queued and not started."""
        return len(self._jobs)

    def submit(
        self, fn: Callable[..., Any], *args: Any, force: bool = False, keyframe: bool = False
    ) -> asyncio.Future[Any] | None:
        """Queue ``fn(*args)`` (from the event loop); returns its future, or None when the queue is
        full and the policy refuses. ``force`` queues it even then: for the few jobs that end what
        others began (closing a file), which the caller bounds by its own logic. ``keyframe`` marks
        where the ``"keyframe"`` policy may resume."""
        loop = asyncio.get_running_loop()
        job = _Job(lambda: fn(*args), loop.create_future(), loop, keyframe)
        with self._wake:
            if self._closing:
                raise RuntimeError(f"worker {self.name} is closed")
            if len(self._jobs) >= self.size and not force:
                if self.when_full == "refuse":
                    self.refused += 1
                    return None
                self._drop()
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"camcast-{self.name}", daemon=True)
                self._thread.start()
            self._wake.notify()
        return job.future

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the thread, awaited; raises :class:`asyncio.CancelledError` if the job was
        dropped ("replace") and :class:`WorkerFull` if refused ("refuse")."""
        future = self.submit(fn, *args)
        if future is None:
            raise WorkerFull(f"{self.name}: {self.size} jobs already wait (the disk is not answering?)")
        return await future

    def _drop(self) -> None:
        """Make room by the policy: the oldest job, and with ``"keyframe"`` those after it up to the
        next keyframe (called holding the lock)."""
        while True:
            self._jobs.popleft().future.cancel()
            self.replaced += 1
            if self.when_full != "keyframe" or not self._jobs or self._jobs[0].keyframe:
                return

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._jobs and not self._closing:
                    self._wake.wait()
                if not self._jobs:
                    return  # closing, and nothing left
                job = self._jobs.popleft()
            try:
                result = job.run()
            except BaseException as exc:  # handed to whoever awaits the job
                _deliver(job, None, exc)
            else:
                _deliver(job, result, None)

    def close(self, *, drain: bool = True) -> None:
        """Stop taking jobs; ``drain``: let the queued ones run (else they are cancelled). Returns at
        once: :meth:`join` waits for the thread."""
        with self._wake:
            self._closing = True
            if not drain:
                while self._jobs:
                    self._jobs.popleft().future.cancel()
            self._wake.notify()

    def join(self, timeout: float | None = None) -> None:
        """Wait (blocking) for the thread to finish its last job."""
        if self._thread is not None:
            self._thread.join(timeout)

    async def aclose(self, *, drain: bool = True, seconds: float | None = None) -> None:
        """Close, and wait in a thread of the loop's default pool for the last job to finish (at most
        ``seconds``: a job stuck on a dead disk is left to its daemon thread)."""
        self.close(drain=drain)
        await asyncio.to_thread(self.join, seconds)
        await asyncio.sleep(0)  # the last results, handed over by call_soon_threadsafe


class WorkerFull(CamcastError):
    """A job refused: the worker's queue is full."""


def _deliver(job: _Job, result: Any, exc: BaseException | None) -> None:
    def settle() -> None:
        if job.future.done():
            return  # cancelled meanwhile: nobody waits for it
        if exc is not None:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
        job.loop.call_soon_threadsafe(settle)
