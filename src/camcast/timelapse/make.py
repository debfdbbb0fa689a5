"""``camcast timelapse``: the films made (a table, or JSON lines), and ``--make``: a film of any span,
from the timelapse's pictures (the days' films, decoded only where the span needs them) and, where
there are none, from the continuous recordings (their keyframes, each decoded alone). Works on the
files directly, whether or not the server runs."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from camcast import paths
from camcast.clock import parse_duration_between, parse_time
from camcast.config import Config
from camcast.errors import ConfigError
from camcast.record import catalog
from camcast.record.clip import RecordError
from camcast.timelapse import film as films

#: The frame rate of a film made on demand, when the span has pictures enough for it.
FPS = 30


def main(cfg: Config, cameras: Sequence[str], as_json: bool, out: str | None, start: str | None,
         end: str | None, length_text: str | None) -> None:  # fmt: skip
    """The command: the films listed, or with ``out`` one made from ``start`` to ``end``."""
    if out is None:
        show(paths.timelapse_dir(), cameras, as_json)
        return
    if not (start and end):
        raise ConfigError("--make needs --from and --to")
    if len(cameras) > 1 or (not cameras and len(cfg.cameras) > 1):
        raise ConfigError("--make makes one camera's film: choose it with --camera")
    camera = cameras[0] if cameras else cfg.cameras[0].id
    try:
        length = parse_duration_between(1, 3600)(length_text) if length_text else 60.0
    except ValueError as exc:
        raise ConfigError(f"--length {exc}") from None
    print(
        "camcast: "
        + make(paths.timelapse_dir(), paths.recordings_dir(), camera, start, end, length, Path(out))
    )


def show(folder: Path, cameras: Sequence[str], as_json: bool, out: Callable[[str], None] = print) -> None:
    found = films.films(folder, list(cameras) or None)
    if not found:
        out("no timelapse films" + (" of " + ", ".join(cameras) if cameras else "") + f" (kept in {folder})")
    for f in found:
        if as_json:
            out(json.dumps({**asdict(f), "path": str(f.path(folder))}))
        else:
            first, last = (datetime.datetime.fromtimestamp(t).strftime("%H:%M") for t in (f.first, f.last))
            out(f"{f.camera}  {f.day}  {first}-{last}  {f.frames:6d} pictures  {f.length:6.1f} s  "
                f"{f.bytes / 1e6:7.1f} MB  {f.path(folder)}")  # fmt: skip


def make(folder: Path, recordings: Path, camera: str, start_text: str, end_text: str, length: float,
         out: Path) -> str:  # fmt: skip
    """Write the film of ``camera`` from ``start_text`` to ``end_text`` lasting ``length`` seconds to
    ``out``; returns a line saying what it was made from."""
    try:
        start, end = parse_time(start_text), parse_time(end_text)
    except ValueError as exc:
        raise ConfigError(f"--from and --to {exc}") from None
    if end <= start:
        raise ConfigError("--to must be after --from")
    most = max(1, round(length * FPS))
    picked = _pick(list(_timelapse(folder, camera, start, end)), most)
    source = "the timelapse's pictures"
    if not picked:
        picked = _pick(list(_keyframes(recordings, camera, start, end)), most)
        source = "the continuous recordings' keyframes"
    if not picked:
        raise RecordError(
            f"{camera} has no timelapse picture and no recording from {start_text} to {end_text}"
        )
    count = _write(picked, length, out)
    return f"wrote {out}: {count} pictures of {camera} in {length:g} s, from {source}"


Pick = tuple[float, Path, int]  # a picture's capture time, the file it is in, its index there


def _pick(found: list[Pick], most: int) -> list[Pick]:
    """At most ``most`` of ``found`` (in time order), spread evenly over it."""
    if len(found) <= most:
        return found
    return [found[round(i * (len(found) - 1) / (most - 1))] for i in range(most)] if most > 1 else found[:1]


def _timelapse(folder: Path, camera: str, start: float, end: float) -> Iterator[Pick]:
    for film in films.films(folder, [camera]):
        if film.last < start or film.first > end:
            continue
        try:
            taken = films.times(folder, film)
        except (OSError, ValueError):
            continue
        for index, at in enumerate(taken):
            if start <= at <= end:
                yield at, film.path(folder), index


def _keyframes(folder: Path, camera: str, start: float, end: float) -> Iterator[Pick]:
    for recording in catalog.recordings(folder, [camera]):
        if recording.end < start or recording.start > end:
            continue
        try:
            with av.open(str(recording.path)) as source:
                stream = source.streams.video[0]
                base = None
                for index, packet in enumerate(p for p in source.demux(stream) if p.size):
                    if packet.pts is None or packet.time_base is None:
                        continue
                    base = packet.pts if base is None else base
                    at = recording.start + float((packet.pts - base) * packet.time_base)
                    if packet.is_keyframe and start <= at <= end:
                        yield at, recording.path, index
        except (av.FFmpegError, IndexError):  # cut off, or damaged: what it gave is kept
            continue


def _frames(picked: list[Pick]) -> Iterator[av.VideoFrame]:
    """The pictures ``picked``, decoded, each file read once: a recording's keyframes each decoded
    alone (the packets between them are skipped), a film's pictures in order up to the last wanted."""
    by_file: dict[Path, set[int]] = {}
    for _, path, index in picked:
        by_file.setdefault(path, set()).add(index)
    for path, wanted in by_file.items():
        with av.open(str(path)) as source:
            stream = source.streams.video[0]
            alone = path.suffix == ".mp4" and not path.with_suffix(".times").exists()  # a recording
            stream.codec_context.skip_frame = "NONKEY" if alone else "DEFAULT"
            for index, packet in enumerate(p for p in source.demux(stream) if p.size):
                if index > max(wanted):
                    break
                if alone and index not in wanted:
                    continue
                for frame in stream.codec_context.decode(packet):
                    if index in wanted:
                        yield frame


def _write(picked: list[Pick], length: float, out: Path) -> int:
    temp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    clock = Fraction(1, 90000)
    each = length / len(picked)
    count = 0
    try:
        with av.open(str(temp), "w", format="mp4", options={"movflags": "+faststart"}) as target:
            stream = None
            for frame in _frames(picked):
                if stream is None:
                    stream = target.add_stream("libx264")
                    stream.width, stream.height = frame.width & ~1, frame.height & ~1
                    stream.pix_fmt = "yuv420p"
                    stream.time_base = stream.codec_context.time_base = clock
                    stream.codec_context.options = {"preset": "veryfast", "crf": films.CRF}
                picture = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
                picture.pts, picture.time_base = round(count * each / clock), clock
                count += 1
                target.mux(_lasting(stream.encode(picture), each / clock))
            if stream is not None:
                target.mux(_lasting(stream.encode(None), each / clock))
        os.replace(temp, out)
    except av.FFmpegError as exc:
        raise RecordError(f"cannot make {out}: {exc}") from exc
    except OSError as exc:
        raise RecordError(f"cannot write {out}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return count


def _lasting(packets: list[av.Packet[Any]], ticks: float) -> list[av.Packet[Any]]:
    """``packets``, each lasting ``ticks`` (so the last picture lasts as long as the others)."""
    for packet in packets:
        packet.duration = round(ticks)
    return packets
