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
from camcast.motion.notify import NotifyFailed
from camcast.runtime.health import HEALTH
from camcast.runtime.outbox import Outbox

log = logging.getLogger(__name__)

#: Attempts per message, and the wait before each retry (seconds).
ATTEMPTS = 5
BACKOFF = (1.0, 2.0, 4.0, 8.0)
#: Seconds one attempt may take.
TIMEOUT = 10.0


class Webhook:
    """POSTs to the URL ``url()`` gives at the time of sending (a reload may change it)."""

    kind = "webhook"
    #: The camera setting it follows (a reload that changes it ends what failed before).
    setting: str | None = "motion_on_event"

    def __init__(
        self, name: str, url: Callable[[], str | None], backoff: tuple[float, ...] = BACKOFF
    ) -> None:
        self.name = name
        self.url = url
        self.backoff = backoff
        self.outbox: Outbox[dict[str, object]] = Outbox(f"{name}: webhook")

    @property
    def part(self) -> str:
        """What its failures are listed as (:data:`HEALTH`)."""
        return f"{self.name}: webhook"

    def tell(self, kind: str, event: Event) -> None:
        if self.url():
            self.outbox.put({"type": kind, "event": event.to_json()})

    async def run(self) -> None:
        try:
            async with session() as http:
                while True:
                    body = await self.outbox.get()
                    await self._send(http, body)
        finally:
            HEALTH.forget(self.part)

    async def _send(self, http: aiohttp.ClientSession, body: dict[str, object]) -> None:
        """Deliver ``body``, with at most ATTEMPTS tries; a failed try is the owner's to see
        (:data:`HEALTH`), a message given up is dropped (said in the log)."""
        part = self.part
        for attempt in range(ATTEMPTS):
            url = self.url() or ""
            if not url:
                return
            try:
                await deliver(http, url, body)
                HEALTH.worked(part)
                return
            except NotifyFailed as exc:
                HEALTH.failed(part, str(exc))
                if exc.final:
                    break  # the receiver refuses this message: retrying will not help
            if attempt < ATTEMPTS - 1:
                await asyncio.sleep(self.backoff[min(attempt, len(self.backoff) - 1)])
        log.info("%s: the %s message is dropped after %d tries", part, body["type"], attempt + 1)


async def deliver(http: aiohttp.ClientSession, url: str, body: dict[str, object]) -> int:
    """POST ``body`` as JSON to ``url`` once; returns the answer's status. :class:`NotifyFailed` for
    no answer or an answer of 300 and above (``final`` for a 4xx other than 408 and 429)."""
    try:
        async with http.post(url, json=body) as response:
            status = response.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise NotifyFailed(f"webhook {shown_url(url)}: {exc or type(exc).__name__}") from None
    if status >= 300:
        final = 400 <= status < 500 and status not in (408, 429)
        raise NotifyFailed(f"webhook {shown_url(url)} answered HTTP {status}", final)
    return status


def session() -> aiohttp.ClientSession:
    """The HTTP client webhooks are sent with (its User-Agent, and TIMEOUT for each message)."""
    return aiohttp.ClientSession(
        headers={"User-Agent": f"camcast/{__version__}"}, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
    )


def shown_url(url: str) -> str:
    """``url`` without its query (which may hold a token)."""
    return url.split("?", 1)[0]
