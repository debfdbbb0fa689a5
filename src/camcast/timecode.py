"""A machine-readable capture time: drawn on the test pattern as a row of blocks, read back from any
decoded picture, so that delay from capture to display can be measured for every transport alike.

The row sits at the bottom of the picture: a white and a black reference block, then the capture time
in milliseconds modulo 2**32 (about 49 days) as 32 blocks, most significant bit first (white is 1),
then a 4-bit check (the sum of the time's eight nibbles). Blocks are 1/40 of the picture's width and
square, 32 pixels at 1280x720: large enough to survive H.264 and JPEG at ordinary quality, and at
multiples of 8 or 16 pixels they fall on the codecs' own blocks. A reader compares each block with the
references, so brightness and range changes on the way do not matter.

:func:`read` is the Python reader (a luma plane, or an RGB or grey picture as ffmpeg or OpenCV give
it); ``pages/timecode.js`` is the same reader for a browser's ``<video>`` or ``<img>``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from camcast.frames import Yuv420

BITS = 32
CHECK_BITS = 4
BLOCKS = 2 + BITS + CHECK_BITS
#: Blocks per picture width: a few more than drawn, for a margin on either side.
PER_WIDTH = 40
WHITE, BLACK = 235, 16
#: Least difference between the reference blocks for a picture to be read at all.
MIN_CONTRAST = 64
_WRAP = 1 << BITS


def block_size(width: int) -> int:
    """The side of one block in a picture ``width`` pixels wide (even, at least 4)."""
    return max(4, (width // PER_WIDTH) & ~1)


def _bits(ms: int) -> list[int]:
    value = ms % _WRAP
    check = sum((value >> shift) & 0xF for shift in range(0, BITS, 4)) & 0xF
    data = [(value >> (BITS - 1 - i)) & 1 for i in range(BITS)]
    return [1, 0, *data, *[(check >> (CHECK_BITS - 1 - i)) & 1 for i in range(CHECK_BITS)]]


def _layout(width: int, height: int) -> tuple[int, int, int]:
    """Block size, left edge and top edge of the row in a ``width`` × ``height`` picture."""
    size = block_size(width)
    return size, (width - BLOCKS * size) // 2 & ~1, (height - size) & ~1


def draw(image: Yuv420, wall: float) -> None:
    """Draw the capture time ``wall`` (Unix seconds) on ``image``, in place."""
    size, left, top = _layout(image.width, image.height)
    row = image.y[top : top + size]
    for i, bit in enumerate(_bits(round(wall * 1000))):
        row[:, left + i * size : left + (i + 1) * size] = WHITE if bit else BLACK
    image.u[top // 2 : (top + size) // 2, left // 2 : (left + BLOCKS * size) // 2] = 128
    image.v[top // 2 : (top + size) // 2, left // 2 : (left + BLOCKS * size) // 2] = 128


def read(picture: npt.NDArray[np.uint8], now: float) -> float | None:
    """The capture time (Unix seconds) drawn on ``picture``, or None when it holds no readable code.

    ``picture`` is a luma plane or grey picture (height × width), or RGB/BGR (height × width × 3: the
    channels' mean stands for luma, which is enough to tell black from white). ``now`` resolves the
    time's wrap-around: the capture is taken to be the one nearest ``now``.
    """
    grey = picture.astype(np.float32).mean(axis=2) if picture.ndim == 3 else picture.astype(np.float32)
    height, width = grey.shape
    size, left, top = _layout(width, height)
    if left < 0 or size < 4:
        return None
    quarter = size // 4
    band = grey[top + quarter : top + size - quarter]
    starts = [left + i * size + quarter for i in range(BLOCKS)]
    levels = [float(band[:, x : x + size - 2 * quarter].mean()) for x in starts]
    white, black = levels[0], levels[1]
    if white - black < MIN_CONTRAST:
        return None
    middle = (white + black) / 2
    bits = [1 if level > middle else 0 for level in levels]
    value = int("".join(map(str, bits[2 : 2 + BITS])), 2)
    if _bits(value)[2 + BITS :] != bits[2 + BITS :]:
        return None
    now_ms = round(now * 1000)
    behind = (now_ms - value) % _WRAP  # how far before now, modulo the wrap
    if behind > _WRAP // 2:
        behind -= _WRAP  # slightly ahead of now: clocks a little apart
    return (now_ms - behind) / 1000
