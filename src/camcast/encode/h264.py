"""H.264 with libx264 (through PyAV), for HLS and WebRTC: one encode per frame, whatever the viewers.

The encoder is a rendition's :class:`~camcast.encode.rendition.Encoder`, so it runs in the rendition's
thread only while some output listens, and its output is shared by all of them. It is tuned for live
viewing: ``tune=zerolatency`` (no lookahead, no B-frames: one packet out for each picture in, at
once) and the constrained baseline profile, which every browser decodes and WebRTC requires, so the
same packets serve HLS and WebRTC. Keyframes come every ``keyframe_every`` seconds by the clock, so
HLS segments cut on them whatever the real frame rate, and on request
(:meth:`H264Encoder.request_keyframe`), for a consumer that joins or a WebRTC peer that lost a
picture; requests are limited to one a second whatever their number.

Packets are Annex B (start codes), with the SPS and PPS repeated before every keyframe, so any
keyframe starts a decodable stream; :mod:`camcast.hls.fmp4` turns them into MP4 samples.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from fractions import Fraction

import av
import numpy as np

from camcast.frames import Encoded, Yuv420
from camcast.picture import geometry
from camcast.picture.geometry import Transform

#: x264's speed/quality trade-off, measured at 1280x720 30 fps, 2 Mbit/s (bench/video.py, CPU of all
#: the encoder's threads): veryfast 22% of a core on the pattern and 41% on a mandelbrot zoom,
#: superfast 19% and 28%, ultrafast 16% and 21% but with 50% more bits on the pattern. superfast is
#: the slowest preset within a fifth of a core on the pattern.
PRESET = "superfast"
#: Timestamps in 1/90000 s, the MPEG clock that MP4 and RTP use for video.
CLOCK = 90_000
#: At most one keyframe on request per this many seconds, however many consumers ask (a keyframe costs
#: about ten ordinary frames' bits).
KEYFRAME_REQUEST_EVERY = 1.0


class H264Encoder:
    """Encodes full-range I420 pictures to H.264 packets, one per picture; see the module docstring.

    ``bitrate`` is in bits per second: the ceiling with a ``crf`` (capped CRF: the quality held, so a
    still scene costs a fraction of it), else the average; ``fps`` is the capture rate, for rate
    control and the keyframe interval. The size is taken from the first picture, and the encoder
    restarts (with a keyframe) if it changes.
    """

    codec = "h264"

    def __init__(
        self,
        bitrate: int,
        keyframe_every: float,
        fps: float,
        profile: str = "baseline",
        box: tuple[int, int] | None = None,
        crf: float | None = None,
        options: Mapping[str, str] | None = None,
    ) -> None:
        self.bitrate = bitrate
        #: With a CRF, the quality is held and ``bitrate`` is the ceiling (VBV): a still scene costs
        #: what it needs. Without, ``bitrate`` is the average x264 aims at (and 1.5 times it the ceiling).
        self.crf = crf
        #: More libx264 options, over camcast's own (bench/ compares settings with them).
        self.options = dict(options or {})
        #: The size the pictures are made to fit in (the aspect kept, never enlarged), or None: as they come.
        self.box = box
        self._scale: tuple[tuple[int, int], Transform] | None = None  # the resampling for the size now
        #: x264's profile: "baseline" (what every WebRTC peer decodes), or "main" or "high" (CABAC, and
        #: the 8x8 transform for high), measured against it in bench/video.py.
        self.profile = profile
        self.keyframe_every = keyframe_every
        self.fps = fps
        self._context: av.VideoCodecContext | None = None
        self._size = (0, 0)
        self._pts = -1
        self._want_keyframe = threading.Event()
        self._last_request = -KEYFRAME_REQUEST_EVERY
        self._deferred = False  # a request waiting for the rate limit
        self._last_keyframe = -1e9
        #: Where keyframe times are read from: the monotonic clock, or a file's own timeline (benchmarks).
        self.clock: Callable[[], float] = time.monotonic

    def request_keyframe(self) -> bool:
        """Make the next picture a keyframe; return whether it is granted at once. A request less than
        a second after the last granted one waits until that second is up (unless a keyframe comes
        meanwhile), so whoever asks gets a keyframe within a second, and the encoder makes at most
        one a second on request, however many ask. Safe from any thread."""
        now = self.clock()
        if now - self._last_request < KEYFRAME_REQUEST_EVERY:
            self._deferred = True
            return False
        self._last_request = now
        self._want_keyframe.set()
        return True

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        context = av.CodecContext.create("libx264", "w")
        assert isinstance(context, av.VideoCodecContext)
        context.width, context.height = width, height
        context.pix_fmt = "yuv420p"
        context.time_base = Fraction(1, CLOCK)
        context.framerate = Fraction(self.fps).limit_denominator(1001)
        # Keyframes are placed by the clock (see encode), which holds whatever the real frame rate;
        # x264's own interval is only a backstop.
        context.gop_size = max(1, round(2 * self.keyframe_every * self.fps))
        context.color_range = av.video.reformatter.ColorRange.JPEG  # the hub's pictures are full range
        context.options = {
            "preset": PRESET,
            "tune": "zerolatency",
            "profile": self.profile,
            "forced-idr": "1",  # a requested keyframe is an IDR, where a decoder may start
        }
        if self.crf is None:
            context.bit_rate = self.bitrate
            # A steady rate: at most 1.5x the target over one second (VBV), so a keyframe never bursts
            # past what a viewer's link was sized for.
            context.options |= {"maxrate": str(self.bitrate * 3 // 2), "bufsize": str(self.bitrate)}
        else:
            # Capped CRF: the quality held, never more than the bitrate a second, and a VBV buffer of
            # half a second, so the busiest second costs at most 1.5 times it (bench/rate.py: 1.37).
            context.options |= {
                "crf": f"{self.crf:g}", "maxrate": str(self.bitrate), "bufsize": str(self.bitrate // 2),
            }  # fmt: skip
        context.options |= self.options
        context.open()
        self._size = (width, height)
        return context

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The size a ``width`` x ``height`` picture is encoded at."""
        return fit(width, height, self.box)

    def encode(self, image: Yuv420) -> Encoded:
        size = self.size_for(image.width, image.height)
        if size != (image.width, image.height):
            if self._scale is None or self._scale[0] != size:
                self._scale = (size, geometry.scale(*size))
            image = self._scale[1](image)
        if self._context is None or size != self._size:
            self._context = self._open(*size)
        frame = av.VideoFrame.from_ndarray(
            np.concatenate((image.y.ravel(), image.u.ravel(), image.v.ravel())).reshape(-1, image.width),
            format="yuv420p",
        )
        frame.color_range = av.video.reformatter.ColorRange.JPEG
        # Monotonic timestamps at the nominal rate: rate control reads them; real capture times travel
        # with the frame and are what segments and RTP use.
        self._pts += round(CLOCK / self.fps)
        frame.pts = self._pts
        now = self.clock()
        due = now - self._last_keyframe >= self.keyframe_every - 0.5 / self.fps
        if self._deferred and now - self._last_request >= KEYFRAME_REQUEST_EVERY:
            self._deferred = False
            self._last_request = now
            self._want_keyframe.set()
        if self._want_keyframe.is_set() or due:
            self._want_keyframe.clear()
            frame.pict_type = av.video.frame.PictureType.I
        packets = self._context.encode(frame)
        data = b"".join(bytes(p) for p in packets)
        keyframe = any(p.is_keyframe for p in packets)
        if keyframe:
            self._last_keyframe = now
            self._deferred = False  # whoever waited has their keyframe
        return Encoded(self.codec, data, keyframe)

    def flush(self) -> bytes:
        """What the encoder still holds (nothing under ``tune=zerolatency``; pictures waiting for
        their lookahead with ``options`` that allow one), and the encoder closed: the next picture
        opens it again."""
        if self._context is None:
            return b""
        data = b"".join(bytes(p) for p in self._context.encode(None))
        self._context = None
        return data


def fit(width: int, height: int, box: tuple[int, int] | None) -> tuple[int, int]:
    """``width`` x ``height`` made to fit in ``box`` with its aspect kept (never enlarged), both sides
    even as 4:2:0 needs; as it is without a box."""
    if box is None or (width <= box[0] and height <= box[1]):
        return width, height
    factor = min(box[0] / width, box[1] / height)
    return max(2, round(width * factor / 2) * 2), max(2, round(height * factor / 2) * 2)
