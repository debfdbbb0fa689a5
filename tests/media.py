"""Test media made on the spot with PyAV: no camera here, so generated videos stand in for one."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_video(path: Path, codec: str, frames: int, fps: int, size: tuple[int, int]) -> Path:
    """Write ``frames`` frames of a bar sweeping left to right, each frame numbered by its brightness."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for i in range(frames):
            rgb = np.full((height, width, 3), 40, np.uint8)
            x = i * (width - 20) // max(frames - 1, 1)
            rgb[:, x : x + 20] = (255, 220, 0)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
