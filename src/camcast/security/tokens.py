"""Signed, expiring share links: browsers cannot send credentials for an ``<img>``, a token can.

A token is ``base64url(payload).base64url(HMAC-SHA256(key, payload))`` where the payload is JSON with the
share's name, expiry (Unix seconds) and scope. The key (32 random bytes) is in ``share.key`` (mode
0600); ``camcast share --revoke-all`` replaces it, which invalidates every link at once. The server
rereads the key when the file changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from camcast.errors import ConfigError
from camcast.security.registry import Registry

#: What a link may open: ``watch`` is every viewer route (pages, snapshot, stream); the others one kind.
#: Share-link scopes: ``watch`` (the pages and all they show), ``snapshot`` (the picture only), ``stream``
#: (the video streams, for programs). What each opens is declared on the routes (camcast.server.urls).
SCOPES = ("watch", "snapshot", "stream", "events", "recordings", "timelapse")


@dataclass(frozen=True)
class Share:
    name: str
    expires: float
    scope: str
    cameras: tuple[str, ...] = ()  # empty: every camera
    recording: str = ""  # with the recordings scope: only this recording (its file name); empty: all
    id: str = ""  # the link's random id, by which it is listed and revoked (camcast.security.links)
    audio: bool = False  # the link's streams carry the camera's sound (made with --audio)


class TokenError(Exception):
    """Why a token was refused: malformed, bad signature, expired."""


def b64url(data: bytes) -> str:
    """``data`` as unpadded base64url (a URL's token)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """The bytes of unpadded base64url ``text``; ValueError when it is not."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ShareKeys:
    """The signing key in ``path``: made on first use, replaced by :meth:`rotate`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: Registry[bytes | None] = Registry(path, lambda key: key if len(key) == 32 else None, None)

    def _current(self, create: bool) -> bytes | None:
        key = self.file.get(fresh=create)
        if key is None and create and not self.path.exists():
            self.rotate()
            key = self.file.get()
        return key

    def rotate(self) -> None:
        key = os.urandom(32)
        self.file.write(key, key)

    def issue(
        self,
        name: str,
        seconds: float,
        scope: str = "watch",
        cameras: tuple[str, ...] = (),
        recording: str = "",
        audio: bool = False,
    ) -> str:
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        key = self._current(create=True)
        assert key is not None
        payload = json.dumps(
            {
                "n": name,
                "e": int(time.time() + seconds),
                "s": scope,
                "c": list(cameras),
                "r": os.urandom(6).hex(),  # the link's id: hex, never a leading dash on a command line
                **({"f": recording} if recording else {}),
                **({"a": 1} if audio else {}),
            },
            separators=(",", ":"),
        ).encode()
        return f"{b64url(payload)}.{b64url(hmac.new(key, payload, hashlib.sha256).digest())}"

    def verify(self, token: str) -> Share:
        key = self._current(create=False)
        if key is None:
            raise TokenError("no share key")
        body, dot, sig = token.partition(".")
        if not dot or len(token) > 512:
            raise TokenError("malformed")
        try:
            payload, signature = unb64url(body), unb64url(sig)
        except ValueError:
            raise TokenError("malformed") from None
        if not hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest(), signature):
            raise TokenError("bad signature")
        try:
            data = json.loads(payload)
            share = Share(
                str(data["n"]),
                float(data["e"]),
                str(data["s"]),
                tuple(str(c) for c in data.get("c", [])),
                str(data.get("f", "")),
                str(data.get("r", "")),
                bool(data.get("a", 0)),
            )
        except (ValueError, KeyError, TypeError):
            raise TokenError("malformed") from None
        if share.expires < time.time():
            raise TokenError("expired")
        if share.scope not in SCOPES:
            raise TokenError("unknown scope")
        return share


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``15m``, ``2h``, ``7d`` (or a bare number of seconds); ValueError otherwise."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    factor = units.get(text[-1:], 0)
    number = text[:-1] if factor else text
    try:
        value = float(number) * (factor or 1)
    except ValueError:
        raise ValueError("must be a duration such as 90s, 15m, 2h or 7d") from None
    if not 0 < value <= 366 * 86400:
        raise ValueError("must be a duration from 1 second to 366 days")
    return value


class MetricsToken:
    """The scraper's bearer token for ``/metrics``: only its SHA-256 is kept (``metrics.token``, mode
    0600); ``camcast metrics-token`` makes a new one, and the server rereads the file when it changes.
    The token opens ``/metrics`` and nothing else."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: Registry[bytes | None] = Registry(path, _digest, None)

    def issue(self) -> str:
        token = b64url(os.urandom(32))
        digest = hashlib.sha256(token.encode()).digest()
        self.file.write(digest.hex().encode() + b"\n", digest)
        return token

    def matches(self, token: str) -> bool:
        try:
            digest = self.file.get()
        except ConfigError:
            return False
        return digest is not None and hmac.compare_digest(hashlib.sha256(token.encode()).digest(), digest)


def _digest(data: bytes) -> bytes | None:
    """The token's SHA-256 as ``metrics.token`` holds it in hex; None for anything else."""
    try:
        digest = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return digest if len(digest) == 32 else None
