"""One camera's RTP: attached to its H.264 rendition while anyone plays (or asks for its description),
each frame packetized once and handed to every playing session.

The parameter sets (SPS, PPS) come from the stream itself, on its keyframes; DESCRIBE waits for the
first (asking the encoder for a keyframe) so its SDP can carry them.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

from camcast.encode.h264 import H264Encoder
from camcast.encode.rendition import Rendition
from camcast.frames import EncodedFrame
from camcast.hls import fmp4
from camcast.rtsp.rtp import CLOCK, PAYLOAD_TYPE, RtpFrame, packetize

Receiver = Callable[[RtpFrame], None]
#: Seconds DESCRIBE waits for the stream's first keyframe (an encoder that just started, a camera's
#: GOP): longer than any keyframe interval camcast sets or a camera uses.
FIRST_KEYFRAME_WAIT = 15.0
#: Seconds the stream stays attached after DESCRIBE when nobody plays (the client's SETUP and PLAY
#: come within this).
DESCRIBE_HOLD = 20.0


class RtpStream:
    def __init__(self, rendition: Rendition) -> None:
        self.rendition = rendition
        self.receivers: list[Receiver] = []
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

    # --- the session description ----------------------------------------------------------------------
    def sdp(self, origin_host: str, title: str, session_id: int) -> str:
        """The SDP of the stream (RFC 4566, with RFC 6184's fmtp)."""
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
        return "\r\n".join(lines) + "\r\n"
