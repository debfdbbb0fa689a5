"""A day's film, made as the day goes, and the films made: on disk in the timelapse folder,
``CAMERA/DAY.mp4`` with its sidecar ``CAMERA/DAY.json`` and its pictures' capture times
``CAMERA/DAY.times``.

Each picture is encoded when it is taken (H.264, x264 with no lookahead, so nothing waits in the
encoder) into a fragmented MP4, a fragment per picture: the day never needs its pictures at once, and a
crash loses no picture already taken (the fragments before it play). The pictures' capture times are
a journal beside it (``DAY.partN.times``, a line each). A server started again the same day writes a
new part (``DAY.part2.mp4``). When the day's window ends the parts are joined and retimed to the film's
length without decoding (each picture lasts length / pictures), written with its index first
(faststart) so a browser plays it from the first bytes, and the parts are deleted. bench/timelapse.py
measured this against keeping the pictures as JPEG and encoding at the end, for a 720p day at every
10 s: 20 MB of working files against 436 MB, and the film ready 0.14 s after the window's end against
232 s (docs/benchmarks.md). The price: x264 without its lookahead makes a bigger film (19 MB against
1.5 MB for that day).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from camcast.frames import Yuv420
from camcast.security.files import append_line, private_dir, write_atomic

log = logging.getLogger(__name__)

#: The working parts' clock: milliseconds of capture time since the day's midnight.
PART_CLOCK = Fraction(1, 1000)
#: The film's clock.
FILM_CLOCK = Fraction(1, 90000)
#: x264's quality. A camera's noise is what costs at x264's default (23): 22 kB a 720p picture (150 of
#: bench/timelapse.py's), 98 MB for a day at every 10 s; at 26 the noise is below the quantizer and a
#: picture costs under 5 kB (20 MB for the bench's day), the scene itself still sharp at the film's speed.
CRF = "26"
#: Keyframes in the film: one every this many pictures (a seek lands within them).
GOP = 60
_PART = re.compile(r"^(\d{4}-\d{2}-\d{2})\.part(\d+)\.mp4$")


@dataclass(frozen=True)
class Film:
    """A day's finished film, as its sidecar says."""

    camera: str
    day: str  # ISO date
    frames: int
    length: float  # seconds
    bytes: int
    first: float  # capture time (epoch seconds) of its first picture
    last: float
    width: int
    height: int

    def path(self, folder: Path) -> Path:
        return folder / self.camera / f"{self.day}.mp4"


def sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


class WorkingFilm:
    """The film of ``day`` being made for ``camera`` in ``folder`` (the timelapse folder)."""

    def __init__(self, folder: Path, camera: str, day: datetime.date) -> None:
        self.folder = private_dir(folder / camera)
        self.day = day
        self.midnight = datetime.datetime.combine(day, datetime.time()).astimezone().timestamp()
        self.pictures = 0
        self._out: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._size = (0, 0)
        self._times = Path()
        self._last_pts = -1

    def add(self, picture: Yuv420, wall: float) -> None:
        """Encode ``picture`` (full-range I420) taken at ``wall``; raises OSError (a full disk)."""
        size = (picture.width, picture.height)
        if self._out is None or size != self._size:
            self.close()  # a new size (the camera's changed) starts a new part
            self._open(size)
        assert self._stream is not None and self._out is not None
        pts = max(round((wall - self.midnight) * 1000), self._last_pts + 1)
        self._last_pts = pts
        frame = av.VideoFrame.from_ndarray(
            np.concatenate((picture.y.ravel(), picture.u.ravel(), picture.v.ravel())).reshape(-1, size[0]),
            format="yuv420p",
        )
        frame.color_range = av.video.reformatter.ColorRange.JPEG
        frame.pts = pts
        frame.time_base = PART_CLOCK
        for packet in self._stream.encode(frame):
            self._out.mux(packet)
        append_line(self._times, f"{wall:.3f}\n".encode())
        self.pictures += 1

    def _open(self, size: tuple[int, int]) -> None:
        taken = [
            int(m[2]) for p in self.folder.iterdir() if (m := _PART.match(p.name)) and m[1] == str(self.day)
        ]
        path = self.folder / f"{self.day}.part{max(taken, default=0) + 1}.mp4"
        movflags = "frag_every_frame+empty_moov+default_base_moof"
        self._out = av.open(str(path), "w", format="mp4", options={"movflags": movflags})
        stream = self._out.add_stream("libx264")
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = PART_CLOCK
        stream.codec_context.time_base = PART_CLOCK
        stream.codec_context.gop_size = GOP
        stream.codec_context.color_range = av.video.reformatter.ColorRange.JPEG
        stream.codec_context.options = {"preset": "veryfast", "tune": "zerolatency", "crf": CRF}
        self._stream, self._size, self._times = stream, size, path.with_suffix(".times")

    def close(self) -> None:
        """End the part being written (what the encoder holds is written first)."""
        out, stream = self._out, self._stream
        self._out = self._stream = None
        if out is None or stream is None:
            return
        try:
            for packet in stream.encode(None):
                out.mux(packet)
        finally:
            out.close()


