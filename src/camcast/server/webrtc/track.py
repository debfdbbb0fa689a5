"""One peer's video (and sound), and one camera's frames fanned out to its peers.

Keyframes: a peer starts at a keyframe, asked of the shared encoder when it starts; a picture-loss or
full-picture request (RTCP PLI/FIR) from a peer asks for one too (see :mod:`.sessions`). The encoder
grants at most one keyframe request a second, whatever the number of peers
(:meth:`~camcast.encode.h264.H264Encoder.request_keyframe`).

Sync: RTP timestamps are capture times (video at 90 kHz, sound at 48 kHz), and each sender report
maps them to the Unix time of the capture (:func:`report_capture`), not to when aiortc sent the
packet: a browser lines sound up with pictures by those reports, and the sound's way through
capture and Opus (tens of ms) is longer than the pictures'.

Slow peers: each peer holds at most :data:`MAX_QUEUE` frames not yet sent. One that falls that far
behind drops them all and skips to the next keyframe; it never queues without bound nor holds up the
others, which are fed from the same frame without waiting for anyone.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCRtpSender, clock
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from camcast.audio.encode import AudioRendition
from camcast.encode.h264 import CLOCK, H264Encoder
from camcast.encode.rendition import Rendition
from camcast.frames import RATE, AudioPacket, EncodedFrame

#: Frames a peer may have waiting before it drops them and skips to the next keyframe: about a quarter
#: of a second at 30 fps, far past what a peer that keeps up ever holds (one).
MAX_QUEUE = 8
#: Opus packets a peer may have waiting (20 ms each) before the oldest are dropped.
MAX_AUDIO_QUEUE = 25


def report_capture(sender: RTCRtpSender | None, wall: float | None) -> None:
    """Make ``sender``'s next sender reports map the RTP time of the packet it sent last to ``wall``,
    the Unix time that packet was captured at. aiortc notes the time each packet goes out (in its
    private ``__ntp_timestamp``, beside the packet's RTP time); called when the track is asked for the
    next packet, that is right after the last one went out, before the event loop runs anything
    else, this puts the capture time in its place."""
    if sender is not None and wall is not None:
        moment = datetime.datetime.fromtimestamp(wall, datetime.UTC)
        sender._RTCRtpSender__ntp_timestamp = clock.datetime_to_ntp(moment)  # type: ignore[attr-defined]


class PacketTrack(MediaStreamTrack):
    """One peer's video: the shared encoder's H.264 packets, handed to aiortc as they are."""

    kind = "video"

    def __init__(self, request_keyframe: Callable[[], object]) -> None:
        super().__init__()
        self._request_keyframe = request_keyframe
        self._queue: deque[EncodedFrame] = deque()
        self._ready = asyncio.Event()
        self._started = False  # aiortc asks for frames once the peer is connected
        self._need_keyframe = True
        self.frames_sent = 0
        self.skips = 0
        self.sender: RTCRtpSender | None = None  # the session sets it, for report_capture
        self._sent_wall: float | None = None

    def offer(self, frame: EncodedFrame) -> None:
        """Take the shared encoder's newest frame (on the event loop; never blocks)."""
        if not self._started or self.readyState != "live":
            return
        if self._need_keyframe:
            if not frame.payload.keyframe:
                return
            self._need_keyframe = False
        if len(self._queue) >= MAX_QUEUE:
            # This peer fell behind: what it holds is too old to show. Start again at a keyframe.
            self._queue.clear()
            self._need_keyframe = True
            self.skips += 1
            self._request_keyframe()
            return
        self._queue.append(frame)
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        report_capture(self.sender, self._sent_wall)
        if not self._started:
            self._started = True
            self._request_keyframe()  # a peer starts at a keyframe: ask for one now, not in seconds
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        frame = self._queue.popleft()
        self._sent_wall = frame.wall
        packet = av.Packet(frame.payload.data)
        packet.pts = round(frame.time * CLOCK)  # RTP timestamps from capture times
        packet.time_base = Fraction(1, CLOCK)
        self.frames_sent += 1
        return packet

    def stop(self) -> None:
        super().stop()
        self._ready.set()  # wake recv, which then ends


class WebRtcOutput:
    """One camera's WebRTC peers, fed from its H.264 rendition while there are any."""

    def __init__(self, rendition: Rendition) -> None:
        assert isinstance(rendition.encoder, H264Encoder), "WebRTC is sent from an H.264 rendition"
        self.rendition = rendition
        self.encoder = rendition.encoder
        self.tracks: set[PacketTrack] = set()
        self._skips_ended = 0  # skips of peers gone, so the total never goes down

    def request_keyframe(self) -> None:
        self.encoder.request_keyframe()

    def add(self, track: PacketTrack) -> None:
        if not self.tracks:
            self.rendition.add_listener(self.push)
        self.tracks.add(track)

    def remove(self, track: PacketTrack) -> None:
        if track in self.tracks:
            self._skips_ended += track.skips
        self.tracks.discard(track)
        if not self.tracks and self.push in self.rendition.listeners:
            self.rendition.remove_listener(self.push)

    def push(self, frame: EncodedFrame) -> None:
        for track in self.tracks:
            track.offer(frame)

    @property
    def skips(self) -> int:
        """Times a peer fell behind and skipped to a keyframe, since the start."""
        return self._skips_ended + sum(t.skips for t in self.tracks)


class SoundTrack(MediaStreamTrack):
    """One peer's sound: the shared Opus encoder's packets, handed to aiortc as they are. A peer that
    falls :data:`MAX_AUDIO_QUEUE` packets behind loses the oldest (a gap, never a growing delay)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[AudioPacket] = deque(maxlen=MAX_AUDIO_QUEUE)
        self._ready = asyncio.Event()
        self._started = False
        self.packets_sent = 0
        self.sender: RTCRtpSender | None = None  # the session sets it, for report_capture
        self._sent_wall: float | None = None

    def offer(self, packet: AudioPacket) -> None:
        if self._started and self.readyState == "live":
            self._queue.append(packet)
            self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        report_capture(self.sender, self._sent_wall)
        self._started = True
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        sound = self._queue.popleft()
        self._sent_wall = time.time() - (time.monotonic() - sound.time)
        packet = av.Packet(sound.data)
        packet.pts = round(sound.time * RATE)  # RTP timestamps from capture times, as the pictures'
        packet.time_base = Fraction(1, RATE)
        self.packets_sent += 1
        return packet

    def stop(self) -> None:
        super().stop()
        self._ready.set()


class SoundOutput:
    """One camera's WebRTC listeners, fed from its Opus rendition while there are any."""

    def __init__(self, rendition: AudioRendition) -> None:
        self.rendition = rendition
        self.tracks: set[SoundTrack] = set()

    def add(self, track: SoundTrack) -> None:
        if not self.tracks:
            self.rendition.add_listener(self.push)
        self.tracks.add(track)

    def remove(self, track: SoundTrack) -> None:
        self.tracks.discard(track)
        if not self.tracks:
            self.rendition.remove_listener(self.push)

    def push(self, packet: AudioPacket) -> None:
        for track in self.tracks:
            track.offer(packet)
