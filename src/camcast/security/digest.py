"""Passwords proved without being sent: HTTP Digest (RFC 7616, MD5 with ``qop=auth``, as NVRs and
FFmpeg send it) and WS-Security's UsernameToken ``PasswordDigest`` (ONVIF's SOAP). Both need the
password itself to check, which only an ``onvif`` account keeps (:mod:`camcast.security.device`).

Replay is bounded both ways: an HTTP Digest nonce is the server's, signed, with its time (stale after
:data:`NONCE_LIFE`), and each of its request counts is taken once; a UsernameToken's ``Created`` must be
within :data:`CLOCK_WINDOW` of now, and its nonce is taken once while that window lasts.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import os
import re
import struct
import time
from collections import OrderedDict
from urllib.parse import urlsplit

#: Seconds a server nonce is good for; then the client is told it is stale and asks again.
NONCE_LIFE = 300.0
#: How far a UsernameToken's Created may be from the server's clock (seconds), either way.
CLOCK_WINDOW = 300.0
#: The most nonces remembered against replay.
REMEMBERED = 20_000
DIGEST_REALM = "camcast"
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_digest(header: str) -> dict[str, str] | None:
    """The parameters of an ``Authorization: Digest ...`` header (None when it is not one)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if match is None or match.end() == pos:
            return None
        quoted, bare = match.group(2), match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        pos = match.end()
    return params


def _h(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class HttpDigest:
    """The server's side of HTTP Digest: nonces issued and each request counted once."""

    def __init__(self) -> None:
        self._secret = os.urandom(32)
        self._counts: OrderedDict[str, int] = OrderedDict()

    def nonce(self) -> str:
        stamp = struct.pack(">d", time.time())
        sig = hmac.new(self._secret, stamp, hashlib.sha256).digest()[:16]
        return base64.b64encode(stamp + sig).decode("ascii")

    def challenge(self, stale: bool = False) -> str:
        return f'Digest realm="{DIGEST_REALM}", qop="auth", algorithm=MD5, nonce="{self.nonce()}"' + (
            ", stale=true" if stale else ""
        )

    def _age(self, nonce: str) -> float | None:
        try:
            raw = base64.b64decode(nonce, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 24:
            return None
        stamp, sig = raw[:8], raw[8:]
        if not hmac.compare_digest(hmac.new(self._secret, stamp, hashlib.sha256).digest()[:16], sig):
            return None
        return time.time() - float(struct.unpack(">d", stamp)[0])

    def check(self, params: dict[str, str], method: str, uri: str, password: str) -> str:
        """``ok``; ``stale`` (a good answer to an old nonce: ask again); or ``wrong`` (also an answer
        made for another request target than ``uri``, the one it came with)."""
        nonce = params.get("nonce", "")
        age = self._age(nonce)
        qop = params.get("qop")
        if age is None or params.get("realm") != DIGEST_REALM or qop not in (None, "auth"):
            return "wrong"
        sent, target = urlsplit(params.get("uri", "")), urlsplit(uri)
        if (sent.path, sent.query) != (target.path, target.query):
            return "wrong"
        if params.get("algorithm", "MD5").upper() != "MD5":
            return "wrong"
        ha1 = _h(f"{params.get('username', '')}:{DIGEST_REALM}:{password}")
        ha2 = _h(f"{method}:{params.get('uri', '')}")
        if qop is None:
            expected = _h(f"{ha1}:{nonce}:{ha2}")
        else:
            expected = _h(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}")
        if not hmac.compare_digest(expected, params.get("response", "").lower()):
            return "wrong"
        if not 0 <= age <= NONCE_LIFE:
            return "stale"
        try:
            count = int(params.get("nc", "0"), 16)
        except ValueError:
            return "wrong"
        if nonce in self._counts and count <= self._counts[nonce]:
            return "wrong"  # a request count seen before: a replay
        self._counts[nonce] = count
        self._counts.move_to_end(nonce)
        while len(self._counts) > REMEMBERED:
            self._counts.popitem(last=False)
        return "ok"


class TokenNonces:
    """WS-Security UsernameToken digests, each nonce taken once while its Created is in the window."""

    def __init__(self) -> None:
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def check(self, nonce_b64: str, created: str, digest_b64: str, password: str) -> str:
        """``ok``, ``clock`` (Created too far from now: the client should set its clock offset from
        GetSystemDateAndTime), or ``wrong`` (including a nonce used before)."""
        try:
            nonce = base64.b64decode(nonce_b64, validate=True)
            sent = base64.b64decode(digest_b64, validate=True)
        except (binascii.Error, ValueError):
            return "wrong"
        expected = hashlib.sha1(nonce + created.encode("utf-8") + password.encode("utf-8")).digest()
        if not hmac.compare_digest(expected, sent):
            return "wrong"
        when = parse_created(created)
        now = time.time()
        if when is None or abs(now - when) > CLOCK_WINDOW:
            return "clock"
        for old, at in list(self._seen.items()):
            if now - at <= 2 * CLOCK_WINDOW:
                break
            del self._seen[old]
        if nonce in self._seen:
            return "wrong"
        self._seen[nonce] = now
        if len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
        return "ok"


def parse_created(text: str) -> float | None:
    """Unix seconds of an xsd:dateTime (``2026-12-05T10:00:00Z``, ``...+00:00``, with fractions)."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()
