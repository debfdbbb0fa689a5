"""The source contract: an async iterator of captured frames with ``aclose()``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from camcast.frames import Captured


@runtime_checkable
class Source(Protocol):
    """An async iterator of frames. ``describe`` is a short human name, e.g. ``pattern 1280x720@30``."""

    def describe(self) -> str: ...

    def __aiter__(self) -> AsyncIterator[Captured]: ...

    async def aclose(self) -> None: ...
