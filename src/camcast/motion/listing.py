"""``camcast events``: the events kept in the state folder, as a table or JSON lines, and followed as
they start and end. Reads the log file directly, so it works whether or not the server runs."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from camcast.clock import parse_time
from camcast.errors import ConfigError
from camcast.motion.events import Event, EventLog

#: Seconds between looks at the log while following it.
FOLLOW_EVERY = 0.25


def show(
    folder: Path,
    cameras: Sequence[str],
    since: str | None,
    limit: int,
    as_json: bool,
    follow: bool,
    out: Callable[[str], None] | None = None,
) -> None:
    """Print the newest ``limit`` events (of ``cameras``, since ``since``); then, with ``follow``, one
    line per start and end until interrupted."""
    if out is None:

        def out(text: str) -> None:  # flushed: a script reading --follow gets each line as it happens
            print(text, flush=True)

    log = EventLog(folder)
    try:
        start = None if since is None else parse_time(since)
    except ValueError as exc:
        raise ConfigError(f"--since {exc}") from None
    if limit < 1:
        raise ConfigError("--limit must be 1 or more")

    def chosen(event: Event) -> bool:
        return (not cameras or event.camera in cameras) and (
            start is None or (event.end or event.start) >= start
        )

    events = [e for e in log.read() if chosen(e)][-limit:]
    if not events and not (follow and as_json):
        out("no motion events" + (" for " + ", ".join(cameras) if cameras else "") + f" (kept in {log.file})")
    for event in events:
        out(json.dumps(event.to_json()) if as_json else line(event, log))
    if follow:

        def following() -> None:
            print(f"camcast: following {log.file} (Ctrl-C to stop)", file=sys.stderr, flush=True)

        for kind, event in _follow(log, following):
            if chosen(event):
                out(
                    json.dumps({"type": kind, **event.to_json()})
                    if as_json
                    else f"{kind:5}  {line(event, log)}"
                )


def line(event: Event, log: EventLog) -> str:
    doc = event.to_json()
    end = "interrupted" if event.interrupted else "open" if event.end is None else f"{doc['seconds']:.1f} s"
    picture = f"  {log.pictures / event.picture}" if event.picture else ""
    sound = event.kind == "sound"
    what = f"sound {event.level or 0:4.0f} dBFS" if sound else f"peak {event.peak * 100:5.2f}%"
    return f"{event.camera}  {doc['start']}  {end:>8}  {what}  {event.id}{picture}"


def _follow(log: EventLog, ready: Callable[[], None]) -> Iterator[tuple[str, Event]]:
    """Each start and end written to the log once ``ready`` is called (the file rewritten meanwhile is
    read again from its start, skipping what was seen)."""
    seen: set[tuple[str, bool]] = {(e.id, e.end is not None) for e in log.read()}
    offset = log.file.stat().st_size if log.file.exists() else 0
    ready()
    while True:
        time.sleep(FOLLOW_EVERY)
        try:
            size = log.file.stat().st_size
        except FileNotFoundError:
            continue
        if size < offset:
            offset = 0
        if size == offset:
            continue
        with log.file.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]
        offset += len(complete)
        for raw in complete.splitlines():
            try:
                event = Event.from_json(json.loads(raw))
            except (ValueError, KeyError, TypeError, IndexError):
                continue
            key = (event.id, event.end is not None)
            if key not in seen:
                seen.add(key)
                yield ("end" if event.end is not None else "start"), event
