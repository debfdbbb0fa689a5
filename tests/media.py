"""Test media made on the spot with PyAV: no camera here, so generated videos stand in for one."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from camcast.frames import Captured, Encoded, Yuv420


def make_video(
    path: Path,
    codec: str,
    frames: int,
    fps: int,
    size: tuple[int, int],
    still: bool = False,
    ramp: int = 0,
    options: dict[str, str] | None = None,
    picture: Callable[[int], np.ndarray] | None = None,
) -> Path:
    """Write ``frames`` frames of a bar sweeping left to right (standing still with ``still``); with
    ``ramp``, the first ``ramp`` frames brighten from black, like a camera's exposure settling.
    ``options`` go to the encoder. ``picture(i)``, when given, is frame i's luma instead (grey)."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps), options=options or {})
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for i in range(frames):
            rgb = np.full((height, width, 3), 40, np.uint8)
            x = 0 if still else i * (width - 20) // max(frames - 1, 1)
            rgb[:, x : x + 20] = (255, 220, 0)
            if ramp and i < ramp:
                rgb = (rgb.astype(np.float32) * (i / ramp)).astype(np.uint8)
            if picture is not None:
                rgb = np.repeat(picture(i)[:, :, None], 3, axis=2)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def image_of(frame: Captured) -> Yuv420 | None:
    """The frame's pixels, or None when it carries encoded bytes."""
    return frame.payload if isinstance(frame.payload, Yuv420) else None


def jpeg_of(frame: Captured) -> bytes | None:
    """The frame's JPEG bytes, or None when it carries pixels."""
    payload = frame.payload
    return payload.data if isinstance(payload, Encoded) and payload.codec == "jpeg" else None


def ffprobe_json(url: str) -> dict[str, object]:
    """ffprobe's view of ``url``'s streams: codec and size."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "json", url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def ffmpeg_frames(url: str, seconds: float, *args: str, quiet: bool = True) -> int:
    """Play ``seconds`` of ``url`` with ffmpeg (``args`` go before ``-i``); assert it says nothing
    (no error, no gap) unless ``quiet`` is false, and return the frames it decoded."""
    result = await asyncio.to_thread(
        subprocess.run,
        ["ffmpeg", "-v", "error", *args, "-i", url, "-t", str(seconds), "-f", "null", "-",
         "-progress", "pipe:1", "-nostats"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and not (quiet and result.stderr.strip()), result.stderr
    return int(re.findall(r"^frame=(\d+)", result.stdout, re.M)[-1])


async def rtsp_receiver(port: int, path: str, seconds: float, out: Path) -> asyncio.subprocess.Process:
    """FFmpeg listening as an RTSP server (a push's target) on rtsp://127.0.0.1:PORT/PATH, keeping the
    first ``seconds`` it receives in ``out`` as they came; it gives up after 60 s without a push."""
    return await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-rtsp_flags", "listen", "-timeout", "60", "-i",
        f"rtsp://127.0.0.1:{port}/{path}", "-t", str(seconds), "-c", "copy", "-y", str(out),
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
