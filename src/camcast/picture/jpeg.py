"""JPEG decoding (libjpeg-turbo through simplejpeg), for drawing on a picture that arrived as JPEG.

Decoding releases the GIL: call it from a worker thread, never on the event loop. Encoding is the
renditions' business (:mod:`camcast.encode.jpeg`).
"""

from __future__ import annotations

import numpy as np
import simplejpeg

from camcast.frames import Captured, Encoded, Yuv420
from camcast.picture.color import rgb_to_yuv420


def decode_rgb(data: bytes) -> np.ndarray:
    """Decode a JPEG to an RGB array (height × width × 3); raises ValueError on a corrupt image."""
    return np.asarray(simplejpeg.decode_jpeg(data, colorspace="RGB"))


def decode_yuv(data: bytes) -> Yuv420:
    """Decode a JPEG to an I420 picture (cropped to even size), for processing a camera's own JPEG."""
    rgb = decode_rgb(data)
    h, w = rgb.shape[0] & ~1, rgb.shape[1] & ~1
    return rgb_to_yuv420(rgb[:h, :w])


def pixels(frame: Captured) -> Yuv420:
    """A picture of ``frame`` that may be drawn on: a copy of its pixels, or its JPEG decoded."""
    payload = frame.payload
    if isinstance(payload, Encoded):
        return decode_yuv(payload.data)
    return payload.copy()
