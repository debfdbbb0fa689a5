"""A webhook: each event's start and end POSTed as JSON, retried with backoff a bounded number of
times. The body is ``{"type": "start" | "end", "event": {...}}``, the event as ``camcast events --json``
prints it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp

from camcast import __version__
from camcast.motion.events import Event
from camcast.motion.notify.outbox import Outbox

log = logging.getLogger(__name__)

#: Attempts per message, and the wait before each retry (seconds).
ATTEMPTS = 5
BACKOFF = (1.0, 2.0, 4.0, 8.0)
#: Seconds one attempt may take.
TIMEOUT = 10.0


class Webhook:
    """POSTs to the URL ``url()`` gives at the time of sending (a reload may change it)."""

    kind = "webhook"

    def __init__(
        self, name: str, url: Callable[[], str | None], backoff: tuple[float, ...] = BACKOFF
    ) -> None:
        self.name = name
        self.url = url
        self.backoff = backoff
        self.outbox: Outbox[dict[str, object]] = Outbox(f"{name}: webhook")

    def tell(self, kind: str, event: Event) -> None:
        if self.url():
            self.outbox.put({"type": kind, "event": event.to_json()})

    async def run(self) -> None:
        headers = {"User-Agent": f"camcast/{__version__}"}
        async with aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
        ) as http:
            while True:
                body = await self.outbox.get()
                await self._send(http, body)

    async def _send(self, http: aiohttp.ClientSession, body: dict[str, object]) -> None:
        url, why = "", ""
        for attempt in range(ATTEMPTS):
            url = self.url() or ""
            if not url:
                return
            try:
                async with http.post(url, json=body) as response:
                    if response.status < 300:
                        return
                    why = f"HTTP {response.status}"
                    if 400 <= response.status < 500 and response.status not in (408, 429):
                        break  # the receiver refuses this message: retrying will not help
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                why = str(exc) or type(exc).__name__
            if attempt < ATTEMPTS - 1:
                log.info("%s: webhook %s: %s; retrying", self.name, shown_url(url), why)
                await asyncio.sleep(self.backoff[min(attempt, len(self.backoff) - 1)])
        log.warning(
            "%s: webhook %s: %s; the %s message is dropped", self.name, shown_url(url), why, body["type"]
        )


def shown_url(url: str) -> str:
    """``url`` without its query (which may hold a token)."""
    return url.split("?", 1)[0]
