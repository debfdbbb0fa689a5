"""Video benchmark: what H.264 costs and saves against MJPEG, on two kinds of pictures.

Sources: camcast's test pattern, and a natural-looking moving picture (FFmpeg's ``mandelbrot``
zoom, rendered losslessly to a file first). For each source and size it reports

* the H.264 encode cost (camcast's encoder: libx264, zerolatency, constrained baseline), CPU time per
  frame and as % of one core at 30 fps;
* bits per second of MJPEG (camcast's JPEG encoder, quality 80) and of H.264 at a ladder of
  bitrates, each with its SSIM against the source frames (FFmpeg's ``ssim`` filter), and the bits at
  which H.264 matches MJPEG's SSIM (or 0.95, whichever is lower), found between the two rungs around
  it, as a fraction of MJPEG's bits;
* with ``--profiles`` and ``--keyframe-every``, each x264 profile and keyframe interval as a row of
  its own (baseline, a keyframe a second: what camcast sends today; high: CABAC and the 8x8
  transform, still without B-frames under ``tune=zerolatency``); with ``--lookahead``, main and high
  also with B-frames and a 20-picture lookahead (mbtree), and the delay that costs.

VMAF is not measured: Debian's FFmpeg has no ``libvmaf`` (the table says so).

    python bench/video.py                        # 720p and 1080p, 4 s of each source
    python bench/video.py --sizes 1280x720 --seconds 2 --profiles baseline main high
    python bench/video.py --sizes 1280x720 --keyframe-every 1 2 4
    python bench/video.py --sizes 1280x720 --profiles baseline high --lookahead
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from camcast.encode.h264 import PRESET, H264Encoder
from camcast.encode.stripes import JpegEncoder
from camcast.frames import Yuv420
from camcast.sources.pattern import PatternSource

FPS = 30
FULL_RANGE = av.video.reformatter.ColorRange.JPEG
LADDER = (500_000, 1_000_000, 2_000_000, 4_000_000)


def pattern_frames(size: tuple[int, int], count: int) -> list[Yuv420]:
    pattern = PatternSource(*size, FPS)
    return [pattern.draw(i, 1000.0 + i / FPS) for i in range(count)]


def natural_frames(size: tuple[int, int], count: int, folder: Path) -> list[Yuv420]:
    """FFmpeg's mandelbrot zoom, rendered losslessly, read back as full-range I420."""
    path = folder / f"mandelbrot-{size[0]}.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"mandelbrot=size={size[0]}x{size[1]}:rate={FPS}",
         "-frames:v", str(count), "-c:v", "ffv1", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            planes = np.asarray(frame.to_ndarray(format="yuvj420p"), dtype=np.uint8)
            w, h = size
            y = planes[:h].copy()
            u = planes[h : h + h // 4].reshape(h // 2, w // 2).copy()
            v = planes[h + h // 4 :].reshape(h // 2, w // 2).copy()
            frames.append(Yuv420(y, u, v))
    return frames


def write_reference(frames: list[Yuv420], path: Path) -> None:
    """The source frames, losslessly, for SSIM (full range, like every stream compared with them:
    SSIM runs on full-range planes on both sides, so no range conversion skews it)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        stream.codec_context.color_range = FULL_RANGE
        for image in frames:
            data = np.concatenate((image.y.ravel(), image.u.ravel(), image.v.ravel()))
            frame = av.VideoFrame.from_ndarray(data.reshape(-1, image.width), format="yuv420p")
            frame.color_range = FULL_RANGE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def ssim(distorted: Path, reference: Path) -> float:
    result = subprocess.run(
        ["ffmpeg", "-v", "info", "-nostats", "-i", str(distorted), "-i", str(reference),
         # Frame by frame in order, whatever timestamps a raw stream is given (B-frames reorder them).
         "-lavfi", f"[0:v]setpts=N/({FPS}*TB),format=yuvj420p[a];[1:v]setpts=N/({FPS}*TB),format=yuvj420p[b];"
                   "[a][b]ssim",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.findall(r"All:([\d.]+)", result.stderr)[-1])


#: x264 with B-frames and a lookahead (mbtree), over ``tune=zerolatency``: what a rendition that no
#: WebRTC peer plays (HLS, recordings) could use, at the cost of the lookahead's delay.
LOOKAHEAD = {"x264-params": "bframes=3:b-adapt=1:rc-lookahead=20:mbtree=1:sync-lookahead=0:sliced-threads=0"}


def h264(
    frames: list[Yuv420],
    bitrate: int,
    path: Path,
    profile: str = "baseline",
    keyframe_every: float = 1.0,
    lookahead: bool = False,
) -> tuple[float, int, int]:
    """Encode ``frames`` as camcast does (in ``profile``, a keyframe every ``keyframe_every`` seconds,
    with B-frames and a lookahead if ``lookahead``); write the stream to ``path``; return (CPU ms per
    frame, bytes, pictures the encoder held back before its first packet)."""
    encoder = H264Encoder(bitrate, keyframe_every, FPS, profile, options=LOOKAHEAD if lookahead else None)
    cpu = []
    total = 0
    held = -1
    with path.open("wb") as out:
        for i, image in enumerate(frames):
            encoder.clock = lambda i=i: i / FPS  # type: ignore[misc]  # keyframes on the frames' timeline
            t0 = time.process_time()  # x264 encodes in threads of its own: count them all
            encoded = encoder.encode(image)
            cpu.append(time.process_time() - t0)
            if encoded.data and held < 0:
                held = i
            out.write(encoded.data)
            total += len(encoded.data)
        rest = encoder.flush()
        out.write(rest)
        total += len(rest)
    return 1000 * statistics.median(cpu[5:]), total, held


def mjpeg(frames: list[Yuv420], path: Path) -> int:
    encoder = JpegEncoder(80)
    total = 0
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("mjpeg", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuvj420p"
        for i, image in enumerate(frames):
            data = encoder.encode(image).data
            total += len(data)
            packet = av.Packet(data)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1, FPS)
            container.mux(packet)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--profiles",
        nargs="+",
        default=["baseline"],
        choices=["baseline", "main", "high"],
        help="x264 profiles to compare (each a row)",
    )
    parser.add_argument("--keyframe-every", nargs="+", type=float, default=[1.0],
                        help="seconds between keyframes to compare (each a row)")  # fmt: skip
    parser.add_argument("--lookahead", action="store_true",
                        help="also main and high with B-frames and a lookahead (mbtree)")  # fmt: skip
    args = parser.parse_args()
    count = round(args.seconds * FPS)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, PyAV {av.__version__}, x264 preset {PRESET}\n")  # fmt: skip
    if not has_vmaf():
        print("VMAF: not measured, this FFmpeg has no libvmaf\n")
    print(
        "| source | size | profile | keyframe every s | encoder delay ms | H.264 encode ms/frame "
        "| % of a core at 30 fps | MJPEG q80 Mbit/s | MJPEG SSIM | H.264 Mbit/s (SSIM) per rung "
        "| H.264 bits / MJPEG bits at matched SSIM |"
    )
    print("|" + "---|" * 11)
    modes = [(p, every, False) for p, every in itertools.product(args.profiles, args.keyframe_every)]
    if args.lookahead:
        modes += [(p, every, True) for p, every in itertools.product(args.profiles, args.keyframe_every)
                  if p != "baseline"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size_text in args.sizes:
            size = tuple(int(v) for v in size_text.split("x"))
            assert len(size) == 2
            for name in ("pattern", "mandelbrot"):
                frames = (
                    pattern_frames(size, count) if name == "pattern" else natural_frames(size, count, folder)
                )
                reference = folder / "reference.mkv"
                write_reference(frames, reference)
                mjpeg_path = folder / "mjpeg.mkv"
                mjpeg_bits = mjpeg(frames, mjpeg_path) * 8 / args.seconds
                mjpeg_ssim = ssim(mjpeg_path, reference)
                for profile, every, lookahead in modes:
                    rungs = []
                    cost = 0.0
                    held = 0
                    for bitrate in LADDER:
                        path = folder / f"h264-{bitrate}.h264"
                        ms, size_bytes, held = h264(frames, bitrate, path, profile, every, lookahead)
                        if bitrate == 2_000_000:  # the default --video-bitrate
                            cost = ms
                        rungs.append((size_bytes * 8 / args.seconds, ssim(path, reference)))
                    label = profile + (", B-frames + lookahead" if lookahead else "")
                    row = [name, size_text, label, f"{every:g}", f"{held * 1000 / FPS:.0f}", f"{cost:.1f}",
                           f"{cost * FPS / 10:.0f}",
                           f"{mjpeg_bits / 1e6:.1f}", f"{mjpeg_ssim:.3f}",
                           *matched(rungs, mjpeg_bits, mjpeg_ssim)]  # fmt: skip
                    print("| " + " | ".join(row) + " |", flush=True)


def has_vmaf() -> bool:
    """Whether this FFmpeg was built with libvmaf (Debian's is not)."""
    filters = subprocess.run(["ffmpeg", "-hide_banner", "-filters"], capture_output=True, text=True).stdout
    return any(line.split()[1:2] == ["libvmaf"] for line in filters.splitlines())


def matched(rungs: list[tuple[float, float]], mjpeg_bits: float, mjpeg_ssim: float) -> list[str]:
    """The ladder's (Mbit/s, SSIM), and the fraction of MJPEG's bits at which H.264 reaches MJPEG's SSIM
    (or 0.95, whichever is lower), found between the two rungs around it (SSIM against log bits is
    nearly straight there)."""
    goal = min(mjpeg_ssim, 0.95)
    ladder = ", ".join(f"{bits / 1e6:.2f} ({value:.3f})" for bits, value in rungs)
    for (b0, s0), (b1, s1) in itertools.pairwise(rungs):
        if s0 < goal <= s1:
            bits = float(np.exp(np.log(b0) + (goal - s0) / (s1 - s0) * (np.log(b1) - np.log(b0))))
            return [ladder, f"1/{mjpeg_bits / bits:.1f}"]
    if rungs and rungs[0][1] >= goal:
        return [ladder, f"1/{mjpeg_bits / rungs[0][0]:.0f} or less (the lowest rung)"]
    return [ladder, "none reached it"]


if __name__ == "__main__":
    main()
