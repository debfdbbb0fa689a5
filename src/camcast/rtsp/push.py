"""Publishing a camera to another server: RTSP ANNOUNCE/RECORD (a media server such as MediaMTX) or
RTMP (a live ingest), with FFmpeg's muxers through PyAV, of the same H.264 packets every other output
gets, and with the camera's audio on, its AAC. Nothing is encoded.

A listener of the camera's H.264 rendition hands each packet to a bounded worker per destination (a
full queue drops packets up to the next keyframe) whose thread writes them, so a slow or dead server
never holds up capture. A connection that fails is one log line and is tried again with backoff, from
the next keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import av

from camcast.audio.encode import AudioRendition
from camcast.encode.h264 import H264Encoder
from camcast.encode.rendition import Rendition
from camcast.frames import AudioPacket, Encoded, EncodedFrame
from camcast.hls import fmp4
from camcast.runtime.worker import Worker

log = logging.getLogger(__name__)

#: Packets waiting for a destination: about 5 s at 30 fps with AAC's 47 a second; past it, the oldest
#: go up to a keyframe.
QUEUE = 400
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
    """One camera to one destination. :meth:`start` on the event loop; :meth:`aclose` to end.

    Each packet is a job of the pusher's worker (:mod:`camcast.runtime.worker`: a full queue drops
    packets up to the next keyframe); the worker's thread alone holds the connection."""

    def __init__(
        self, camera: str, url: str, rendition: Rendition, sound: AudioRendition | None = None
    ) -> None:
        self.camera = camera
        self.url = url
        self.rendition = rendition
        self.sound = sound
        self._worker = Worker(f"push-{camera}", QUEUE, when_full="keyframe")
        # The worker's thread alone touches these.
        self._container: Any = None
        self._stream: Any = None
        self._sound_stream: Any = None
        self._t0 = 0.0
        self._connected_at = 0.0
        self._retry_at = 0.0
        self._delay = RETRY[0]

    def start(self) -> None:
        self.rendition.add_listener(self.receive)
        if self.sound is not None:
            self.sound.add_listener(self.receive_sound)

    async def aclose(self) -> None:
        """Stop taking packets and close the connection."""
        if self.receive in self.rendition.listeners:
            self.rendition.remove_listener(self.receive)
        if self.sound is not None:
            self.sound.remove_listener(self.receive_sound)
        self._worker.close(drain=False)
        await asyncio.to_thread(self._worker.join, 5)
        if not self._worker.alive:  # else it is stuck in a write: the process ends it
            self._t_close()

    def receive(self, frame: EncodedFrame) -> None:
        """A rendition listener (on the event loop): queue the packet, never wait."""
        payload = frame.payload
        if isinstance(payload, Encoded) and payload.codec == "h264" and not self._worker.closed:
            self._worker.submit(self._t_send, frame, keyframe=payload.keyframe)

    def receive_sound(self, packet: AudioPacket) -> None:
        """The AAC rendition's listener: queued behind the pictures, in the order they came."""
        if not self._worker.closed:
            self._worker.submit(self._t_send_sound, packet)

    # --- the worker's thread -------------------------------------------------------------------------
    def _t_send_sound(self, sound: AudioPacket) -> None:
        """An AAC packet, once connected (by a picture), from the connection's start on."""
        if self._container is None or self.sound is None or sound.time < self._t0:
            return
        time_base = Fraction(1, self.sound.format.rate)  # the sound's own rate: 48 kHz, or a source's
        packet = av.Packet(sound.data)
        packet.pts = packet.dts = round((sound.time - self._t0) / time_base)
        packet.time_base = time_base
        packet.stream = self._sound_stream
        # A broken connection is found, and said, by the next picture.
        with contextlib.suppress(av.FFmpegError, OSError, ValueError):
            self._container.mux(packet)

    def _t_send(self, frame: EncodedFrame) -> None:
        try:
            if self._container is None and not self._t_connect(frame):
                return
            packet = av.Packet(frame.payload.data)
            packet.pts = packet.dts = round((frame.time - self._t0) / TIME_BASE)
            packet.time_base = TIME_BASE
            packet.is_keyframe = frame.payload.keyframe
            packet.stream = self._stream
            self._container.mux(packet)
        except Exception as exc:  # the thread's edge: FFmpeg's, the network's, or a bug (logged whole)
            if not isinstance(exc, av.FFmpegError | OSError | ValueError):
                log.exception("%s: push to %s failed", self.camera, shown(self.url))
            self._t_close()
            if time.monotonic() - self._connected_at > 30:
                self._delay = RETRY[0]  # it worked for a while: the next attempt comes soon
            log.warning("%s: push to %s: %s; trying again in %g s", self.camera, shown(self.url),
                        _reason(exc), self._delay)  # fmt: skip
            self._retry_at = time.monotonic() + self._delay
            self._delay = min(self._delay * 2, RETRY[1])

    def _t_connect(self, frame: EncodedFrame) -> bool:
        """Connect, when the time has come and ``frame`` is a keyframe with its parameter sets (one is
        asked of the encoder otherwise); returns whether connected."""
        if time.monotonic() < self._retry_at:
            return False
        picture = fmp4.access_unit(frame)
        if picture is None or picture.params is None:
            if isinstance(self.rendition.encoder, H264Encoder):
                self.rendition.encoder.request_keyframe()  # safe from any thread; one a second at most
            return False
        scheme = urlsplit(self.url).scheme
        options = {"rtsp_transport": "tcp"} if scheme.startswith("rtsp") else {}
        container: Any = av.open(self.url, "w", format=SCHEMES[scheme], options=options, timeout=10)
        try:
            # The rate the stream says it has (FLV's metadata): the camera's, as its encoder was given.
            fps = getattr(self.rendition.encoder, "fps", None) or 30
            stream: Any = container.add_stream("h264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = frame.width, frame.height
            stream.pix_fmt = "yuv420p"
            stream.time_base = TIME_BASE
            stream.codec_context.extradata = b"".join(b"\x00\x00\x00\x01" + p for p in picture.params)
            if self.sound is not None:
                audio = self.sound.format
                sound: Any = container.add_stream("aac", rate=audio.rate)
                sound.layout = "mono" if audio.channels == 1 else "stereo"
                sound.time_base = Fraction(1, audio.rate)
                sound.codec_context.extradata = audio.config
                self._sound_stream = sound
            container.start_encoding()
        except BaseException:
            container.close()
            raise
        self._container, self._stream, self._t0 = container, stream, frame.time
        self._connected_at = time.monotonic()
        log.info("%s: pushing to %s", self.camera, shown(self.url))
        return True

    def _t_close(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(av.FFmpegError, OSError, ValueError):
                container.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, av.FFmpegError):
        return exc.strerror or str(exc)
    return str(exc)
