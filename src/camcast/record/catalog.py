"""What is on disk: the recordings of every camera, listed from their sidecars (a file without one,
cut off by a crash, is read for its times and listed as incomplete), deleted, and exported."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import av

from camcast.record.clip import RecordError, Recording, write_sidecar
from camcast.record.names import NAME, path_of, sidecar

#: A file without its sidecar that changed this recently is being written (seconds); an older one was
#: cut off by a crash, and is listed as such.
WRITING = 30.0


def recordings(folder: Path, cameras: Iterable[str] = ()) -> list[Recording]:
    """Every recording under ``folder`` (of ``cameras``, or all), oldest first."""
    chosen = set(cameras)
    found = []
    if not folder.is_dir():
        return []
    for camera_dir in folder.iterdir():
        if not camera_dir.is_dir() or (chosen and camera_dir.name not in chosen):
            continue
        for path in camera_dir.glob("*/*.mp4"):
            recording = read(path)
            if recording is not None:
                found.append(recording)
    return sorted(found, key=lambda r: r.start)


def read(path: Path) -> Recording | None:
    """The recording at ``path``: from its sidecar, else (a crash cut it off) from the file itself;
    None for a file being written."""
    try:
        doc = json.loads(sidecar(path).read_text())
        return Recording(
            str(doc["camera"]), path.name, path, datetime.datetime.fromisoformat(doc["start"]).timestamp(),
            datetime.datetime.fromisoformat(doc["end"]).timestamp(), path.stat().st_size,
            tuple(doc.get("events", ())), bool(doc.get("complete", True)), str(doc.get("cut") or ""),
        )  # fmt: skip
    except FileNotFoundError:
        try:
            if time.time() - path.stat().st_mtime < WRITING:
                return None  # being written (a running server's): listed once it is finished
        except OSError:
            return None
        return recover(path)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recover(
    path: Path, write: bool = False, events: Callable[[str, float, float], tuple[str, ...]] | None = None
) -> Recording | None:
    """A recording without a sidecar (cut off while written): its camera and start from its name, its
    length from its packets; listed as incomplete, naming the ``events`` (camera, start, end) gives for
    its span. With ``write``, the sidecar is written."""
    match = NAME.fullmatch(path.name)
    if match is None:
        return None
    try:
        start = datetime.datetime.strptime(f"{match['day']}{match['time']}", "%Y%m%d%H%M%S").timestamp()
        start += int(path.stem[-3:]) / 1000
        seconds = duration(path)
        size = path.stat().st_size
    except (av.FFmpegError, OSError, ValueError):
        return None
    held = events(match["camera"], start, start + seconds) if events is not None else ()
    recording = Recording(match["camera"], path.name, path, start, start + seconds, size, held, False)
    if write:
        with contextlib.suppress(RecordError):
            write_sidecar(recording)
    return recording


def duration(path: Path) -> float:
    """Seconds of video in ``path``, from its packets' timestamps (what a cut-off file still has)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first = last = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            first = packet.pts if first is None else min(first, packet.pts)
            end = packet.pts + (packet.duration or 0)
            last = end if last is None else max(last, end)
        if first is None or last is None or stream.time_base is None:
            return 0.0
        return float((last - first) * stream.time_base)


def find(folder: Path, name: str) -> Recording | None:
    """The recording named ``name`` (a file name as listed), or None."""
    path = path_of(folder, name)
    return read(path) if path is not None and path.is_file() else None


def delete(recording: Recording) -> None:
    """Delete a recording and its sidecar (really: the bytes are gone)."""
    try:
        recording.path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RecordError(f"cannot delete {recording.path}: {exc.strerror}") from exc
    sidecar(recording.path).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        recording.path.parent.rmdir()  # the day's folder, once empty


def export(sources: list[Recording], start: float, end: float, out: Path) -> float:
    """Write the video from ``start`` to ``end`` (Unix seconds) of ``sources`` (one camera's files, in
    order) to ``out`` as one MP4, copying packets from the keyframe at or before ``start``. Returns the
    seconds written. The file appears whole or not at all."""
    chosen = [r for r in sources if r.end >= start and r.start <= end]
    if not chosen:
        raise RecordError("no video was recorded in that time")
    temp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        begin = _keyframe_before(chosen[0], start)
        last = begin
        with av.open(str(temp), "w", format="mp4", options={"movflags": "+faststart"}) as target:
            copy = None
            for recording in chosen:
                with av.open(str(recording.path)) as source:
                    stream = source.streams.video[0]
                    copy = copy or target.add_stream_from_template(stream)
                    tb = stream.time_base
                    assert tb is not None
                    shift = round((recording.start - begin) / tb)
                    base = None
                    for packet in source.demux(stream):
                        if packet.pts is None or packet.dts is None:
                            continue
                        base = packet.dts if base is None else base
                        at = recording.start + float((packet.pts - base) * tb)
                        if at < begin - 0.001:
                            continue
                        if at > end:
                            break
                        packet.pts, packet.dts = packet.pts - base + shift, packet.dts - base + shift
                        packet.stream = copy
                        target.mux(packet)
                        last = max(last, at)
        os.replace(temp, out)
    except av.FFmpegError as exc:
        raise RecordError(f"cannot export to {out}: {exc}") from exc
    except OSError as exc:
        raise RecordError(f"cannot write {out}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return last - begin


def _keyframe_before(recording: Recording, start: float) -> float:
    """The time of the last keyframe of ``recording`` at or before ``start`` (its first one if none)."""
    found = recording.start
    with av.open(str(recording.path)) as source:
        stream = source.streams.video[0]
        base = None
        for packet in source.demux(stream):
            if packet.pts is None or packet.dts is None or stream.time_base is None:
                continue
            base = packet.dts if base is None else base
            at = recording.start + float((packet.pts - base) * stream.time_base)
            if at > start:
                break
            if packet.is_keyframe:
                found = at
    return found
