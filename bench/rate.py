"""Rate control benchmark: does the H.264 rate follow the scene?

camcast's encoder at one ``--video-bitrate`` (2M) with each rate control, over scenes a webcam sees:

* a still room at night (tests/scenes.py: a textured room, dim, with a camera's sensor noise);
* the same room by day with people crossing it now and then;
* leaves moving all the time in a third of the picture;
* FFmpeg's mandelbrot zoom (every pixel changes every frame: the hardest case);
* camcast's test pattern.

Rate controls: ``abr`` (x264 aims at the bitrate on average, 1.5x it the VBV ceiling: camcast until
issue 36) and ``crf N`` (capped CRF, camcast's ``video_crf``: quality N held, the bitrate the ceiling,
a VBV buffer of half a second), each with x264's noise reduction (``--nr``) off or on. For each: the
average and the peak (the busiest second) Mbit/s, SSIM against the scene without its sensor noise
(FFmpeg's ``ssim``: noise spent bits on is no picture gained), and the encoder's CPU per frame.

    python bench/rate.py                       # 1280x720, 20 s of each scene at 30 fps
    python bench/rate.py --seconds 10 --crf 23 26 28 --nr 0 500
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from video import FPS, natural_frames, pattern_frames, ssim, write_reference  # noqa: E402

from camcast.encode.h264 import PRESET, H264Encoder  # noqa: E402
from camcast.frames import Yuv420  # noqa: E402
from tests.scenes import Light, Mover, Scene  # noqa: E402

BITRATE = 2_000_000


Frames = list[Yuv420]


def scene_frames(scene: Scene, count: int) -> tuple[Frames, Frames]:
    """The scene's pictures as the camera sees them (with its sensor noise), and as they are (the same
    scene without noise: what SSIM is measured against, since noise encoded is no picture gained).
    Grey chroma: the scenes are luma only."""
    h, w = scene.height, scene.width
    grey = np.full((h // 2, w // 2), 128, np.uint8)
    clean = dataclasses.replace(scene, noise=0.0)  # the same room: its noise is drawn after it
    seen = [Yuv420(scene.luma(i / FPS, i), grey, grey) for i in range(count)]
    return seen, [Yuv420(clean.luma(i / FPS, i), grey, grey) for i in range(count)]


def scenes(size: tuple[int, int], seconds: float, folder: Path) -> dict[str, tuple[Frames, Frames]]:
    w, h = size
    count = round(seconds * FPS)
    crossing = tuple(
        Mover(start, start + 4.0, w // 8, h // 2, 0.3, 40 if i % 2 else 210)
        for i, start in enumerate(np.arange(1.0, seconds, 8.0))
    )
    night = Scene(w, h, seconds, noise=4.0, lights=(Light(0, 0, 0.3, 0.3),))
    leaves = Scene(w, h, seconds, noise=2.0, leaves=(0.6, 0.0, 1.0, 0.6))
    zoom = natural_frames(size, count, folder)
    pattern = pattern_frames(size, count)
    return {
        "test pattern": (pattern, pattern),
        "night, still (noise 4)": scene_frames(night, count),
        "day, people crossing (noise 2)": scene_frames(
            Scene(w, h, seconds, noise=2.0, movers=crossing), count
        ),
        "leaves all the time (noise 2)": scene_frames(leaves, count),
        "mandelbrot zoom": (zoom, zoom),
    }


def encode(frames: Frames, crf: float | None, nr: int, path: Path) -> tuple[float, list[int]]:
    """Encode ``frames`` as camcast does with rate control ``crf`` (None: abr) and x264's noise
    reduction ``nr`` into ``path``; the CPU ms per frame (median) and each frame's bytes."""
    encoder = H264Encoder(BITRATE, 1.0, FPS, crf=crf, options={"x264-params": f"nr={nr}"} if nr else None)
    cpu, sizes = [], []
    with path.open("wb") as out:
        for i, image in enumerate(frames):
            encoder.clock = lambda i=i: i / FPS  # type: ignore[misc]  # keyframes on the frames' timeline
            t0 = time.process_time()
            encoded = encoder.encode(image)
            cpu.append(time.process_time() - t0)
            out.write(encoded.data)
            sizes.append(len(encoded.data))
    return 1000 * statistics.median(cpu[5:]), sizes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--crf", nargs="+", type=float, default=[26.0], help="capped CRF values to compare")
    parser.add_argument("--scenes", nargs="+", default=[], help="only scenes named with these words")
    parser.add_argument("--nr", nargs="+", type=int, default=[0], help="x264 noise reduction values (0: off)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    assert len(size) == 2
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, PyAV {av.__version__}, x264 preset {PRESET}; "
          f"{args.size} at {FPS} fps, {args.seconds:g} s a scene, "
          f"--video-bitrate {BITRATE / 1e6:g}M\n")  # fmt: skip
    print("| scene | rate control | noise reduction | average Mbit/s | peak Mbit/s (busiest second) "
          "| SSIM against the scene | encode ms/frame |")  # fmt: skip
    print("|" + "---|" * 7)
    controls: list[tuple[str, float | None]] = [("abr (until issue 36)", None)]
    controls += [(f"capped crf {crf:g}", crf) for crf in args.crf]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, (frames, clean) in scenes(size, args.seconds, folder).items():  # type: ignore[arg-type]
            if args.scenes and not any(word in name for word in args.scenes):
                continue
            reference = folder / "reference.mkv"
            write_reference(clean, reference)
            for (label, crf), nr in itertools.product(controls, args.nr):
                path = folder / "out.h264"
                ms, sizes = encode(frames, crf, nr, path)
                bits = np.asarray(sizes, dtype=np.float64) * 8
                average = bits.sum() / args.seconds
                peak = np.convolve(bits, np.ones(FPS), "valid").max()
                row = [name, label, str(nr or "off"), f"{average / 1e6:.2f}", f"{peak / 1e6:.2f}",
                       f"{ssim(path, reference):.3f}", f"{ms:.1f}"]  # fmt: skip
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
