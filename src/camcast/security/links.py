"""The share links issued, so that the owner can see them and revoke one without revoking all.

Each link's token carries a random id (:mod:`camcast.security.tokens`). ``links.json`` (mode 0600,
beside the key) lists the links by id: name, scope, cameras, when issued, when they expire, when last
used, and whether revoked. A revoked link is refused until it would have expired, then forgotten with
the rest of the expired. Tokens never enter the file: a link cannot be read back, only revoked. The
file is reread when it changes, so ``camcast share`` and the server see each other's links (the
server's copy is :mod:`cached <camcast.security.registry>`: a request never reads the disk). Last use
is kept in memory and written at most once a minute per link: by the command itself, or in the server
by :meth:`ShareLinks.refresh`, off the event loop.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from camcast.errors import CamcastError, ConfigError
from camcast.runtime.health import HEALTH
from camcast.security.registry import Registry
from camcast.security.tokens import Share, ShareKeys, TokenError

#: Seconds between writes of one link's last use.
USE_WRITTEN_EVERY = 60.0
#: The part a failed write of the uses names (:mod:`camcast.runtime.health`).
USES = "share links"
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
    audio: bool = False


class ShareLinks:
    """Issues, checks, lists and revokes share links signed with ``keys``; ``path`` lists them."""

    def __init__(self, keys: ShareKeys, path: Path) -> None:
        self.keys = keys
        self.path = path
        self.file: Registry[dict[str, Link]] = Registry(path, _parse, {})
        self._used: dict[str, float] = {}  # last use by link id, as seen here
        self._written: dict[str, float] = {}  # when each link's use was last written

    @property
    def cached(self) -> bool:
        return self.file.cached

    def hold(self) -> None:
        """The server's: the file and the key are read now, then only by :meth:`refresh`."""
        self.refresh()
        self.file.cached = self.keys.file.cached = True

    def _load(self) -> dict[str, Link]:
        return self.file.get()

    def _save(self, links: dict[str, Link]) -> None:
        now = time.time()
        kept = sorted((link for link in links.values() if link.expires > now), key=lambda link: link.issued)
        kept = kept[-MOST:]
        data = {"links": [asdict(link) for link in kept]}
        self.file.write((json.dumps(data, indent=1) + "\n").encode(), {link.id: link for link in kept})

    def refresh(self) -> None:
        """The file and the key read again if they changed, and the last uses due written (blocking:
        the server calls it in its registry worker)."""
        self.file.refresh()
        self.keys.file.refresh()
        now = time.time()
        due = [i for i, used in self._used.items() if used - self._written.get(i, 0.0) > USE_WRITTEN_EVERY]
        if not due:
            return
        try:
            links = dict(self.file.get(fresh=True))
        except ConfigError:
            return  # damaged: refused at verify, listed with its reason
        for link_id in due:
            self._written[link_id] = now
            if link_id in links:
                links[link_id] = _replace(links[link_id], last_used=self._used[link_id])
        try:
            self._save(links)
            HEALTH.worked(USES)
        except CamcastError as exc:  # a full disk must not refuse a viewer: the uses are kept in memory
            HEALTH.failed(USES, f"the links' last uses are not stored: {exc}")

    def issue(
        self,
        name: str,
        seconds: float,
        scope: str = "watch",
        cameras: tuple[str, ...] = (),
        recording: str = "",
        audio: bool = False,
    ) -> tuple[Link, str]:
        """A new link: its entry and its token (shown once); ``audio``: its streams carry sound."""
        token = self.keys.issue(name, seconds, scope, cameras, recording, audio)
        share = self.keys.verify(token)
        link = Link(share.id, name, scope, cameras, recording, time.time(), share.expires, audio=audio)
        links = dict(self.file.get(fresh=True))
        links[link.id] = link
        self._save(links)
        return link, token

    def verify(self, token: str, note_use: bool = True) -> Share:
        """The share of a valid token (:meth:`ShareKeys.verify`), refused when revoked; notes its use
        (unless only checking whether an open stream's link still holds)."""
        share = self.keys.verify(token)
        try:
            links = self._load()
        except ConfigError as exc:  # revocations unknown: refuse, in one line, rather than fail the request
            raise TokenError(exc.message) from None
        link = links.get(share.id)
        if link is not None and link.revoked:
            raise TokenError("revoked")
        if link is not None and note_use:
            self._used[share.id] = time.time()
            if not self.cached:  # a command: write the use now (once a minute); the server's watcher
                self.refresh()  # writes it off the event loop
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
        links = dict(self.file.get(fresh=True))
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


def _parse(data: bytes) -> dict[str, Link]:
    links = {}
    for raw in json.loads(data.decode("utf-8"))["links"]:
        raw["cameras"] = tuple(raw.get("cameras", ()))
        link = Link(**raw)
        links[link.id] = link
    return links


def _replace(link: Link, **changes: object) -> Link:
    return Link(**{**asdict(link), **changes})
