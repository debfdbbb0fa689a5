"""One camera's RTP: attached to its H.264 rendition while anyone plays (or asks for its description),
each frame packetized once and handed to every playing session; with the camera's sound on, its Opus
packets too, to the sessions that set up the sound track, while any has.

Both tracks count their RTP time from the same instant (the first picture's capture), and each
packet's sender report maps its time to the Unix time it was captured at: what a client lines the
sound up with the pictures by.

The parameter sets (SPS, PPS) come from the stream itself, on its keyframes; DESCRIBE waits for the
first (asking the encoder for a keyframe) so its SDP can carry them.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable

from camcast.audio.encode import AudioRendition
from camcast.encode.h264 import H264Encoder
from camcast.encode.rendition import Rendition
from camcast.frames import AudioPacket, EncodedFrame
from camcast.hls import fmp4
from camcast.rtsp.rtp import CLOCK, OPUS_CLOCK, OPUS_PAYLOAD_TYPE, PAYLOAD_TYPE, RtpFrame, packetize

Receiver = Callable[[RtpFrame], None]
#: Seconds DESCRIBE waits for the stream's first keyframe (an encoder that just started, a camera's
#: GOP): longer than any keyframe interval camcast sets or a camera uses.
FIRST_KEYFRAME_WAIT = 15.0
#: Seconds the stream stays attached after DESCRIBE when nobody plays (the client's SETUP and PLAY
#: come within this).
DESCRIBE_HOLD = 20.0


class RtpStream:
    def __init__(self, rendition: Rendition, sound: AudioRendition | None = None) -> None:
        self.rendition = rendition
        #: The camera's Opus, when its audio is on.
        self.sound = sound
        self.receivers: list[Receiver] = []
        self.sound_receivers: list[Receiver] = []
        self.params: tuple[bytes, bytes] | None = None
        self.size: tuple[int, int] | None = None
        #: Frames slow clients skipped (the metrics' camcast_slow_viewer_skips).
        self.skips = 0
        self._t0: float | None = None
        self._keyframe = asyncio.Event()
        self._attached = False
        self._holds = 0

    # --- who listens ---------------------------------------------------------------------------------
    def add(self, receiver: Receiver) -> None:
        """Hand ``receiver`` every frame from now on (it waits for a keyframe itself)."""
        self.receivers.append(receiver)
        self._attach()

    def remove(self, receiver: Receiver) -> None:
        if receiver in self.receivers:
            self.receivers.remove(receiver)
        self._detach_if_idle()

    def add_sound(self, receiver: Receiver) -> None:
        """Hand ``receiver`` every sound packet from now on."""
        if self.sound is None:
            return
        if not self.sound_receivers:
            self.sound.add_listener(self.push_sound)
        self.sound_receivers.append(receiver)

    def remove_sound(self, receiver: Receiver) -> None:
        if receiver in self.sound_receivers:
            self.sound_receivers.remove(receiver)
            if not self.sound_receivers and self.sound is not None:
                self.sound.remove_listener(self.push_sound)

    async def describe(self) -> tuple[bytes, bytes] | None:
        """The parameter sets, once the stream has had a keyframe (None if none came within
        FIRST_KEYFRAME_WAIT seconds)."""
        self._holds += 1
        self._attach()
        try:
            if self.params is None:
                await asyncio.wait_for(self._keyframe.wait(), FIRST_KEYFRAME_WAIT)
        except TimeoutError:
            pass
        finally:
            asyncio.get_running_loop().call_later(DESCRIBE_HOLD, self._release)
        return self.params

    def _release(self) -> None:
        self._holds -= 1
        self._detach_if_idle()

    def _attach(self) -> None:
        if not self._attached:
            self._attached = True
            self.rendition.add_listener(self.push)
            if isinstance(self.rendition.encoder, H264Encoder):
                self.rendition.encoder.request_keyframe()

    def _detach_if_idle(self) -> None:
        if self._attached and not self.receivers and self._holds <= 0:
            self._attached = False
            self.rendition.remove_listener(self.push)

    def request_keyframe(self) -> None:
        if isinstance(self.rendition.encoder, H264Encoder):
            self.rendition.encoder.request_keyframe()

    # --- frames --------------------------------------------------------------------------------------
    def push(self, frame: EncodedFrame) -> None:
        """A rendition listener: packetize once, hand to every receiver."""
        picture = fmp4.access_unit(frame)
        if picture is None:
            return
        if picture.params is not None:
            self.params = picture.params
            self.size = (frame.width, frame.height)
            self._keyframe.set()
        if self._t0 is None:
            self._t0 = frame.time
        rtp = RtpFrame(
            packetize(picture.units), round((frame.time - self._t0) * CLOCK), picture.keyframe, frame.wall
        )
        for receiver in list(self.receivers):
            receiver(rtp)

    def push_sound(self, packet: AudioPacket) -> None:
        """The Opus rendition's listener: one RTP payload per packet, on the pictures' time line."""
        if self._t0 is None:
            return  # no picture yet: the tracks' times start at the first one
        wall = time.time() - (time.monotonic() - packet.time)
        rtp = RtpFrame((packet.data,), round((packet.time - self._t0) * OPUS_CLOCK), True, wall)
        for receiver in list(self.sound_receivers):
            receiver(rtp)

    # --- the session description ----------------------------------------------------------------------
    def sdp(self, origin_host: str, title: str, session_id: int, sound: bool = False) -> str:
        """The SDP of the stream (RFC 4566, with RFC 6184's fmtp), and with ``sound`` (the camera's
        audio is on and the client may hear it) the Opus track, trackID=1 (RFC 7587)."""
        assert self.params is not None
        sps, pps = self.params
        sprop = ",".join(base64.b64encode(p).decode() for p in (sps, pps))
        lines = [
            "v=0",
            f"o=- {session_id} 1 IN IP{'6' if ':' in origin_host else '4'} {origin_host}",
            f"s={title}",
            "c=IN IP4 0.0.0.0",
            "t=0 0",
            "a=control:*",
            "a=range:npt=0-",
            f"m=video 0 RTP/AVP {PAYLOAD_TYPE}",
            f"a=rtpmap:{PAYLOAD_TYPE} H264/{CLOCK}",
            f"a=fmtp:{PAYLOAD_TYPE} packetization-mode=1;profile-level-id={sps[1:4].hex().upper()};"
            f"sprop-parameter-sets={sprop}",
            "a=control:trackID=0",
        ]
        if self.size is not None:
            lines.append(f"a=x-dimensions:{self.size[0]},{self.size[1]}")
        if sound and self.sound is not None:
            lines += [
                f"m=audio 0 RTP/AVP {OPUS_PAYLOAD_TYPE}",
                f"a=rtpmap:{OPUS_PAYLOAD_TYPE} opus/{OPUS_CLOCK}/2",
                f"a=fmtp:{OPUS_PAYLOAD_TYPE} sprop-stereo={int(self.sound.format.channels == 2)}",
                "a=control:trackID=1",
            ]
        return "\r\n".join(lines) + "\r\n"
