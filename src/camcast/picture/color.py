"""Colour conversion between RGB and full-range (JFIF) YCbCr, and chroma averaging. Written once."""

from __future__ import annotations

from typing import Any

import numpy as np

from camcast.frames import Yuv420

#: BT.601 full-range coefficients, as JPEG (JFIF) defines YCbCr.
_KR, _KG, _KB = 0.299, 0.587, 0.114


def _ycbcr(r: np.ndarray | float, g: np.ndarray | float, b: np.ndarray | float) -> tuple[Any, Any, Any]:
    y = _KR * r + _KG * g + _KB * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return y, cb, cr


def rgb_to_ycbcr(r: float, g: float, b: float) -> tuple[int, int, int]:
    """Full-range YCbCr of one RGB colour."""
    y, cb, cr = (min(255, max(0, round(float(v)))) for v in _ycbcr(r, g, b))
    return y, cb, cr


def half(plane: np.ndarray) -> np.ndarray:
    """The 2×2 average of an even-sized plane (chroma resolution), as float32."""
    h, w = plane.shape
    return np.asarray(plane.astype(np.float32).reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)))


def rgb_to_yuv420(rgb: np.ndarray) -> Yuv420:
    """Full-range I420 from an RGB array (height × width × 3) of even size."""
    f = rgb.astype(np.float32)
    y, cb, cr = _ycbcr(f[..., 0], f[..., 1], f[..., 2])
    return Yuv420(*(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, half(cb), half(cr))))
