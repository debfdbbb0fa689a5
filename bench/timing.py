"""Timing in recordings: a 15 fps H.264 file passed through into a continuous recording (files of 6 s)
while another program takes a whole core; ffprobe reads each file's decoding times and rate. The
table: how far each interval is from the source's 1/15 s, decoding times that do not grow, and the
rates the files read as.

Each ``--tree`` (a checkout of camcast: its ``src`` goes first on PYTHONPATH) runs in turn:

    python bench/timing.py --tree before=/tmp/base --tree after=.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from fanout import free_port, stop, wait_healthy  # noqa: E402

from tests.media import make_video  # noqa: E402
from tests.test_video_timing import packets  # noqa: E402

FPS = 15


def run_tree(tree: Path, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        clip = make_video(
            home / "clip.mp4",
            codec="libx264",
            frames=FPS * 6,
            fps=FPS,
            size=(640, 360),
            options={"g": str(FPS), "bf": "0"},
        )
        env = {
            **os.environ,
            "PYTHONPATH": str(tree / "src"),
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_RUNTIME_DIR": str(home / "run"),
        }
        port = free_port()
        serve = [
            "serve",
            "--source",
            str(clip),
            "--quiet",
            "--listen",
            f"127.0.0.1:{port}",
            "--record",
            "continuous",
            "--record-file-minutes",
            "0.1",
            "--record-min-free",
            "0",
        ]
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        server = subprocess.Popen(
            [sys.executable, "-m", "camcast", *serve], env=env, stdout=subprocess.DEVNULL
        )
        try:
            wait_healthy(port, server)
            time.sleep(seconds)  # a bench's run length, not a wait for an event
        finally:
            stop(server)
            hog.kill()
            hog.wait()
        off: list[float] = []
        rates: set[str] = set()
        backwards = 0
        files = sorted((home / "state").rglob("*.mp4"))
        for path in files:
            dts, rate = packets(path)
            steps = np.diff(dts)
            backwards += int((steps <= 0).sum())
            off += list(np.abs(steps - 1 / FPS) * 1000)
            rates.add(rate)
    values = np.array(off)
    return {
        "files": len(files), "n": len(values), "p50": np.percentile(values, 50),
        "p99": np.percentile(values, 99), "max": values.max(), "backwards": backwards, "rates": sorted(rates),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--seconds", type=float, default=40)
    args = parser.parse_args()
    trees = [t.split("=", 1) for t in args.tree] or [["this", str(ROOT)]]
    print(
        f"# {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; a {FPS} fps "
        f"H.264 file passed through, recorded in 6 s files for {args.seconds:g} s, "
        "a process spinning on one core"
    )
    print(
        "| tree | files | intervals | off p50 ms | off p99 ms | off max ms | DTS not growing | rates read |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, path in trees:
        r = run_tree(Path(path).resolve(), args.seconds)
        print(
            f"| {name} | {r['files']} | {r['n']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['max']:.2f} | "
            f"{r['backwards']} | {', '.join(r['rates'])} |"
        )  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
