"""Sources read through FFmpeg (PyAV): video files (looped), RTSP/HTTP URLs, and V4L2 cameras.

When the stream is already motion-JPEG (a USB camera's MJPEG mode, an MJPEG file or HTTP stream) and no
resizing is asked, its JPEG packets are passed through without decoding or re-encoding. When it is H.264
without B-frames (an RTSP camera, a file, a V4L2 camera's H.264 mode), its packets go on as they are
(in Annex B, as the HLS segmenter and RTP want them) and are decoded only while something needs the
pixels (``want_pixels``), starting at a keyframe.

With the camera's ``audio = "source"``, the stream's first audio track is decoded in the same thread,
resampled to 48 kHz mono and handed to ``on_sound`` as chunks stamped on the pictures' clock; its
packets as they are go to ``on_sound_packet`` too, with their format, for the outputs that carry that
codec to pass them through.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import av
import av.bitstream
import av.error

from camcast.encode.jpeg import clean_camera_jpeg
from camcast.errors import SourceError
from camcast.frames import (
    AudioFormat,
    AudioPacket,
    Captured,
    Chunk,
    Encoded,
    Yuv420,
    of_h264,
    of_image,
    of_jpeg,
)
from camcast.sources.soundtrack import SoundTrack, heard, packet_seconds, sound_format
from camcast.sources.threaded import ThreadedSource
from camcast.sources.warmup import settle

log = logging.getLogger(__name__)

#: Seconds to wait for a network source to open, and for each read: a dead RTSP camera is noticed within
#: this time instead of hanging the reader thread.
OPEN_TIMEOUT = 10.0
READ_TIMEOUT = 5.0


class MediaSource(ThreadedSource):
    """Frames from anything FFmpeg opens.

    ``kind`` is ``file`` (paced to its timestamps and looped), ``url`` (live) or ``v4l2`` (a camera,
    opened with ``options`` such as ``input_format`` and ``video_size``). ``size`` rescales decoded
    frames; ``None`` keeps the source's own size (rounded down to even numbers).
    """

    def __init__(
        self,
        location: str,
        kind: str,
        size: tuple[int, int] | None = None,
        options: dict[str, str] | None = None,
        passthrough: bool = True,
        warmup: bool = False,
        sound: bool = False,
    ) -> None:
        self.location, self.kind = location, kind
        #: Whether the stream's sound is read (the camera's ``audio = "source"``).
        self.sound = sound
        self.warmup = warmup
        self.options = dict(options or {})
        self.passthrough = passthrough
        #: Whether anyone needs decoded pictures now (the camera sets it); H.264 is decoded only then.
        self.want_pixels: Callable[[], bool] = lambda: True
        #: Called in the reader thread each time the source is opened again after it was lost (a
        #: camera's controls are set again on a camera plugged back in).
        self.on_reopen: Callable[[], None] = lambda: None
        #: Given the sound's chunks, in the reader thread, while the camera carries the source's sound.
        self.on_sound: Callable[[Chunk], None] | None = None
        #: Given the sound's packets as they came and their format, in the reader thread, likewise.
        self.on_sound_packet: Callable[[AudioPacket, AudioFormat], None] | None = None
        #: Whether the stream, as last opened, has a sound track, and its format (None: not one an
        #: output could carry as it is).
        self.has_sound = False
        self.sound_format: AudioFormat | None = None
        self._opened = False
        self._size = size
        #: The source's times on ours, kept across openings: a file played again goes on from where it
        #: ended, one picture's interval later.
        self._clock = MediaClock(live=kind != "file")
        super().__init__(*(size or (0, 0)))  # the real size is known once the stream is opened

    @property
    def buffers_while_unread(self) -> bool:  # type: ignore[override]
        return self.kind == "url"

    @property
    def device(self) -> str | None:
        """The V4L2 device this source captures from, or None for a file or URL."""
        return self.location if self.kind == "v4l2" else None

    def describe(self) -> str:
        """What the source is, for logs and status: a URL's password and query never appear in it."""
        return {"file": "file", "url": "stream", "v4l2": "camera"}[
            self.kind
        ] + f" {redact_url(self.location)}"

    def ended_normally(self) -> bool:
        return self.kind == "file"

    def open_frames(self) -> Iterator[Captured]:
        container = _open(self.location, self.kind, self.options)
        if self._opened:
            self.on_reopen()
        self._opened = True
        frames = self._frames(container)
        return settle(frames, self.describe()) if self.warmup else frames

    def _frames(self, container: Any) -> Iterator[Captured]:
        try:
            if not container.streams.video:
                raise SourceError(f"{redact_url(self.location)} has no video stream")
            stream = container.streams.video[0]
            self.has_sound = bool(container.streams.audio)
            self.sound_format = sound_format(container.streams.audio[0]) if self.has_sound else None
            listened = self.has_sound and self.sound
            sound = SoundTrack(container.streams.audio[0], self, self._clock.place) if listened else None
            streams = (stream,) if sound is None else (stream, sound.stream)
            native = (stream.codec_context.width, stream.codec_context.height)
            if not all(native):
                raise SourceError(f"{redact_url(self.location)} does not say its picture size")
            self.width, self.height = self._size or (native[0] & ~1, native[1] & ~1)
            same_size = self._size in (None, native)
            codec = stream.codec_context.name
            if self.passthrough and codec == "mjpeg" and same_size:
                self.width, self.height = native
                yield from self._passthrough(container.demux(*streams), sound)
            elif (
                self.passthrough
                and codec == "h264"
                and same_size
                and native == (self.width, self.height)
                and not (stream.codec_context.has_b_frames)
            ):
                yield from self._h264(container.demux(*streams), stream, sound)
            else:
                stream.thread_type = "AUTO"
                yield from self._decoded(container.demux(*streams), sound)
            if sound is not None:
                sound.release(math.inf)  # the end (a file played again): the sound held for it goes on
        except av.error.FFmpegError as exc:
            raise SourceError(f"reading {redact_url(self.location)} failed: {_reason(exc)}") from exc
        finally:
            container.close()

    def _pace(self, t: float | None, sound: SoundTrack | None) -> float:
        """The capture time (monotonic) of the picture at media time ``t`` (seconds); a file's is
        waited for, a live source's pictures arrive at their own pace. The sound up to it goes on."""
        at = self._clock.at(t, time.monotonic())
        if self.kind == "file":
            delay = at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
        if sound is not None and t is not None:
            sound.release(t)
        return at

    def _passthrough(self, packets: Iterator[Any], sound: SoundTrack | None) -> Iterator[Captured]:
        for packet in packets:
            if self._stop.is_set():  # a live stream never ends by itself: stop reading it
                return
            if packet.size == 0 or heard(packet, sound):
                continue
            at = self._pace(packet_seconds(packet), sound)
            data = clean_camera_jpeg(bytes(packet))
            yield of_jpeg(self.next_seq(), data, self.width, self.height, at)

    def _h264(self, packets: Iterator[Any], stream: Any, sound: SoundTrack | None) -> Iterator[Captured]:
        annexb = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
        decoder: Any = None
        for packet in packets:
            if self._stop.is_set():
                return
            if packet.size == 0 or heard(packet, sound):
                continue
            at = self._pace(packet_seconds(packet), sound)
            for out in annexb.filter(packet):
                h264 = Encoded("h264", bytes(out), out.is_keyframe)
                image = None
                if not self.want_pixels():
                    decoder = None
                elif decoder is not None or h264.keyframe:
                    # Its own decoder, fed Annex B as it goes out (parameter sets in-band on keyframes).
                    decoder = decoder or av.CodecContext.create("h264", "r")
                    for vf in decoder.decode(av.Packet(h264.data)):
                        image = self._yuv(vf)
                yield of_h264(self.next_seq(), h264, self.width, self.height, image, at)

    def _yuv(self, vf: Any) -> Yuv420:
        w, h = self.width, self.height
        # yuvj420p is full-range I420, what JPEG stores; swscale does the range and size conversion.
        planes = vf.reformat(width=w, height=h, format="yuvj420p").to_ndarray()
        q = h * w // 4
        flat = planes[h:].reshape(-1)
        return Yuv420(planes[:h], flat[:q].reshape(h // 2, w // 2), flat[q:].reshape(h // 2, w // 2))

    def _decoded(self, packets: Iterator[Any], sound: SoundTrack | None) -> Iterator[Captured]:
        for packet in packets:
            if heard(packet, sound):
                continue
            for vf in packet.decode():
                if self._stop.is_set():
                    return
                at = self._pace(vf.time, sound)
                yield of_image(self.next_seq(), self._yuv(vf), at)


class MediaClock:
    """A source's own times (seconds, from its packets) on the monotonic clock, so that pictures keep
    the source's timing, however late the reading thread got to them (a CPU taken by something else,
    a keyframe's decoding). The first picture is placed at its arrival, each later one at its distance
    in the source from it.

    A live source's pictures cannot arrive before they were taken: one that does shows the source's
    clock running fast against ours, and moves the origin back; the origin also creeps forward
    (:data:`CREEP`) so that a slow clock is followed too. A jump (a camera restarting its clock, a
    reader :data:`RESYNC` behind) starts anew at the arrival; a file starting again goes on one
    picture's interval after its last. The times only grow."""

    #: Seconds off the expected time past which the source's times are taken anew.
    RESYNC = 1.0
    #: How fast a live source's origin follows our clock forward (s/s): 200 ppm, four times a quartz
    #: clock's usual error; each picture's interval is changed by at most that much.
    CREEP = 2e-4
    #: The least step between two pictures' times (a picture without a time, or two with one time).
    STEP = 1e-4

    def __init__(self, live: bool) -> None:
        self.live = live
        self._origin: float | None = None
        self._seen = 0.0  # when the origin was last moved
        self._last = -float("inf")
        self._step = 1 / 30  # the last interval between two pictures

    def place(self, t: float | None) -> float | None:
        """Where source time ``t`` falls on the monotonic clock as the pictures are placed now (the
        sound's times), or None before the first picture."""
        return None if t is None or self._origin is None else t + self._origin

    def at(self, t: float | None, now: float) -> float:
        """The monotonic time of the picture at source time ``t`` (None: a picture without one, now),
        read at monotonic time ``now``."""
        if t is None:
            at = now
        else:
            if self._origin is not None and self.live:
                self._origin = min(self._origin + self.CREEP * (now - self._seen), now - t)
            self._seen = now
            at = t + self._origin if self._origin is not None else now
            if self._origin is not None and at <= self._last and not self.live:  # the file again
                self._origin = self._last + self._step - t
                at = t + self._origin
            if self._origin is None or at <= self._last or now - at > self.RESYNC:
                self._origin = now - t
                at = now
        at = max(at, self._last + self.STEP)
        if self._last > -float("inf"):
            self._step = at - self._last
        self._last = at
        return at


def redact_url(location: str) -> str:
    """``location`` without credentials or query (which may hold a token): rtsp://user:***@host/path."""
    parts = urlsplit(location)
    if not parts.scheme or parts.scheme == "file":
        return location
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{parts.username}:***@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


#: FFmpeg's probing of an RTSP stream, without its frame-rate guess: by default it reads 20 pictures
#: to guess the rate (which the description gives) before handing the first on, and they come out in a
#: burst, old pictures squeezed together by the source's clock (1.7 s of them from GStreamer's RTSP
#: server; 0.4 s without the guess: what it takes to reach a keyframe and read the picture's size).
RTSP_PROBE = {"fpsprobesize": "0"}


def _open(location: str, kind: str, options: dict[str, str]) -> Any:
    opts = dict(options)
    fmt = None
    if kind == "v4l2":
        fmt = "video4linux2"
    elif location.startswith(("rtsp://", "rtsps://")):
        opts = {"rtsp_transport": "tcp", **RTSP_PROBE, **opts}
    try:
        return av.open(location, format=fmt, options=opts, timeout=(OPEN_TIMEOUT, READ_TIMEOUT))
    except av.error.FFmpegError as exc:
        raise SourceError(f"cannot open {redact_url(location)}: {_reason(exc)}") from exc


def _reason(exc: av.error.FFmpegError) -> str:
    text = str(getattr(exc, "strerror", "") or exc)
    if isinstance(exc, av.error.FileNotFoundError):
        return "no such file or device"
    if isinstance(exc, av.error.PermissionError):
        return "permission denied"
    return text.rstrip(".").lower() or type(exc).__name__
