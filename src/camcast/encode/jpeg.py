"""JPEG encoding and the clean-up of camera-made JPEGs.

``encode`` wraps libjpeg-turbo (simplejpeg), which releases the GIL: call it from a worker thread, never on
the event loop. :mod:`camcast.encode.stripes` builds on it to re-encode only what changed.

``clean_camera_jpeg`` prepares a camera's own MJPEG frame for the web without decoding it: many USB
cameras omit the Huffman tables (motion-JPEG convention), which some decoders need, and some embed
EXIF; the tables are added and every metadata segment is dropped.
"""

from __future__ import annotations

import functools

import simplejpeg

from camcast.errors import SourceError
from camcast.frames import Yuv420
from camcast.picture.jpeg import decode_rgb

SOI = b"\xff\xd8"
SOF0, DRI = 0xC0, 0xDD
EOI = b"\xff\xd9"
DHT, SOS, _APP0, _APP15, _COM = 0xC4, 0xDA, 0xE0, 0xEF, 0xFE
# Markers that stand alone, without a length field.
_STANDALONE = {0x01, *range(0xD0, 0xD9)}


def encode(image: Yuv420, quality: int) -> bytes:
    """Encode an I420 picture as a baseline JFIF JPEG with no metadata. Takes 2–4 ms for 1280×720."""
    return bytes(simplejpeg.encode_jpeg_yuv_planes(image.y, image.u, image.v, quality, fastdct=True))


def is_complete(data: bytes) -> bool:
    """True when ``data`` starts with SOI, ends with EOI and decodes."""
    if not (data.startswith(SOI) and data.endswith(EOI)):
        return False
    try:
        decode_rgb(data)
    except ValueError:
        return False
    return True


@functools.cache
def standard_huffman_tables() -> bytes:
    """The DHT segment(s) of the JPEG standard's example tables (ITU T.81 Annex K.3).

    They are taken from libjpeg-turbo's own output, which uses exactly these tables when it does not
    optimise coding, rather than retyped here.
    """
    sample = encode(Yuv420.blank(16, 16), 75)
    return b"".join(sample[a:b] for marker, a, b in header_segments(sample) if marker == DHT)


def clean_camera_jpeg(data: bytes) -> bytes:
    """Return ``data`` with metadata segments (APP1–APP15, COM) removed and Huffman tables added if absent.

    The entropy-coded picture is copied unchanged. Raises :class:`SourceError` when ``data`` is not a JPEG.
    """
    if not data.startswith(SOI):
        raise SourceError("the camera sent a frame that is not a JPEG")
    kept: list[bytes] = [SOI]
    has_dht = False
    for marker, start, end in header_segments(data):
        if marker == SOS:
            if not has_dht:
                kept.append(standard_huffman_tables())
            kept.append(data[start:])
            return b"".join(kept)
        has_dht = has_dht or marker == DHT
        if marker != _COM and not _APP0 < marker <= _APP15:
            kept.append(data[start:end])
    raise SourceError("the camera sent a JPEG with no picture data (no SOS marker)")


def header_segments(data: bytes) -> list[tuple[int, int, int]]:
    """The header segments of a JPEG after SOI, up to and including SOS, as (marker, start, end)."""
    out: list[tuple[int, int, int]] = []
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise SourceError("the camera sent a JPEG with a corrupt header")
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte before the marker
            pos += 1
            continue
        if marker in _STANDALONE:
            out.append((marker, pos, pos + 2))
            pos += 2
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        out.append((marker, pos, end))
        if marker == SOS:
            break
        pos = end
    return out