def parts(folder: Path, camera: str) -> dict[str, list[Path]]:
    """The working parts in ``folder`` of ``camera``, by day, in order."""
    found: dict[str, list[tuple[int, Path]]] = {}
    with contextlib.suppress(FileNotFoundError):
        for path in (folder / camera).iterdir():
            if match := _PART.match(path.name):
                found.setdefault(match[1], []).append((int(match[2]), path))
    return {day: [p for _, p in sorted(paths)] for day, paths in sorted(found.items())}


def _packets(paths: list[Path]) -> Iterator[tuple[av.Packet[Any], av.VideoStream, float]]:
    """The video packets of ``paths`` in order with their capture times (a part cut off by a crash, up
    to its end)."""
    for path in paths:
        try:
            times = [float(line) for line in path.with_suffix(".times").read_text().split()]
        except (OSError, ValueError) as exc:
            log.warning("timelapse: the capture times of %s are unreadable; it is left out: %s", path, exc)
            continue
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                with contextlib.suppress(av.error.InvalidDataError, EOFError):
                    for packet, wall in zip(
                        filter(lambda p: p.size, container.demux(stream)), times, strict=False
                    ):
                        yield packet, stream, wall
        except (av.error.FFmpegError, IndexError) as exc:
            log.warning("timelapse: %s is unreadable and left out: %s", path, exc)


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
        path.with_suffix(".times").unlink(missing_ok=True)


def finish(folder: Path, camera: str, day: str, paths: list[Path], length: float) -> Film | None:
    """Join ``paths`` (a day's parts) into the day's film, retimed to ``length`` seconds, and delete
    them; returns the film (None if they held no picture). Raises OSError (a full disk, or FFmpeg's
    error: the parts are kept then)."""
    target = folder / camera / f"{day}.mp4"
    # A film already made that day (the window moved by a reload, the timelapse turned on again) is
    # joined first, never replaced: its pictures' times are beside it as a part's are.
    sources = ([target] if target.with_suffix(".times").exists() and target.exists() else []) + paths
    times, sizes = [], set()
    for _, stream, wall in _packets(sources):
        times.append(wall)
        sizes.add((stream.codec_context.width, stream.codec_context.height))
    if not times:
        _remove(paths)
        return None
    temp = target.with_name(f".{target.name}.tmp")
    each = length / len(times)
    try:
        if len(sizes) == 1:
            _remux(sources, temp, each)
        else:  # the camera's size changed that day: the parts cannot be joined as they are
            _reencode(sources, temp, each, max(sizes))
    except av.FFmpegError as exc:  # the parts stay, for the next try
        temp.unlink(missing_ok=True)
        raise OSError(f"cannot make {target}: {exc}") from exc
    width, height = max(sizes)
    film = Film(camera, day, len(times), round(each * len(times), 3), temp.stat().st_size, times[0],
                times[-1], width, height)  # fmt: skip
    os.replace(temp, target)
    write_atomic(target.with_suffix(".times"), "".join(f"{t:.3f}\n" for t in times).encode())
    write_atomic(sidecar(target), json.dumps(asdict(film)).encode())
    _remove(paths)
    return film


def _remux(paths: list[Path], out_path: Path, each: float) -> None:
    with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream: av.VideoStream | None = None
        for index, (packet, source, _) in enumerate(_packets(paths)):
            if stream is None:
                stream = out.add_stream_from_template(source)
                stream.time_base = FILM_CLOCK
            start, end = round(index * each / FILM_CLOCK), round((index + 1) * each / FILM_CLOCK)
            packet.stream = stream
            packet.time_base = FILM_CLOCK
            packet.pts = packet.dts = start
            packet.duration = end - start
            out.mux(packet)


def _reencode(paths: list[Path], out_path: Path, each: float, size: tuple[int, int]) -> None:
    with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264")
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = FILM_CLOCK
        stream.codec_context.options = {"preset": "veryfast", "crf": CRF}
        index = 0
        for path in paths:
            with av.open(str(path)) as container, contextlib.suppress(av.error.InvalidDataError, EOFError):
                for frame in container.decode(video=0):
                    picture = frame.reformat(width=size[0], height=size[1], format="yuv420p")
                    picture.pts = round(index * each / FILM_CLOCK)
                    picture.time_base = FILM_CLOCK
                    index += 1
                    for packet in stream.encode(picture):
                        out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def films(folder: Path, cameras: list[str] | None = None) -> list[Film]:
    """The films made, oldest first, from their sidecars (a film without one is not finished)."""
    found = []
    for path in sorted(folder.glob("*/*.json")):
        try:
            film = Film(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if cameras is None or film.camera in cameras:
            found.append(film)
    return sorted(found, key=lambda f: (f.day, f.camera))


def times(folder: Path, film: Film) -> list[float]:
    """The capture time of each of ``film``'s pictures, in order; raises OSError, ValueError."""
    return [float(line) for line in film.path(folder).with_suffix(".times").read_text().split()]


def delete(folder: Path, film: Film) -> None:
    path = film.path(folder)
    sidecar(path).unlink(missing_ok=True)  # the listing forgets it first
    path.unlink(missing_ok=True)
    path.with_suffix(".times").unlink(missing_ok=True)
