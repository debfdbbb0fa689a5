"""Every open delivery belongs to a principal, and ends when the principal does.

A delivery is anything that goes on sending after the gate let it in: an HTTP request in progress (an
MJPEG stream, a blocking LL-HLS playlist request, a recording's download), a WebRTC peer, an RTSP
session. Each is registered here with the principal it was opened for and a ``close(why)`` that ends it
in its own protocol's terms (the connection closed, the peer closed, the session torn down).

The principal is checked again (``still(principal)``: the reason it no longer holds, or None) whenever
something that decides it may have changed: the accounts or share links changed on disk (the gate's
watcher), a sign-in session ended, and at the moment a share link or a session expires (a timer: no
request is needed to notice it). One mechanism for every protocol: revoking a link, removing an
account, changing its password, role or cameras, or signing out ends what is already open within the
watcher's half second.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class Principal(Protocol):
    """Who a delivery is for, as far as this module needs (:class:`camcast.security.gate.Principal`)."""

    @property
    def name(self) -> str: ...

    @property
    def via(self) -> str: ...

    @property
    def expires(self) -> float: ...


P = TypeVar("P", bound=Principal)
Closer = Callable[[str], None]


@dataclass
class Delivery(Generic[P]):
    id: int
    principal: P
    close: Closer
    what: str
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class Deliveries(Generic[P]):
    """The open deliveries, by id; ``still`` is the gate's verdict on a principal now."""

    def __init__(self, still: Callable[[P], str | None]) -> None:
        self.still = still
        self.open: dict[int, Delivery[P]] = {}
        self._ids = itertools.count(1)

    @contextlib.contextmanager
    def holding(self, principal: P | None, close: Closer, what: str) -> Iterator[Delivery[P] | None]:
        """Register a delivery for the duration of the context (nothing for no principal: a public
        route, which nobody's access decides)."""
        delivery = self.add(principal, close, what) if principal is not None else None
        try:
            yield delivery
        finally:
            if delivery is not None:
                self.remove(delivery)

    def add(self, principal: P, close: Closer, what: str) -> Delivery[P]:
        """Register a delivery until :meth:`remove`; a principal that expires gets a timer."""
        delivery = Delivery(next(self._ids), principal, close, what)
        self.open[delivery.id] = delivery
        if principal.expires:
            loop = asyncio.get_running_loop()
            delay = max(0.0, principal.expires - time.time())
            delivery.timer = loop.call_later(delay, self._check, delivery)
        return delivery

    def remove(self, delivery: Delivery[P]) -> None:
        self.open.pop(delivery.id, None)
        if delivery.timer is not None:
            delivery.timer.cancel()

    def recheck(self) -> int:
        """Check every open delivery's principal again; end those that no longer hold. Returns how many
        ended."""
        return sum(self._check(d) for d in list(self.open.values()))

    def _check(self, delivery: Delivery[P]) -> bool:
        if delivery.id not in self.open:
            return False
        why = self.still(delivery.principal)
        if why is None:
            return False
        self.remove(delivery)
        p = delivery.principal
        log.warning("%s (%s) ended: %s", delivery.what, f"{p.name} via {p.via}", why)
        try:
            delivery.close(why)
        except Exception:  # one protocol's close failing must not keep the others open
            log.exception("closing %s failed", delivery.what)
        return True
