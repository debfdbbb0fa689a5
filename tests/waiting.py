"""Waiting for an event in a test: poll until it shows, never sleep a fixed time and hope."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def until(
    condition: Callable[[], object | Awaitable[object]], seconds: float = 10.0, every: float = 0.05
) -> None:
    """Return once ``condition()`` (a plain function, or one returning an awaitable) is true; fail the
    test if it is not within ``seconds``. Checked every ``every`` seconds."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {_name(condition)}")
        await asyncio.sleep(every)


def _name(condition: Callable[[], object]) -> str:
    code = getattr(condition, "__code__", None)
    where = f" ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})" if code else ""
    return f"{getattr(condition, '__name__', 'a condition')}{where}"
