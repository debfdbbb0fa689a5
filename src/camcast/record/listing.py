"""``camcast recordings``: what is recorded (a table, or JSON lines), an event or a recording exported
as one MP4 file, a recording deleted. Works on the files directly, whether or not the server runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from camcast.config import Config
from camcast.errors import ConfigError
from camcast.motion.events import EventLog
from camcast.record import catalog


def show(folder: Path, cameras: Sequence[str], as_json: bool, out: Callable[[str], None] = print) -> None:
    found = catalog.recordings(folder, cameras)
    if not found:
        out("no recordings" + (" of " + ", ".join(cameras) if cameras else "") + f" (kept in {folder})")
    for r in found:
        if as_json:
            out(json.dumps({**r.to_json(), "event": r.events[0] if r.events else None}))
        else:
            doc = r.to_json()
            events = f"  events {','.join(r.events)}" if r.events else ""
            cut = "" if r.complete else "  (cut off)"
            size = f"{r.seconds:7.1f} s  {r.bytes / 1e6:7.1f} MB"
            out(f"{r.camera}  {doc['start']}  {size}  {r.path}{events}{cut}")


def export(folder: Path, events: EventLog, config: Config, what: str, out: Path) -> str:
    """Export ``what`` (an event id, or a recording's file name) to ``out``; returns a line saying so."""
    recording = catalog.find(folder, what)
    if recording is not None:
        seconds = catalog.export([recording], recording.start, recording.end, out)
        return f"wrote {out} ({seconds:.1f} s of {recording.camera} from {recording.to_json()['start']})"
    event = next((e for e in events.read() if e.id == what), None)
    if event is None:
        raise ConfigError(
            f"no event or recording named {what!r} (camcast events and camcast recordings list them)"
        )
    try:
        settings = config.camera(event.camera)
        pre, post = settings.record_pre_seconds, settings.record_post_seconds
    except ConfigError:
        pre = post = 5.0
    start, end = event.start - pre, (event.end or time.time()) + post
    sources = [r for r in catalog.recordings(folder, [event.camera]) if r.end >= start and r.start <= end]
    if not sources:
        raise ConfigError(f"event {what} was not recorded (recording was off, or its files are deleted)")
    seconds = catalog.export(sources, start, end, out)
    return (
        f"wrote {out} ({seconds:.1f} s of {event.camera}: event {what}, {pre:g} s before, {post:g} s after)"
    )


def delete(folder: Path, name: str) -> str:
    recording = catalog.find(folder, name)
    if recording is None:  # a file being written is not found until it is finished
        raise ConfigError(f"no recording named {name!r} (camcast recordings lists them; one being "
                          "written is listed once it ends)")  # fmt: skip
    catalog.delete(recording)
    return f"deleted {recording.path}"


def main(
    config: Config,
    folder: Path,
    events_folder: Path,
    cameras: Sequence[str],
    as_json: bool,
    export_what: Sequence[str] | None,
    delete_name: str | None,
) -> None:
    """The command: export, delete, or list ``cameras``' recordings (all when empty)."""
    if export_what:
        what, out = export_what
        print(f"camcast: {export(folder, EventLog(events_folder), config, what, Path(out))}")
    elif delete_name:
        print(f"camcast: {delete(folder, delete_name)}")
    else:
        show(folder, cameras, as_json)
