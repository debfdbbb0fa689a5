"""The server's ONVIF as a whole: this installation's identity, the event service and its
subscriptions, whether discovery answers, and the deliveries to base notification's consumers."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import aiohttp

from camcast.onvif import events as tev
from camcast.onvif import soap
from camcast.onvif.context import Identity
from camcast.onvif.discovery import Discovery

#: Consecutive failed deliveries after which a consumer's subscription ends.
CONSUMER_FAILURES = 3
CONSUMER_TIMEOUT = 5.0


@dataclass
class Onvif:
    """The server's ONVIF: this installation's identity, the event service, discovery on or off, and
    the deliveries to consumers (base notification) under way."""

    identity: Identity
    discovery: bool
    events: tev.Events = field(default_factory=tev.Events)
    senders: set[asyncio.Task[None]] = field(default_factory=set)
    #: WS-Discovery, once it listens.
    announcer: Discovery | None = None

    async def aclose(self) -> None:
        if self.announcer is not None:
            self.announcer.announce("Bye")
            self.announcer.close()
        for sub in list(self.events.subscriptions.values()):
            self.events.end(sub, "the server stopped")
        for task in list(self.senders):
            task.cancel()
        for task in list(self.senders):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def send(on: Onvif, sub: tev.Subscription) -> None:
    """Base notification: each message a ``Notify`` POSTed to the consumer, in order; a consumer that
    fails :data:`CONSUMER_FAILURES` times running loses its subscription."""
    assert sub.consumer is not None
    failures = 0
    timeout = aiohttp.ClientTimeout(total=CONSUMER_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while not sub.ended:
            if not sub.messages:
                sub.arrived.clear()
                await sub.arrived.wait()
                continue
            batch = list(sub.messages)
            body = soap.envelope(soap.el("wsnt:Notify", *batch))
            try:
                async with http.post(
                    sub.consumer, data=body, headers={"Content-Type": "application/soap+xml"}
                ) as r:
                    ok = r.status < 300
            except (aiohttp.ClientError, TimeoutError, ValueError):
                ok = False
            if ok:
                failures = 0
                for sent in batch:  # those still waiting (a full queue may have dropped the oldest)
                    if sub.messages and sub.messages[0] is sent:
                        sub.messages.popleft()
                continue
            failures += 1
            if failures >= CONSUMER_FAILURES:
                on.events.end(sub, f"its consumer {sub.consumer} did not take {failures} deliveries")
                return
            await asyncio.sleep(failures)
