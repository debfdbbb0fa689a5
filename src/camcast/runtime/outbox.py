"""A bounded outbox drained by one task (a notifier, the recordings' copier): put never waits, and past
its size the oldest message goes. Between two tasks on the loop; :mod:`camcast.runtime.worker` is the
one from the loop to a thread."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Messages a notifier holds while its receiver is slow or away; past this, the oldest are dropped.
OUTBOX = 64


class Outbox(Generic[T]):
    """Put never waits; :meth:`get` waits for the oldest message. ``name`` says whose, in the log."""

    def __init__(self, name: str, size: int = OUTBOX) -> None:
        self.name = name
        self._items: deque[T] = deque()
        self._size = size
        self._ready = asyncio.Event()
        self.dropped = 0

    def put(self, item: T) -> None:
        if len(self._items) >= self._size:
            self._items.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning(
                    "%s: %d messages dropped (the receiver is not keeping up)", self.name, self.dropped
                )
        self._items.append(item)
        self._ready.set()

    async def get(self) -> T:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)
