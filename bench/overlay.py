"""Picture processing cost per frame: caption, logo, geometry, at 720p and 1080p.

Each step runs on a fresh copy of a test-pattern frame, as the hub runs it once per frame; the table
gives the median milliseconds over --frames frames (the copy itself is measured and subtracted).

    python bench/overlay.py [--frames 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from camcast.frames import Yuv420
from camcast.picture.geometry import Crop, crop, flip, rotate, scale
from camcast.picture.masks import mask_step, parse_mask
from camcast.picture.overlay import LogoOverlay, TextOverlay
from camcast.sources.pattern import PatternSource

Step = Callable[[Yuv420, float], Yuv420]


def geometry(transform: Callable[[Yuv420], Yuv420]) -> Step:
    return lambda image, wall: transform(image)


def median_ms(step: Step, base: Yuv420, frames: int) -> float:
    times = []
    for i in range(frames):
        image = base.copy()
        t0 = time.perf_counter()
        step(image, 1000.0 + i / 30)  # a new time each frame, so the caption's text changes
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        logo_path = Path(tmp) / "logo.png"
        logo = Image.new("RGBA", (400, 200), (0, 0, 0, 0))
        ImageDraw.Draw(logo).ellipse((0, 0, 399, 199), fill=(255, 200, 0, 190))
        logo.save(logo_path)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print("| step | 1280x720 ms | 1920x1080 ms |")
        print("|---|---|---|")
        rows: dict[str, list[float]] = {}
        for width, height in ((1280, 720), (1920, 1080)):
            base = PatternSource(width, height, 30).draw(1, 1000.0)
            caption = TextOverlay("Kitchen · %Y-%m-%d %H:%M:%S.{ms}", "bottom-left", height // 30)
            badge = LogoOverlay(str(logo_path), "top-right", width // 8)

            def both(image: Yuv420, wall: float, c: Step = caption, b: Step = badge) -> Yuv420:
                return b(c(image, wall), wall)

            steps: dict[str, Step] = {
                "caption (text, band)": caption,
                "logo (PNG with alpha)": badge,
                "caption + logo": both,
                "mask (two rectangles)": mask_step(
                    [parse_mask("0,0,25%,25%"), parse_mask("60%,60%,20%,20%")]
                ),
                "rotate 90": geometry(rotate(90)),
                "flip horizontal": geometry(flip("horizontal")),
                "crop to 3/4": geometry(crop(Crop(0, 0, width * 3 // 4 & ~1, height * 3 // 4 & ~1))),
                "scale to 3/4 (bilinear)": geometry(scale(width * 3 // 4 & ~15, height * 3 // 4 & ~1)),
                "scale to 1/2 (box)": geometry(scale(width // 2, height // 2)),
            }
            for name, step in steps.items():
                rows.setdefault(name, []).append(median_ms(step, base, args.frames))
        for name, (hd, fhd) in rows.items():
            print(f"| {name} | {hd:.2f} | {fhd:.2f} |")


if __name__ == "__main__":
    main()
