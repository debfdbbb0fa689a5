"""One recording on disk: fragmented MP4 while it is written, a normal MP4 once finished.

While recording, each group of pictures is appended as one fMP4 fragment and flushed, so a file cut
off (power loss, ``kill -9``, a full disk) plays up to its last whole fragment. Finishing copies the
packets into a normal MP4 with its index at the front (``faststart``: every player seeks in it, and a
browser starts playing before the download ends) and renames it over the fragmented one, then writes
the sidecar (``NAME.json``: camera, start, end, bytes, events). Everything here blocks: the recorder
calls it from its own worker thread, never from the event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from camcast.clock import iso
from camcast.errors import CamcastError
from camcast.frames import AudioFormat
from camcast.hls import fmp4
from camcast.record.gops import Gop, Params
from camcast.record.names import sidecar
from camcast.security.files import private_dir, write_atomic


class RecordError(CamcastError):
    """A recording could not be written (a full disk, a folder that went away)."""


@dataclass(frozen=True)
class Recording:
    """A file on disk as listed: ``name`` is its file name (unique: camera and start to the ms)."""

    camera: str
    name: str
    path: Path
    start: float
    end: float
    bytes: int
    events: tuple[str, ...] = ()
    complete: bool = True
    cut: str = ""  # why the file ends before the recording was meant to (the disk fell behind)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "name": self.name,
            "path": str(self.path),
            "start": iso(self.start),
            "end": iso(self.end),
            "seconds": round(self.seconds, 2),
            "bytes": self.bytes,
            "events": list(self.events),
            "complete": self.complete,
            "cut": self.cut or None,
        }


class Clip:
    """A recording being written. Not thread-safe: one thread writes it."""

    def __init__(
        self, path: Path, camera: str, params: Params, start: float, sound: AudioFormat | None = None
    ) -> None:
        self.path = path
        self.camera = camera
        self.params = params
        self.start = start
        self.end = start
        self.events: list[str] = []
        self.cut = ""
        self.bytes = 0
        self._sequence = 0
        self._ticks = 0
        self._origin: float | None = None  # the monotonic time of the first picture: decode time 0
        try:
            private_dir(path.parent)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except CamcastError as exc:
            raise RecordError(f"cannot start a recording: {exc}") from exc
        except OSError as exc:
            raise RecordError(f"cannot start a recording in {path.parent}: {exc.strerror}") from exc
        sps, pps, width, height = params
        self._write(fmp4.init_segment(sps, pps, width, height, sound))
        self._sound = sound

    @property
    def seconds(self) -> float:
        return self._ticks / fmp4.TIMESCALE

    def add(self, gop: Gop) -> None:
        """Append one group as a fragment (to the disk now: a crash keeps it)."""
        self._sequence += 1
        if self._origin is None:
            self._origin = gop.time
        self._write(fmp4.fragment(self._sequence, self._ticks, gop.samples, self._sound_of(gop)))
        self._ticks += gop.ticks
        self.end = gop.end_wall

    def _sound_of(self, gop: Gop) -> fmp4.Run | None:
        """The group's sound, placed on the clip's time line (none from before its first picture)."""
        if self._sound is None or self._origin is None:
            return None
        origin, rate = self._origin, self._sound.rate
        timed = [(round((p.time - origin) * rate), p.data, p.samples) for p in gop.sound]
        timed = [t for t in timed if t[0] >= 0]
        return fmp4.timed_run(fmp4.AUDIO_TRACK, timed) if timed else None

    def _write(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise RecordError(f"cannot write {self.path}: {exc.strerror}") from exc
        self.bytes += len(data)

    def finish(self) -> Recording:
        """Close the file, give it a normal index, write its sidecar. A file that cannot be indexed
        stays as it is (fragmented, still playable) and is listed as incomplete."""
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        os.close(self._fd)
        try:
            index(self.path)
            complete = True
        except (av.FFmpegError, OSError):  # a full disk: the fragmented file stays, still playable
            complete = False
        size = self.path.stat().st_size
        done = Recording(self.camera, self.path.name, self.path, self.start, self.end, size,
                         tuple(self.events), complete, self.cut)  # fmt: skip
        write_sidecar(done)
        return done

    def abandon(self) -> None:
        """Close the file as it is (a failed write): it plays up to its last whole fragment."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


def write_sidecar(recording: Recording) -> None:
    data = json.dumps(recording.to_json(), indent=1).encode()
    write_atomic(sidecar(recording.path), data, mode=0o600, error=RecordError)


def index(path: Path) -> None:
    """Rewrite ``path`` (fragmented MP4) as a normal MP4 with its index first, copying the packets."""
    temp = path.with_name(f".{path.name}.indexing")
    try:
        with av.open(str(path)) as source, av.open(str(temp), "w", format="mp4",
                                                   options={"movflags": "+faststart"}) as out:  # fmt: skip
            streams = [source.streams.video[0], *source.streams.audio[:1]]
            copies = {stream.index: out.add_stream_from_template(stream) for stream in streams}
            for packet in source.demux(*streams):
                if packet.dts is None:
                    continue
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
