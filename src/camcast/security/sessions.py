"""Signed-in browsers: a session cookie for the owner's pages, with its CSRF token.

A session is opened by signing in on ``/login`` (the accounts' passwords and lockout), or for an owner
the server already knows (HTTP Basic, or the local user of a loopback server without accounts) when
they open ``/settings``. The cookie holds 32 random bytes; only their SHA-256 is kept, in memory, so
a restart signs everyone out. A session ends after :data:`LIFETIME`, at sign-out, and as soon as its
account is removed or its password or role changes (``holder`` says which account it belongs to, and
``proof`` what the account was when it signed in).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

#: The cookie's name.
COOKIE = "camcast_session"
#: Seconds a session lasts from sign-in.
LIFETIME = 12 * 3600.0
#: Most sessions kept at once; the oldest ends first.
MOST = 1000


@dataclass(frozen=True)
class Session:
    """Who signed in: ``name`` and ``role`` as their account had them, ``cameras`` they may watch, the
    ``csrf`` token every change must carry, and ``proof`` of the account's state at sign-in."""

    name: str
    role: str
    via: str  # "account", or "local" for the local user of a loopback server without accounts
    cameras: tuple[str, ...]
    csrf: str
    proof: str
    expires: float


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class Sessions:
    """The open sessions, by the digest of their cookie."""

    def __init__(self) -> None:
        self._open: dict[bytes, Session] = {}

    def open(
        self, name: str, role: str, via: str, cameras: tuple[str, ...], proof: str
    ) -> tuple[str, Session]:
        """A new session's cookie value and the session."""
        now = time.monotonic()
        self._open = {k: s for k, s in self._open.items() if s.expires > now}
        while len(self._open) >= MOST:
            del self._open[next(iter(self._open))]
        token = secrets.token_urlsafe(32)
        session = Session(name, role, via, cameras, secrets.token_urlsafe(24), proof, now + LIFETIME)
        self._open[_digest(token)] = session
        return token, session

    def get(self, token: str) -> Session | None:
        """The session of cookie value ``token``, or None (unknown, or past its lifetime)."""
        if len(token) > 100:
            return None
        key = _digest(token)
        session = self._open.get(key)
        if session is None:
            return None
        if session.expires <= time.monotonic():
            del self._open[key]
            return None
        return session

    def close(self, token: str) -> None:
        self._open.pop(_digest(token), None)

    def close_all(self, name: str, via: str = "account") -> int:
        """End every session of account ``name``; returns how many there were."""
        ended = [k for k, s in self._open.items() if s.name == name and s.via == via]
        for key in ended:
            del self._open[key]
        return len(ended)

    def __len__(self) -> int:
        return len(self._open)
