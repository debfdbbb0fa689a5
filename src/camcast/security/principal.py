"""Who asks (:class:`Asking`), who they turned out to be (:class:`Principal`), and a refusal
(:class:`Refused`): the values the gate (:mod:`camcast.security.gate`) reads and gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RANK: dict[str, int] = {"public": 0, "viewer": 1, "owner": 2}


@dataclass(frozen=True)
class Asking:
    """Who asks, as any transport tells it: the client's ``address`` (the real client's behind a
    trusted proxy), how they came (``unix``: the owner's control socket), what they sent (a share
    link's ``token``, an ``Authorization`` header, a session cookie), the host name they asked for,
    whether the connection is encrypted, and whether it was relayed by a proxy that is not trusted."""

    address: str
    transport: Literal["http", "rtsp", "unix"]
    token: str | None = None
    authorization: str | None = None
    cookie: str | None = None
    host: str = ""
    secure: bool = False
    relayed_unknown: bool = False
    #: The request's method and target, which an HTTP Digest answer is made over.
    method: str = ""
    uri: str = ""


class Refused(Exception):
    """Not let in: ``status`` 401 (credentials needed or wrong), 403 (not allowed, or passwords over
    plain text), 429 (locked out for ``retry_after`` seconds); ``reason`` is one line."""

    def __init__(self, status: int, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """Who a request is: ``name`` for the viewer log (never a secret), ``role``, and how they came. A
    share link's principal ``opens`` exactly the routes its scope opens."""

    name: str
    role: str
    via: Literal["account", "share", "anonymous", "local", "metrics", "session", "device"]
    scope: str = ""
    token: str = ""
    cameras: tuple[str, ...] = ()  # the cameras this principal may watch; empty: all
    recording: str = ""  # a link to one recording: its file name (nothing else of the scope)
    csrf: str = ""  # a session's: what its changes must carry
    opens: frozenset[str] = frozenset()  # a share link's routes
    proof: str = ""  # an account's (or an account's session's) state when it was let in
    session: str = field(default="", repr=False)  # a sign-in session's cookie, to tell if it still holds
    expires: float = 0.0  # Unix time its access ends by itself (a link's, a session's), 0: never
    #: Whether the streams it opens carry the camera's sound: everyone let in but a share link made
    #: without ``--audio``.
    audio: bool = True

    def may(self, route: str, needed: str, camera: str | None = None) -> bool:
        """Whether this principal may use ``route`` (which needs role ``needed``), on ``camera`` when
        the route is a camera's."""
        if self.via == "metrics":  # the scraper's token opens /metrics and nothing else
            return route == "metrics"
        if camera is not None and self.cameras and camera not in self.cameras and needed != "public":
            return False
        if self.via in ("share", "device"):  # a link (or a device URL) opens exactly what it declares
            return needed == "public" or route in self.opens
        return RANK[self.role] >= RANK[needed]
