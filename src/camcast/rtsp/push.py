"""Publishing a camera to another server: RTSP ANNOUNCE/RECORD (a media server such as MediaMTX) or
RTMP (a live ingest), with FFmpeg's muxers through PyAV, of the same H.264 packets every other output
gets. Nothing is encoded.

A listener of the camera's H.264 rendition puts each packet in a bounded queue (a full queue drops
packets up to the next keyframe) and a thread per destination writes them, so a slow or dead server
never holds up capture. A connection that fails is one log line and is tried again with backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import av

from camcast.encode.h264 import H264Encoder
from camcast.encode.rendition import Rendition
from camcast.frames import Encoded, EncodedFrame
from camcast.hls import fmp4

log = logging.getLogger(__name__)

#: Packets waiting for a destination: about 5 s at 30 fps; past it, the oldest go up to a keyframe.
QUEUE = 150
#: Seconds between attempts to connect: doubling from the first to the last.
RETRY = (1.0, 30.0)
#: FFmpeg's muxer for each scheme (config.parse.PUSH_SCHEMES lists them).
SCHEMES = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "rtmps": "flv"}
TIME_BASE = Fraction(1, 90_000)


def shown(url: str) -> str:
    """``url`` without a password, and an RTMP stream key (its last path segment) hidden."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (
        (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    )
    path = parts.path
    if parts.scheme.startswith("rtmp") and "/" in path.strip("/"):
        path = path.rsplit("/", 1)[0] + "/…"
    return f"{parts.scheme}://{netloc}{path}"


class Pusher:
    """One camera to one destination. :meth:`start` on the event loop; :meth:`stop` to end."""

    def __init__(self, camera: str, url: str, rendition: Rendition) -> None:
        self.camera = camera
        self.url = url
        self.rendition = rendition
        self._queue: deque[EncodedFrame] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camcast-push-{camera}", daemon=True)

    def start(self) -> None:
        self.rendition.add_listener(self.receive)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._ready.set()
        if self.receive in self.rendition.listeners:
            self.rendition.remove_listener(self.receive)
        self._thread.join(5)

    def receive(self, frame: EncodedFrame) -> None:
        """A rendition listener (on the event loop): queue the packet, never wait."""
        payload = frame.payload
        if not isinstance(payload, Encoded) or payload.codec != "h264":
            return
        with self._lock:
            if len(self._queue) >= QUEUE:
                self._drop_to_keyframe()
            self._queue.append(frame)
        self._ready.set()

    def _drop_to_keyframe(self) -> None:
        self._queue.popleft()
        while self._queue and not self._queue[0].payload.keyframe:
            self._queue.popleft()

    def _next(self) -> EncodedFrame | None:
        while not self._stop.is_set():
            with self._lock:
                if self._queue:
                    return self._queue.popleft()
                self._ready.clear()
            self._ready.wait(1.0)
        return None

    # --- the thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = RETRY[0]
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._push()
            except (av.FFmpegError, OSError, ValueError) as exc:
                if time.monotonic() - began > 30:
                    delay = RETRY[0]  # it worked for a while: the next attempt comes soon
                log.warning("%s: push to %s: %s; trying again in %g s", self.camera, shown(self.url),
                            _reason(exc), delay)  # fmt: skip
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, RETRY[1])

    def _push(self) -> None:
        first = self._keyframe()
        if first is None:
            return
        picture = fmp4.access_unit(first)
        assert picture is not None and picture.params is not None
        params = picture.params
        scheme = urlsplit(self.url).scheme
        options = {"rtsp_transport": "tcp"} if scheme.startswith("rtsp") else {}
        with av.open(self.url, "w", format=SCHEMES[scheme], options=options, timeout=10) as container:
            stream: Any = container.add_stream("h264", rate=30)
            stream.width, stream.height = first.width, first.height
            stream.pix_fmt = "yuv420p"
            stream.time_base = TIME_BASE
            stream.codec_context.extradata = b"".join(b"\x00\x00\x00\x01" + p for p in params)
            container.start_encoding()
            log.info("%s: pushing to %s", self.camera, shown(self.url))
            t0 = first.time
            frame: EncodedFrame | None = first
            while frame is not None:
                packet = av.Packet(frame.payload.data)
                packet.pts = packet.dts = round((frame.time - t0) / TIME_BASE)
                packet.time_base = TIME_BASE
                packet.is_keyframe = frame.payload.keyframe
                packet.stream = stream
                container.mux(packet)
                frame = self._next()

    def _keyframe(self) -> EncodedFrame | None:
        """The next keyframe with its parameter sets (asking the encoder for one)."""
        if isinstance(self.rendition.encoder, H264Encoder):
            self.rendition.encoder.request_keyframe()
        while True:
            frame = self._next()
            if frame is None:
                return None
            picture = fmp4.access_unit(frame)
            if picture is not None and picture.params is not None:
                return frame


def _reason(exc: BaseException) -> str:
    if isinstance(exc, av.FFmpegError):
        return exc.strerror or str(exc)
    return str(exc)
