"""The values that flow from sources through the hub to outputs.

A source yields :class:`Frame` objects: either raw pixels (:class:`Yuv420`, the planar format cameras and
video decoders produce natively, and that the JPEG encoder takes without colour conversion) or JPEG bytes
a camera already compressed (passed through untouched). The hub turns each frame into at most one
:class:`JpegFrame`, whose bytes every output shares.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Plane = npt.NDArray[np.uint8]

#: Multipart boundary of ``/stream.mjpg``; fixed so a part can be built once per frame for all viewers.
BOUNDARY = "camcastframe"


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
class Frame:
    """One captured picture.

    ``seq`` counts frames from 1 per source. ``time`` is the monotonic capture time and ``wall`` the Unix
    time of the same instant, both in seconds. Exactly one of ``image`` and ``jpeg`` is set.
    """

    seq: int
    time: float
    wall: float
    width: int
    height: int
    image: Yuv420 | None = None
    jpeg: bytes | None = None

    @classmethod
    def of_image(cls, seq: int, image: Yuv420, at: float | None = None) -> Frame:
        """A raw frame captured now (or at monotonic time ``at``)."""
        now = time.monotonic()
        at = now if at is None else at
        return cls(seq, at, time.time() - (now - at), image.width, image.height, image=image)

    @classmethod
    def of_jpeg(cls, seq: int, data: bytes, width: int, height: int) -> Frame:
        """A frame the camera compressed itself, captured now."""
        return cls(seq, time.monotonic(), time.time(), width, height, jpeg=data)


@dataclass(frozen=True, slots=True)
class JpegFrame:
    """An encoded frame, shared read-only by every output.

    ``part`` and ``chunk`` are the multipart part of ``/stream.mjpg`` for this frame, built once on
    first use so that a hundred viewers cost one allocation, not a hundred.
    """

    seq: int
    time: float
    wall: float
    width: int
    height: int
    data: bytes
    _cache: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def part(self) -> bytes:
        """Headers, JPEG and the next boundary, so a browser shows the frame as soon as it arrives.

        (Chromium renders a part only when the following boundary is seen; sending the boundary right
        after each frame, as mjpg-streamer does, avoids a one-frame delay.)
        """
        part = self._cache.get("part")
        if part is None:
            head = (
                "Content-Type: image/jpeg\r\n"
                f"Content-Length: {len(self.data)}\r\n"
                f"X-Timestamp: {self.wall:.6f}\r\n\r\n"
            ).encode("ascii")
            part = self._cache["part"] = b"".join((head, self.data, f"\r\n--{BOUNDARY}\r\n".encode("ascii")))
        return part

    @property
    def chunk(self) -> bytes:
        """``part`` framed as one HTTP/1.1 chunk, for responses sent with chunked transfer coding.

        ``part`` stands in it at offset :attr:`part_offset`, so one buffer serves both framings.
        """
        chunk = self._cache.get("chunk")
        if chunk is None:
            chunk = self._cache["chunk"] = b"".join((self._chunk_prefix(), self.part, b"\r\n"))
        return chunk

    @property
    def part_offset(self) -> int:
        """Where ``part`` starts inside ``chunk``."""
        return len(self._chunk_prefix())

    def _chunk_prefix(self) -> bytes:
        return f"{len(self.part):x}\r\n".encode("ascii")
