"""What a day's timelapse costs, made two ways, and what the deflicker does.

A simulated day: --pictures camera JPEGs at 1280x720 (a garden: a scene whose light rises and falls
through the day, with a block crossing it, and the exposure jumping by up to 25% on one picture in
eight, as an auto-exposure hunting does), handed over as a camera at every 10 s would.

1. **As camcast makes it** (camcast.timelapse): each picture decoded, deflickered and encoded into the
   day's fragmented MP4 as it comes; at the window's end the parts joined and retimed to 60 s. The
   working files' size at the end of the day, the CPU per picture, and the time from the window's
   end to the film (then to the film copied to a publishing folder).
2. **Keeping the pictures** (the other way the issue names): each JPEG written as it came; at the
   window's end every picture decoded and encoded into the film. The same figures.
3. **Flicker**: the mean brightness's picture-to-picture jitter (mean absolute difference, in luma
   levels) of the pictures as taken and as deflickered; and how far the deflickered day's brightness
   follows the true light (mean absolute difference from it).

    python bench/timelapse.py --pictures 4320     # a 12-hour window at every 10 s
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import simplejpeg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from camcast.frames import Yuv420  # noqa: E402
from camcast.picture.jpeg import decode_yuv  # noqa: E402
from camcast.timelapse import film as films  # noqa: E402
from camcast.timelapse.deflicker import Deflicker, brightness  # noqa: E402
from tests.scenes import Mover, Scene  # noqa: E402

W, H = 1280, 720


def day(pictures: int) -> tuple[list[bytes], list[float], list[float]]:
    """The day's JPEGs (quality 85, as a webcam's), each picture's true light, and its exposure."""
    scene = Scene(
        width=W, height=H, seconds=pictures, noise=3, movers=(Mover(0, pictures, 100, 300, 0.4, 60),)
    )
    rng = np.random.default_rng(7)
    light = [0.35 + 0.75 * np.sin(np.pi * (i + 0.5) / pictures) for i in range(pictures)]
    exposure = [1.0 + (rng.uniform(-0.25, 0.25) if rng.random() < 0.125 else 0.0) for _ in range(pictures)]
    jpegs = []
    for i in range(pictures):
        luma = np.clip(scene.luma(float(i), i).astype(np.float32) * light[i] * exposure[i], 0, 255)
        rgb = np.repeat(luma.astype(np.uint8)[:, :, None], 3, axis=2)
        jpegs.append(simplejpeg.encode_jpeg(rgb, quality=85, colorspace="RGB"))
    return jpegs, light, exposure


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def incremental(jpegs: list[bytes], folder: Path) -> dict[str, float]:
    working = films.WorkingFilm(folder, "garden", datetime.date.today())
    smoother = Deflicker()
    start, peak = cpu(), 0
    base = time.time() - len(jpegs) * 10
    for i, data in enumerate(jpegs):
        picture = decode_yuv(data)
        working.add(Yuv420(smoother.apply(picture.y), picture.u, picture.v), base + i * 10)
        if i % 100 == 0:
            peak = max(peak, _size(folder))
    working.close()
    per_picture = (cpu() - start) / len(jpegs)
    size = max(peak, _size(folder))
    ended = time.perf_counter()
    paths = films.parts(folder, "garden")[datetime.date.today().isoformat()]
    made = films.finish(folder, "garden", datetime.date.today().isoformat(), paths, 60.0)
    assert made is not None
    to_film = time.perf_counter() - ended
    shutil.copyfile(made.path(folder), folder / "published.mp4")
    return {
        "working MB": size / 1e6,
        "CPU ms/picture": per_picture * 1000,
        "window end to film s": to_film,
        "to published s": time.perf_counter() - ended,
        "film MB": made.bytes / 1e6,
    }


def keeping(jpegs: list[bytes], folder: Path) -> dict[str, float]:
    kept = folder / "pictures"
    kept.mkdir(parents=True)
    start = cpu()
    for i, data in enumerate(jpegs):
        (kept / f"{i:05d}.jpg").write_bytes(data)
    per_picture = (cpu() - start) / len(jpegs)
    size = _size(kept)
    ended = time.perf_counter()
    out_path = folder / "film.mp4"
    clock = Fraction(1, 90000)
    each = 60.0 / len(jpegs)
    smoother = Deflicker()
    with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264")
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.time_base = stream.codec_context.time_base = clock
        stream.codec_context.options = {"preset": "veryfast", "crf": films.CRF}
        for i, path in enumerate(sorted(kept.iterdir())):
            picture = decode_yuv(path.read_bytes())
            y = smoother.apply(picture.y)
            frame = av.VideoFrame.from_ndarray(
                np.concatenate((y.ravel(), picture.u.ravel(), picture.v.ravel())).reshape(-1, W),
                format="yuv420p",
            )
            frame.pts, frame.time_base = round(i * each / clock), clock
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    to_film = time.perf_counter() - ended
    shutil.copyfile(out_path, folder / "published.mp4")
    return {
        "working MB": size / 1e6,
        "CPU ms/picture": per_picture * 1000,
        "window end to film s": to_film,
        "to published s": time.perf_counter() - ended,
        "film MB": out_path.stat().st_size / 1e6,
    }


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def flicker(jpegs: list[bytes], light: list[float]) -> dict[str, float]:
    smoother = Deflicker()
    taken, smoothed = [], []
    for data in jpegs:
        y = decode_yuv(data).y
        taken.append(brightness(y))
        smoothed.append(brightness(smoother.apply(y)))
    truth = np.array(light) * (np.mean(taken) / np.mean(light))
    jitter = lambda levels: float(np.abs(np.diff(levels)).mean())  # noqa: E731
    return {"jitter taken": jitter(taken), "jitter deflickered": jitter(smoothed),
            "off the light, taken": float(np.abs(np.array(taken) - truth).mean()),
            "off the light, deflickered": float(np.abs(np.array(smoothed) - truth).mean())}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pictures", type=int, default=4320, help="pictures in the day (4320: 12 h at 10 s)")
    args = parser.parse_args()
    machine = f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"{machine}, PyAV {av.__version__}")
    jpegs, light, _ = day(args.pictures)
    size = sum(map(len, jpegs)) / len(jpegs) / 1e3
    print(f"{args.pictures} pictures at {W}x{H}, {size:.0f} kB each as JPEG\n")
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        rows = {
            "encoded as taken (camcast)": incremental(jpegs, Path(a)),
            "pictures kept": keeping(jpegs, Path(b)),
        }
    keys = list(next(iter(rows.values())))
    print("| way | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for way, figures in rows.items():
        print(f"| {way} | " + " | ".join(f"{figures[k]:.2f}" for k in keys) + " |")
    print()
    print("| flicker (luma levels) | value |\n|---|---|")
    for key, value in flicker(jpegs, light).items():
        print(f"| {key} | {value:.2f} |")


if __name__ == "__main__":
    main()
