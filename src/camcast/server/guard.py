"""Connection-level limits in front of aiohttp: connection caps and a deadline for request heads.

aiohttp bounds header sizes but not how long a client may take to send them, so a slowloris client
trickling one byte at a time could hold connections forever. :class:`Guard` wraps each connection's
protocol: a request head must be complete within ``header_timeout`` seconds of its first byte (or of
the connection), and connections beyond ``max_total``, or ``max_per_address`` from one address, are
answered 503 and closed before aiohttp sees them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n"
    b"Connection: close\r\nRetry-After: 5\r\n\r\ntoo many connections; retry.\r\n"
)
#: Bytes of an unfinished request head the guard looks through for its end; aiohttp itself refuses
#: heads with lines over 8190 bytes, so anything longer is already an error there.
HEAD_LIMIT = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,12})", re.IGNORECASE)


@dataclass
class Limits:
    max_total: int
    max_per_address: int
    header_timeout: float
    open_total: int = 0
    per_address: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    #: Addresses spared the per-address cap: trusted reverse proxies, which carry many clients' requests
    #: (each client is then held to the cap per request, by its forwarded address).
    exempt: Callable[[str], bool] = lambda address: False


class Guard(asyncio.Protocol):
    """Forwards everything to ``inner`` (aiohttp's protocol) while enforcing :class:`Limits`."""

    def __init__(self, inner: asyncio.Protocol, limits: Limits) -> None:
        self.inner = inner
        self.limits = limits
        self.address = ""
        self.admitted = False
        self.transport: asyncio.Transport | None = None
        self._head = bytearray()
        self._in_head = True
        self._body_left = 0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) else "local"
        limits = self.limits
        if limits.open_total >= limits.max_total or (
            limits.per_address[self.address] >= limits.max_per_address and not limits.exempt(self.address)
        ):
            limits.refused += 1
            if limits.refused in (1, 10, 100) or limits.refused % 1000 == 0:
                log.warning(
                    "refused a connection from %s: too many connections (%d so far)",
                    self.address,
                    limits.refused,
                )
            transport.write(BUSY)
            transport.close()
            return
        self.admitted = True
        limits.open_total += 1
        limits.per_address[self.address] += 1
        self._arm()
        self.inner.connection_made(transport)

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.limits.header_timeout, self._expire)

    def _expire(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if not self.admitted:
            return
        self._watch(data)
        self.inner.data_received(data)

    def _watch(self, data: bytes) -> None:
        """Follow request heads and bodies: each head must be complete within the deadline; a body
        (``Content-Length`` bytes, such as a WHEP offer) is not taken for the next request's head."""
        while data:
            if self._body_left:
                taken = min(self._body_left, len(data))
                self._body_left -= taken
                data = data[taken:]
                continue
            if not self._in_head:
                # A further request on a kept-alive connection: its head gets the same deadline.
                self._in_head = True
                self._head = bytearray()
                self._arm()
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > HEAD_LIMIT:
                    self._head_done()  # too long for aiohttp, which answers 431/400 itself
                return
            data = bytes(self._head[end + 4 :])
            length = _CONTENT_LENGTH.search(self._head[:end])
            self._body_left = int(length[1]) if length else 0
            self._head_done()

    def _head_done(self) -> None:
        self._in_head = False
        self._head.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self.admitted:
            return
        limits = self.limits
        limits.open_total -= 1
        limits.per_address[self.address] -= 1
        if limits.per_address[self.address] <= 0:
            del limits.per_address[self.address]
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def guarded(factory: Callable[[], Any], limits: Limits) -> Callable[[], Guard]:
    return lambda: Guard(factory(), limits)
