"""A stalled disk under continuous recording: the server's memory while every write blocks.

A camera (the test pattern, 1280x720 at 30 fps, H.264 at 2 Mbit/s, a keyframe a second) records
continuously into a folder whose writes never return (``Clip.add`` blocks, as on a network share that
stopped answering or a dying SD card). Every ``--every`` seconds for ``--seconds`` the table gives the
process's RSS and how many groups of pictures wait for the disk. Each ``--tree`` (a checkout: its
``src`` first on PYTHONPATH) runs in its own process, in turn:

    python bench/stall.py --tree before=/tmp/base --tree after=.     # issue 31's before and after
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def stalled(seconds: float, every: float) -> None:
    """In this process: record onto a disk that never answers; print one row per sample."""
    from camcast.config import CameraSettings
    from camcast.encode.h264 import H264Encoder
    from camcast.encode.rendition import Rendition
    from camcast.hub import Hub
    from camcast.record import clip
    from camcast.record.recorder import Recorder
    from camcast.sources.pattern import PatternSource

    disk = threading.Event()  # never set while measuring: every write blocks

    def add(self: object, gop: object) -> None:
        disk.wait()

    clip.Clip.add = add  # type: ignore[method-assign,assignment]
    hub = Hub(PatternSource(1280, 720, 30))
    rendition = Rendition(H264Encoder(2_000_000, 1.0, 30))
    hub.subscribe(rendition.receive)
    with tempfile.TemporaryDirectory() as folder:
        settings = CameraSettings(id="cam", record="continuous", record_min_free=0)
        recorder = Recorder(hub, rendition, settings, Path(folder), lambda recording: None)
        tasks = [asyncio.create_task(hub.run()), asyncio.create_task(rendition.run())]
        recorder.start()
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            await asyncio.sleep(every)
            worker = getattr(recorder, "_worker", None)
            waiting = worker.waiting if worker is not None else recorder._thread._work_queue.qsize()  # type: ignore[attr-defined]
            print(f"{time.monotonic() - started:.0f} {rss_mib():.1f} {waiting}", flush=True)
        disk.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await recorder.aclose()
        rendition.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        asyncio.run(stalled(args.seconds, args.every))
        return
    trees = [t.split("=", 1) for t in args.tree] or [["this", str(Path(__file__).resolve().parent.parent)]]
    rows: dict[str, list[tuple[str, str, str]]] = {}
    for name, path in trees:
        env = {**os.environ, "PYTHONPATH": str(Path(path).resolve() / "src")}
        inside = ["--inside", "--seconds", str(args.seconds), "--every", str(args.every)]
        out = subprocess.run(
            [sys.executable, __file__, *inside], env=env, capture_output=True, text=True, check=True
        )
        rows[name] = [tuple(line.split()) for line in out.stdout.splitlines()]  # type: ignore[misc]
    print(f"# {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; 1280x720 30 fps, "
          f"2 Mbit/s, every write blocked for {args.seconds:g} s")  # fmt: skip
    names = list(rows)
    print("| seconds | " + " | ".join(f"{n}: RSS MiB | {n}: groups waiting" for n in names) + " |")
    print("|---" * (1 + 2 * len(names)) + "|")
    for i, (at, *_rest) in enumerate(rows[names[0]]):
        cells = " | ".join(f"{rows[n][i][1]} | {rows[n][i][2]}" for n in names if i < len(rows[n]))
        print(f"| {at} | {cells} |")


if __name__ == "__main__":
    main()
