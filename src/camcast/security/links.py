"""The share links issued, so that the owner can see them and revoke one without revoking all.

Each link's token carries a random id (:mod:`camcast.security.tokens`). ``links.json`` (mode 0600,
beside the key) lists the links by id: name, scope, cameras, when issued, when they expire, when last
used, and whether revoked. A revoked link is refused until it would have expired, then forgotten with
the rest of the expired. Tokens never enter the file: a link cannot be read back, only revoked. The
file is reread when it changes, so ``camcast share`` and the server see each other's links. Last use is
kept in memory and written at most once a minute per link.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from camcast.errors import CamcastError, ConfigError
from camcast.security.files import stamp, write_private
from camcast.security.tokens import Share, ShareKeys, TokenError

#: Seconds between writes of one link's last use.
USE_WRITTEN_EVERY = 60.0
#: Most links listed; the oldest expired ones go first.
MOST = 1000


@dataclass(frozen=True)
class Link:
    id: str
    name: str
    scope: str
    cameras: tuple[str, ...]
    recording: str
    issued: float
    expires: float
    last_used: float | None = None
    revoked: bool = False


class ShareLinks:
    """Issues, checks, lists and revokes share links signed with ``keys``; ``path`` lists them."""

    def __init__(self, keys: ShareKeys, path: Path) -> None:
        self.keys = keys
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._links: dict[str, Link] = {}
        self._used: dict[str, float] = {}

    def _load(self) -> dict[str, Link]:
        current = stamp(self.path)
        if current != self._stamp:
            self._stamp = current
            self._links = {}
            if current is not None:
                try:
                    data = json.loads(self.path.read_text("utf-8"))
                    for raw in data["links"]:
                        raw["cameras"] = tuple(raw.get("cameras", ()))
                        link = Link(**raw)
                        self._links[link.id] = link
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise ConfigError(
                        f"{self.path} is unreadable or damaged ({exc}); fix or remove it"
                    ) from exc
        return self._links

    def _save(self, links: dict[str, Link]) -> None:
        now = time.time()
        kept = sorted((link for link in links.values() if link.expires > now), key=lambda link: link.issued)
        data = {"links": [asdict(link) for link in kept[-MOST:]]}
        write_private(self.path, (json.dumps(data, indent=1) + "\n").encode())
        self._stamp = None

    def issue(
        self,
        name: str,
        seconds: float,
        scope: str = "watch",
        cameras: tuple[str, ...] = (),
        recording: str = "",
    ) -> tuple[Link, str]:
        """A new link: its entry and its token (shown once)."""
        token = self.keys.issue(name, seconds, scope, cameras, recording)
        share = self.keys.verify(token)
        link = Link(share.id, name, scope, cameras, recording, time.time(), share.expires)
        links = dict(self._load())
        links[link.id] = link
        self._save(links)
        return link, token

    def verify(self, token: str) -> Share:
        """The share of a valid token (:meth:`ShareKeys.verify`), refused when revoked; notes its use."""
        share = self.keys.verify(token)
        try:
            links = self._load()
        except ConfigError as exc:  # revocations unknown: refuse, in one line, rather than fail the request
            raise TokenError(exc.message) from None
        link = links.get(share.id)
        if link is not None and link.revoked:
            raise TokenError("revoked")
        now = time.time()
        if link is not None and now - self._used.get(share.id, 0.0) > USE_WRITTEN_EVERY:
            self._used[share.id] = now
            links = dict(links)
            links[share.id] = _replace(link, last_used=now)
            try:
                self._save(links)
            except CamcastError:  # a full disk must not refuse a viewer; the use is kept in memory
                self._stamp = None
        elif link is not None:
            self._used[share.id] = max(self._used.get(share.id, 0.0), now)
        return share

    def list(self) -> list[Link]:
        """The links that have not expired, newest first, with their last use."""
        now = time.time()
        links = [
            _replace(link, last_used=max(link.last_used or 0.0, self._used.get(link.id, 0.0)) or None)
            for link in self._load().values()
            if link.expires > now
        ]
        return sorted(links, key=lambda link: link.issued, reverse=True)

    def revoke(self, link_id: str) -> Link:
        """Revoke the link ``link_id``; ConfigError when there is no such link."""
        links = dict(self._load())
        link = links.get(link_id)
        if link is None:
            raise ConfigError(f"no share link with id {link_id!r}")
        links[link_id] = _replace(link, revoked=True)
        self._save(links)
        return links[link_id]

    def revoke_all(self) -> None:
        """A new key: every link ever issued stops working."""
        self.keys.rotate()
        self._save({})


def _replace(link: Link, **changes: object) -> Link:
    return Link(**{**asdict(link), **changes})
