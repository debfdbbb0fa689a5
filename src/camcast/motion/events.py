"""An event's life (:class:`Tracker`: analyses in, starts and ends out) and where events are kept
(:class:`EventLog`: JSON lines in the state folder, bounded, surviving a restart). A running server
reads its events from memory (:meth:`EventLog.events`), the file being the index's journal: the
watchers' threads append to it, the event loop never reads it.

Times are Unix seconds inside; the JSON says ISO 8601 with the time zone.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from camcast.clock import iso, parse_time, stamp
from camcast.errors import CamcastError
from camcast.motion.detector import Analysis
from camcast.runtime.health import HEALTH
from camcast.security.files import append_line, private_dir, write_atomic

#: Events older than this are deleted with their pictures (the log is bounded; see also MAX_EVENTS).
KEEP_DAYS = 30
#: The most events kept; the oldest go first.
MAX_EVENTS = 10_000
#: The parts a failed write names (:mod:`camcast.runtime.health`): the events' journal, their pictures.
JOURNAL = "motion events"
PICTURES = "motion event pictures"
#: A would-be event with motion this far apart is dropped before it starts (seconds).
START_TOLERANCE = 0.5


@dataclass(frozen=True)
class Event:
    """``start`` and ``end`` are the first and last moment motion was seen (``end`` None while open);
    ``peak`` the largest share of the watched area that moved; ``box`` where, at the peak (fractions of
    the picture: left, top, right, bottom); ``zones`` the indexes of the zones it touched."""

    id: str
    camera: str
    start: float
    end: float | None = None
    peak: float = 0.0
    box: tuple[float, float, float, float] | None = None
    zones: tuple[int, ...] = ()
    picture: str | None = None
    interrupted: bool = False
    #: ``motion``, or ``sound`` (the camera's sound louder than its threshold; ``level`` the loudest
    #: it was, in dBFS).
    kind: str = "motion"
    level: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "camera": self.camera,
            "kind": self.kind,
            "start": iso(self.start),
            "end": None if self.end is None else iso(self.end),
            "seconds": None if self.end is None else round(self.end - self.start, 2),
            "peak": round(self.peak, 4),
            "box": None if self.box is None else [round(v, 4) for v in self.box],
            "zones": list(self.zones),
            "picture": self.picture,
            **({"interrupted": True} if self.interrupted else {}),
            **({"level": round(self.level, 1)} if self.level is not None else {}),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Event:
        box = doc.get("box")
        return cls(
            id=str(doc["id"]), camera=str(doc["camera"]), start=parse_time(doc["start"]),
            end=None if doc.get("end") is None else parse_time(doc["end"]), peak=float(doc.get("peak", 0)),
            box=None if box is None else (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            zones=tuple(int(z) for z in doc.get("zones", ())), picture=doc.get("picture"),
            interrupted=bool(doc.get("interrupted", False)), kind=str(doc.get("kind", "motion")),
            level=None if doc.get("level") is None else float(doc["level"]),
        )  # fmt: skip


Change = tuple[Literal["start", "end", "peak"], Event]


@dataclass
class Tracker:
    """Turns analyses into events. Motion must last ``min_seconds`` to start one (with no quiet spell
    over :data:`START_TOLERANCE` in between); ``gap_seconds`` without motion ends it. A light change is
    neither motion nor quiet. ``zones`` are the watched zones as boolean pictures, to say which an
    event touched."""

    camera: str
    min_seconds: float = 0.3
    gap_seconds: float = 5.0
    zones: tuple[Any, ...] = ()
    open: Event | None = None
    _first: float | None = None
    _last: float | None = None

    def update(self, at: float, analysis: Analysis) -> list[Change]:
        """What ``analysis``, made of a picture taken at ``at``, starts, ends or makes the peak of."""
        if analysis.learning or analysis.light:
            return []
        changes: list[Change] = []
        if analysis.moving:
            if self._first is None or (
                self._last is not None and at - self._last > START_TOLERANCE and not self.open
            ):
                self._first = at
            self._last = at
            started = self.open is None and at - self._first >= self.min_seconds
            if started:
                self.open = Event(self._id(self._first), self.camera, self._first)
            if self.open is not None and analysis.share > self.open.peak:
                self.open = replace(
                    self.open, peak=analysis.share, box=analysis.box,
                    zones=tuple(sorted({*self.open.zones, *self._touched(analysis)})),
                )  # fmt: skip
                changes.append(("peak", self.open))
            if started and self.open is not None:
                changes.append(("start", self.open))  # after its first peak: it starts with a picture
            return changes
        if self.open is not None and self._last is not None and at - self._last >= self.gap_seconds:
            changes.append(("end", self._close()))
        elif self.open is None and self._last is not None and at - self._last > START_TOLERANCE:
            self._first = self._last = None
        return changes

    def close(self) -> list[Change]:
        """End the open event now (the shutter closed, motion was turned off, the server stops)."""
        self._first = None
        if self.open is None:
            self._last = None
            return []
        return [("end", self._close())]

    def _close(self) -> Event:
        assert self.open is not None and self._last is not None
        ended = replace(self.open, end=self._last)
        self.open = None
        self._first = self._last = None
        return ended

    def _id(self, start: float) -> str:
        return f"{self.camera}-{stamp(start)}"

    def _touched(self, analysis: Analysis) -> set[int]:
        if analysis.mask is None:
            return set()
        return {i for i, zone in enumerate(self.zones) if bool((analysis.mask & zone).any())}


class EventLog:
    """Events as JSON lines in ``folder``/events.jsonl, one line when an event starts and one when it
    ends (the later line wins); pictures beside them in ``folder``/pictures/. Bounded by age and count
    (:data:`KEEP_DAYS`, :data:`MAX_EVENTS`), oldest first, with their pictures. Safe to use from the
    detector's thread and the event loop."""

    def __init__(self, folder: Path, keep_days: float = KEEP_DAYS, max_events: int = MAX_EVENTS) -> None:
        self.folder = folder
        self.file = folder / "events.jsonl"
        self.pictures = folder / "pictures"
        self.keep_days = keep_days
        self.max_events = max_events
        self._lock = threading.Lock()
        self._lines = 0
        #: The events by id, in the order they started: replaced whole (never changed in place) by the
        #: writers' threads, so the event loop reads it without a lock.
        self._index: dict[str, Event] = {}

    def open(self) -> None:
        """Make the folder, close events a crash left open (ended at their start, marked
        ``interrupted``), and apply the limits. Raises CamcastError when the journal cannot be read; one
        that cannot be written (a full disk) is reported (:data:`HEALTH`), not raised."""
        events = self.read()
        dangling = [e for e in events if e.end is None]
        if dangling:
            fixed = {e.id: replace(e, end=e.start, interrupted=True) for e in dangling}
            events = [fixed.get(e.id, e) for e in events]
        try:
            private_dir(self.pictures)
            self._rewrite(events, force=bool(dangling) or self._cut_short())
        except CamcastError as exc:  # a full disk: the events are served from memory
            self._index = {e.id: e for e in events}
            HEALTH.failed(JOURNAL, f"motion events are not stored: {exc}")

    def events(self) -> list[Event]:
        """Every event kept, oldest first, from memory (after :meth:`open`): what :meth:`read` reads
        from the file, without reading it."""
        return list(self._index.values())

    def event(self, event_id: str) -> Event | None:
        """The event ``event_id``, from memory."""
        return self._index.get(event_id)

    def _cut_short(self) -> bool:
        """Whether the file ends in a line cut short (a crash mid-write): the next line would join it."""
        try:
            with self.file.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                if fh.tell() == 0:
                    return False
                fh.seek(-1, os.SEEK_END)
                return fh.read(1) != b"\n"
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise CamcastError(f"cannot read {self.file}: {exc.strerror}") from exc

    def write(self, event: Event) -> None:
        """Append ``event``'s state now; past twice the limit, rewrite the file within it."""
        line = (json.dumps(event.to_json(), separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                append_line(self.file, line)
            except OSError as exc:
                raise CamcastError(f"cannot write {self.file}: {exc.strerror}") from exc
            index = dict(self._index)
            index[event.id] = event  # an update keeps its place; a new event goes last
            self._index = index
            self._lines += 1
            if self._lines > 2 * self.max_events:
                self._rewrite(self.read(), force=True)

    def picture_path(self, event_id: str) -> Path:
        return self.pictures / f"{event_id}.jpg"

    def write_picture(self, event_id: str, jpeg: bytes) -> str:
        """Store an event's picture (atomically); returns its file name."""
        path = self.picture_path(event_id)
        write_atomic(path, jpeg, mode=0o600)
        return path.name

    def read(self) -> list[Event]:
        """Every event kept, oldest first (a line cut short by a crash is skipped)."""
        by_id: dict[str, Event] = {}
        for doc in self._docs():
            try:
                event = Event.from_json(doc)
            except (KeyError, TypeError, ValueError, IndexError):
                continue
            by_id.pop(event.id, None)  # the later line wins, in its place
            by_id[event.id] = event
        return sorted(by_id.values(), key=lambda e: e.start)

    def _docs(self) -> Iterator[dict[str, Any]]:
        try:
            fh = self.file.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CamcastError(f"cannot read {self.file}: {exc.strerror}") from exc
        with fh:
            for line in fh:
                with contextlib.suppress(ValueError):
                    doc = json.loads(line)
                    if isinstance(doc, dict):
                        yield doc

    def _rewrite(self, events: list[Event], force: bool = False) -> None:
        """Keep the events within the limits (their pictures too), rewriting the file atomically."""
        cutoff = datetime.datetime.now().timestamp() - self.keep_days * 86400
        kept = [e for e in events if e.start >= cutoff][-self.max_events :]
        gone = {e.id for e in events} - {e.id for e in kept}
        for event_id in gone:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.picture_path(event_id))
        if gone or force:
            data = "".join(json.dumps(e.to_json(), separators=(",", ":")) + "\n" for e in kept)
            write_atomic(self.file, data.encode(), mode=0o600)
        self._lines = len(kept)
        self._index = {e.id: e for e in kept}
