"""A camera that is not there yet when camcast starts (a USB camera still enumerating at boot, an
RTSP camera rebooting, a file not mounted yet): offline until its source opens, then that source.

It shows the offline card and tries to open the source again on the same schedule as a lost source
(:data:`~camcast.sources.threaded.RETRY_DELAYS`); once the source opens, its frames follow and the
source's own reconnecting takes over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

from camcast.errors import CamcastError, SourceError
from camcast.frames import Captured, Source, of_image
from camcast.sources.threaded import OFFLINE_FPS, offline_card, retry_delay

log = logging.getLogger(__name__)


class PendingSource:
    """Offline until :attr:`open_source` succeeds (called in a thread; the camera sets it); then its
    frames. ``name`` says which camera it is in the log; the card is ``width`` x ``height``."""

    def __init__(self, name: str, spec: str, width: int, height: int) -> None:
        self.open_source: Callable[[], Source] = self._not_wired
        self.name = name
        self.spec = spec  # the source as configured, for the status until it opens
        self.width, self.height = width, height
        self.source: Source | None = None
        self.reconnects = 0
        self._closed = False

    def _not_wired(self) -> Source:
        raise SourceError(f"{self.name}: no way to open its source")

    def describe(self) -> str:
        return self.source.describe() if self.source is not None else f"{self.spec} (not there yet)"

    @property
    def live(self) -> bool:
        return self.source is not None and bool(getattr(self.source, "live", True))

    @property
    def device(self) -> str | None:
        return getattr(self.source, "device", None)

    def __aiter__(self) -> AsyncIterator[Captured]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[Captured]:
        card = offline_card(self.width, self.height, time.time())
        attempt = 0
        while self.source is None and not self._closed:
            retry_at = time.monotonic() + retry_delay(attempt)
            while time.monotonic() < retry_at:
                yield of_image(0, card)
                await asyncio.sleep(1.0 / OFFLINE_FPS)
            attempt += 1
            try:
                self.source = await asyncio.to_thread(self.open_source)
            except SourceError as exc:
                log.debug("%s: still not there: %s", self.name, exc)
            except CamcastError as exc:  # there, but not usable as configured (a crop that does not fit)
                # It stays offline rather than stopping the other cameras; the owner reads why.
                log.warning("%s: found, but %s; still offline", self.name, exc)
        if self.source is None:
            return
        log.warning("%s: found %s; capturing", self.name, self.source.describe())
        self.reconnects += 1
        async for frame in self.source:
            yield frame

    async def aclose(self) -> None:
        self._closed = True
        if self.source is not None:
            await self.source.aclose()
