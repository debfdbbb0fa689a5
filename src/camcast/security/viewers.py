"""The viewer log: every viewing session, so the owner always knows who watched.

A session is one stream connection, or a run of snapshot and page requests by the same person from the
same address with no gap longer than :data:`IDLE_END` (a refreshing page is one session, not one per
picture). Each session is appended to ``viewers.jsonl`` in the state folder when it starts and when it
ends: time, address, account or share name (never a password or token), route and frames sent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from camcast.runtime.health import HEALTH
from camcast.runtime.worker import Worker
from camcast.security.files import append_line, private_dir

log = logging.getLogger(__name__)

#: Seconds without a request after which a snapshot/page session counts as ended: longer than any
#: sensible page refresh interval, short enough that "watching now" is true.
IDLE_END = 60.0
#: Lines waiting for a slow disk (a few MB at most); past it the disk is taken as stalled and lines are
#: lost, said in the log, rather than held without bound.
PENDING_LINES = 10_000
#: The part a failed write names (:mod:`camcast.runtime.health`).
PART = "viewer log"


@dataclass
class Session:
    id: int
    address: str
    who: str
    via: str
    route: str
    start: float
    end: float | None = None
    frames: int = 0
    camera: str = ""
    last_seen: float = field(default=0.0, repr=False)
    why: str = ""  # why it was ended by camcast (a link revoked, an account removed), if it was
    sound: bool = False  # the stream carries the camera's sound: this viewer also listens

    def record(self, event: str) -> dict[str, object]:
        data = asdict(self)
        del data["last_seen"]
        data["event"] = event
        return data


class ViewerLog:
    """Open sessions in memory; start and end events appended to ``path`` (mode 0600) by the log's
    own worker, so that a slow disk never holds up a viewer (the event loop never writes the file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.open: dict[int, Session] = {}
        self._by_key: dict[tuple[str, str, str, str], Session] = {}
        self._next = 1
        self._files = Worker("viewer-log", PENDING_LINES, when_full="refuse")
        self._lost = 0
        #: Told ``(camera, viewers)`` on the event loop whenever a camera's count of viewers changes
        #: (the "being watched" state in MQTT, the on_watch_command).
        self.listeners: list[Callable[[str, int], None]] = []
        self._counts: dict[str, int] = {}
        if path is not None:
            private_dir(path.parent)

    def _write(self, session: Session, event: str) -> None:
        if self.path is None:
            return
        line = json.dumps(session.record(event), separators=(",", ":")) + "\n"
        if self._files.submit(self._append, self.path, line.encode()) is None:
            self._lost += 1
            HEALTH.failed(PART, f"{self.path} is not being written (the disk is not answering): "
                                f"{self._lost} lines lost")  # fmt: skip

    @staticmethod
    def _append(path: Path, data: bytes) -> None:
        """In the log's worker: one line appended (whole, or not at all)."""
        try:
            append_line(path, data)
        except OSError as exc:  # a full disk must not stop the camera, but the owner is told
            HEALTH.failed(PART, f"cannot write {path}: {exc.strerror}; viewers are not being logged")
        else:
            HEALTH.worked(PART)

    def start(
        self, address: str, who: str, via: str, route: str, camera: str = "", sound: bool = False
    ) -> Session:
        now = time.time()
        session = Session(
            self._next, address, who, via, route, now, camera=camera, last_seen=now, sound=sound
        )
        self._next += 1
        self.open[session.id] = session
        self._write(session, "start")
        self._counted(camera)
        listens = " with sound" if sound else ""
        log.info("viewer %s (%s) from %s started watching %s %s%s", who, via, address, camera, route, listens)
        return session

    def end(self, session: Session, why: str = "") -> None:
        """``session`` ended: by the viewer, or by camcast for ``why``."""
        if self.open.pop(session.id, None) is None:
            return
        session.end = time.time()
        session.why = why
        self._by_key = {k: s for k, s in self._by_key.items() if s is not session}
        self._write(session, "end")
        self._counted(session.camera)
        log.info("viewer %s from %s stopped (%d frames)", session.who, session.address, session.frames)

    def touch(
        self,
        address: str,
        who: str,
        via: str,
        route: str,
        frames: int,
        camera: str = "",
        own: bool = False,
        sound: bool = False,
    ) -> None:
        """Count a snapshot or page request in its person's ongoing session (starting one if needed);
        an ``own`` route (a recording watched or deleted) is a session of its own, so the log names it.
        ``sound``: what was fetched carries the camera's sound (HLS with it): the session listens."""
        key = (address, who, camera, route if own else "")
        session = self._by_key.get(key)
        if session is None:
            session = self._by_key[key] = self.start(address, who, via, route, camera)
        session.frames += frames
        session.sound = session.sound or sound
        session.last_seen = time.time()

    def sweep(self, now: float | None = None) -> None:
        """End picture sessions idle for longer than IDLE_END."""
        now = time.time() if now is None else now
        for session in [s for s in self._by_key.values() if now - s.last_seen > IDLE_END]:
            self.end(session)

    async def aclose(self) -> None:
        """End every open session, and wait for the lines to be written."""
        for session in list(self.open.values()):
            self.end(session)
        await self._files.aclose()

    def _counted(self, camera: str) -> None:
        if not camera:
            return
        count = self.watching(camera)
        if count == self._counts.get(camera, 0):
            return
        self._counts[camera] = count
        for listener in self.listeners:
            try:
                listener(camera, count)
            except Exception:  # one listener failing must not stop the log or the others
                log.exception("a viewer-count listener failed")

    def watching(self, camera: str) -> int:
        """How many sessions are open on ``camera``."""
        return sum(1 for s in self.open.values() if s.camera == camera)

    def snapshot(self) -> list[dict[str, object]]:
        return [s.record("open") for s in self.open.values()]


def read_history(path: Path, limit: int = 50) -> list[dict[str, object]]:
    """The last ``limit`` ended sessions in the log at ``path`` (newest last)."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return []
    ended = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash
        if isinstance(record, dict) and record.get("event") == "end":
            ended.append(record)
    return ended[-limit:]
