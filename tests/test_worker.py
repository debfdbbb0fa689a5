"""The bounded worker between the event loop and a thread: order, results, the policies when full."""

from __future__ import annotations

import asyncio
import threading

import pytest

from camcast.runtime.worker import Worker
from tests.waiting import until


async def test_jobs_run_in_order_in_one_thread_and_their_results_come_back() -> None:
    """Results and exceptions reach the loop as each job's future; every job runs in the same thread."""
    worker = Worker("order", size=10, when_full="refuse")
    seen: list[tuple[int, str]] = []

    def job(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        return n * n

    def boom() -> None:
        raise ValueError("no")

    futures = [worker.submit(job, n) for n in range(5)]
    failed = worker.submit(boom)
    assert [await f for f in futures if f is not None] == [0, 1, 4, 9, 16]
    with pytest.raises(ValueError, match="no"):
        await failed  # type: ignore[misc]
    assert [n for n, _ in seen] == list(range(5)) and {t for _, t in seen} == {"camcast-order"}
    await worker.aclose()


async def test_refuse_keeps_the_queue_bounded_while_the_thread_is_stuck() -> None:
    """With the thread blocked (a stalled disk), at most ``size`` jobs wait; the rest are refused and
    counted; a forced job still goes in; everything queued runs once the thread is free."""
    worker = Worker("stuck", size=3, when_full="refuse")
    gate = threading.Event()
    done: list[int] = []

    def write(n: int) -> None:
        gate.wait(10)
        done.append(n)

    first = worker.submit(write, 0)
    await until(lambda: worker.waiting == 0)  # the thread holds job 0, blocked
    accepted = [worker.submit(write, n) for n in range(1, 101)]
    assert sum(f is not None for f in accepted) == 3 and worker.refused == 97
    closing = worker.submit(write, -1, force=True)
    assert closing is not None and worker.waiting == 4
    gate.set()
    await asyncio.gather(first, closing)  # type: ignore[arg-type]
    assert done == [0, 1, 2, 3, -1]
    await worker.aclose()


async def test_replace_runs_the_newest_and_cancels_what_it_replaced() -> None:
    """With ``replace`` a new job pushes out the oldest waiting one, whose awaiter sees it cancelled."""
    worker = Worker("newest", size=1, when_full="replace")
    gate = threading.Event()
    ran: list[int] = []

    def analyse(n: int) -> int:
        gate.wait(10)
        ran.append(n)
        return n

    busy = worker.submit(analyse, 0)
    await until(lambda: worker.waiting == 0)
    old = worker.submit(analyse, 1)
    new = worker.submit(analyse, 2)
    assert old is not None and old.cancelled() and worker.replaced == 1
    gate.set()
    assert await busy == 0 and await new == 2  # type: ignore[misc]
    assert ran == [0, 2]
    await worker.aclose()


async def test_keyframe_policy_drops_up_to_the_next_keyframe() -> None:
    """With ``keyframe`` a full queue drops the oldest packets up to the next keyframe, so what is sent
    after the gap starts with a picture a decoder can use."""
    worker = Worker("video", size=4, when_full="keyframe")
    gate = threading.Event()
    sent: list[str] = []

    def send(name: str) -> None:
        gate.wait(10)
        sent.append(name)

    worker.submit(send, "K0", keyframe=True)
    await until(lambda: worker.waiting == 0)
    for name in ("P1", "P2", "K3", "P4", "P5"):  # the fifth does not fit: P1 and P2 go
        worker.submit(send, name, keyframe=name.startswith("K"))
    assert worker.waiting == 3 and worker.replaced == 2
    last = worker.submit(send, "P6")
    gate.set()
    await last  # type: ignore[misc]
    assert sent == ["K0", "K3", "P4", "P5", "P6"]
    await worker.aclose()


async def test_close_cancels_or_drains_and_the_thread_ends() -> None:
    """``aclose(drain=False)`` cancels what waits; the thread is gone afterwards; nothing more is taken."""
    worker = Worker("closing", size=5, when_full="refuse")
    gate = threading.Event()
    running = worker.submit(gate.wait, 10)
    await until(lambda: worker.waiting == 0)
    waiting = worker.submit(lambda: None)
    worker.close(drain=False)
    assert waiting is not None and waiting.cancelled()
    gate.set()
    assert await running is True  # type: ignore[misc]
    await worker.aclose()
    assert not any(t.name == "camcast-closing" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="closed"):
        worker.submit(lambda: None)
