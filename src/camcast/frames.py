"""The values that flow from sources through the hub to the outputs.

A :class:`Source` yields them. A :class:`Frame` carries one picture and when it was captured. Its
``payload`` is either raw pixels (:class:`Yuv420`, the planar format cameras and video decoders
produce natively, and that the JPEG encoder takes without colour conversion) or :class:`Encoded`
bytes: a camera's own JPEG or H.264 passed through untouched, or what a rendition's encoder made.
Transport framing (multipart parts, HLS segments) is not here: each transport builds its own from
these.

Sound flows beside the pictures as :class:`Chunk` s of PCM from an input, and :class:`AudioPacket` s
from an encoder (:mod:`camcast.audio`), stamped on the same monotonic clock as the frames.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

Plane = npt.NDArray[np.uint8]

#: The picture size, in pixels, when nothing else says: the test pattern's, and a card's before any
#: frame arrived.
DEFAULT_SIZE = (1280, 720)


@dataclass(frozen=True, slots=True)
class Yuv420:
    """An I420 picture: full-size luma plane ``y`` (height × width) and half-size chroma ``u``, ``v``.

    Width and height are even. Values are full-range (JFIF) YCbCr, which is what JPEG stores.
    """

    y: Plane
    u: Plane
    v: Plane

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])

    @classmethod
    def blank(cls, width: int, height: int, luma: int = 16) -> Yuv420:
        """A grey-level picture (``luma`` 0–255, neutral chroma)."""
        return cls(
            np.full((height, width), luma, np.uint8),
            np.full((height // 2, width // 2), 128, np.uint8),
            np.full((height // 2, width // 2), 128, np.uint8),
        )

    def copy(self) -> Yuv420:
        return Yuv420(self.y.copy(), self.u.copy(), self.v.copy())


@dataclass(frozen=True, slots=True)
class Encoded:
    """A compressed picture: ``codec`` is ``jpeg`` (one whole picture each) or ``h264``."""

    codec: str
    data: bytes
    keyframe: bool = True
    #: Packets before this one were lost on the way (a source's H.264 packet replaced unread): a
    #: decoder must wait for the next keyframe.
    after_gap: bool = False


P = TypeVar("P", bound=Yuv420 | Encoded, covariant=True)


@dataclass(frozen=True, slots=True)
class Frame(Generic[P]):
    """One picture. ``seq`` counts frames from 1; ``time`` is the monotonic capture time and ``wall``
    the Unix time of the same instant, both in seconds; ``width`` and ``height`` are in pixels."""

    seq: int
    time: float
    wall: float
    width: int
    height: int
    payload: P
    #: The source's own H.264 for this picture (an RTSP camera's, a file's), which an H.264 rendition
    #: with nothing to draw sends on untouched; ``payload`` is then its decoded pixels, or this same
    #: packet while nobody needs pixels.
    packet: Encoded | None = None

    @property
    def data(self: Frame[Encoded]) -> bytes:
        """The encoded bytes (only for encoded frames)."""
        return self.payload.data


#: What a source yields and the hub passes on: pixels, or a camera's own JPEG.
Captured = Frame[Yuv420 | Encoded]
#: What a rendition hands its listeners: a picture ready to send.
EncodedFrame = Frame[Encoded]


def _captured(at: float | None) -> tuple[float, float]:
    """(monotonic, Unix) time of a capture now, or at monotonic time ``at``."""
    now = time.monotonic()
    return (now, time.time()) if at is None else (at, time.time() - (now - at))


def of_image(seq: int, image: Yuv420, at: float | None = None) -> Frame[Yuv420]:
    """A raw frame captured now (or at monotonic time ``at``)."""
    return Frame(seq, *_captured(at), image.width, image.height, image)


def of_h264(
    seq: int, packet: Encoded, width: int, height: int, image: Yuv420 | None, at: float | None = None
) -> Captured:
    """A frame that came as H.264, captured now (or at monotonic time ``at``: the source's own time for
    it, not when it was read or decoded): its decoded ``image`` when there is one, and the packet."""
    return Frame(seq, *_captured(at), width, height, image or packet, packet)


def of_jpeg(seq: int, data: bytes, width: int, height: int, at: float | None = None) -> Frame[Encoded]:
    """A frame the camera compressed itself, captured now (or at monotonic time ``at``)."""
    return Frame(seq, *_captured(at), width, height, Encoded("jpeg", data))


@runtime_checkable
class Source(Protocol):
    """An async iterator of frames. ``describe`` is a short human name, e.g. ``pattern 1280x720@30``."""

    def describe(self) -> str: ...

    def __aiter__(self) -> AsyncIterator[Captured]: ...

    async def aclose(self) -> None: ...


#: Samples per second of every input and encoder: what Opus takes as it is, and AAC-LC's common rate.
RATE = 48_000

Samples = npt.NDArray[np.int16]
#: The quietest level shown, in dBFS (digital silence has no level).
FLOOR = -96.0


def dbfs(samples: np.ndarray) -> float:
    """The RMS level of 16-bit ``samples`` in dB below full scale (a full-scale sine reads -3)."""
    if samples.size == 0:
        return FLOOR
    rms = math.sqrt(float(np.mean(np.square(samples.astype(np.float64))))) / 32768.0
    return max(FLOOR, 20 * math.log10(rms)) if rms > 0 else FLOOR


@dataclass(frozen=True, slots=True)
class Chunk:
    """Mono 16-bit ``samples``, the first of them captured at monotonic time ``time`` (seconds): the
    clock the pictures' ``Frame.time`` is read from, so sound and pictures line up."""

    samples: Samples
    time: float

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """What a decoder of a sound track must be told: ``codec`` (``opus``, ``aac``), the samples a
    second and channels, and ``config`` (AAC's AudioSpecificConfig; Opus's header, or empty)."""

    codec: str
    rate: int
    channels: int
    config: bytes


@dataclass(frozen=True, slots=True)
class AudioPacket:
    """One encoded audio frame: ``codec`` (``opus``, ``aac``: raw, no ADTS header), its bytes, the
    monotonic time of its first sample, and how many samples it spans (at its format's rate:
    :data:`RATE` for camcast's encoders and for every Opus packet)."""

    codec: str
    data: bytes
    time: float
    samples: int
