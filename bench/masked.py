"""What a mask costs on a camera whose own pictures are passed through: the server's CPU with the
camera's own H.264 (or MJPEG) going out untouched, then with a privacy mask written into the config
and reloaded (the camera decoded and every output encoded), then without it again.

A 1280x720, 30 fps file of ``--codec`` (a keyframe a second), looped, served with one MJPEG viewer and
one HLS reader (ffmpeg) attached, ``--seconds`` per phase:

    python bench/masked.py --codec h264
    python bench/masked.py --codec mjpeg
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from fanout import free_port, proc_stat, stop, wait_healthy  # noqa: E402

from tests.media import make_video  # noqa: E402


def reader(url: str, until: threading.Event) -> None:
    """One MJPEG viewer, reading and dropping."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        while not until.is_set() and resp.read(65536):
            pass


def phase(pid: int, port: int, seconds: float) -> tuple[float, float]:
    """(server CPU % of one core, encodes a second) over ``seconds``."""
    cpu0, t0 = proc_stat(pid)[0], time.monotonic()
    time.sleep(seconds)
    cpu = (proc_stat(pid)[0] - cpu0) / (time.monotonic() - t0) * 100
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=5) as resp:
        encodes = float(json.load(resp)["encodes_per_second"])
    return cpu, encodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", choices=("h264", "mjpeg"), default="h264")
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        options = {"g": "30", "bf": "0"} if args.codec == "h264" else {"q:v": "5"}
        rng = np.random.default_rng(1)
        noise = rng.integers(0, 255, (720, 1280), np.uint8)  # detail, so encoding costs what it does

        def picture(i: int) -> np.ndarray:
            return np.roll(noise, i * 8, axis=1)

        video = make_video(home / f"cam.{'mp4' if args.codec == 'h264' else 'mkv'}", args.codec, 90, 30,
                           (1280, 720), options=options, picture=picture)  # fmt: skip
        config = home / "camcast.toml"
        config.write_text(f'source = "{video}"\n')
        port = free_port()
        env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_STATE_HOME": str(home / "state")}
        serve = ["serve", "--config", str(config), "--listen", f"127.0.0.1:{port}", "--quiet"]
        server = subprocess.Popen([sys.executable, "-m", "camcast", *serve], env=env)
        done = threading.Event()
        hls = None
        try:
            wait_healthy(port, server)
            threading.Thread(
                target=reader, args=(f"http://127.0.0.1:{port}/stream.mjpg", done), daemon=True
            ).start()
            hls = subprocess.Popen(
                ["ffmpeg", "-v", "quiet", "-i", f"http://127.0.0.1:{port}/hls/index.m3u8", "-c", "copy", "-f",
                 "null", "-"], stdin=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(3)
            rows = [("passed through", *phase(server.pid, port, args.seconds))]
            config.write_text(f'source = "{video}"\nmask = ["0,0,25%,25%"]\n')
            server.send_signal(signal.SIGHUP)
            time.sleep(2)
            rows.append(("masked", *phase(server.pid, port, args.seconds)))
            config.write_text(f'source = "{video}"\n')
            server.send_signal(signal.SIGHUP)
            time.sleep(2)
            rows.append(("passed through again", *phase(server.pid, port, args.seconds)))
        finally:
            done.set()
            if hls is not None:
                hls.terminate()
                hls.wait(10)
            stop(server)
    print(f"# {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {args.codec} "
          f"1280x720 30 fps, one MJPEG viewer and one HLS reader, {args.seconds:g} s a phase")  # fmt: skip
    print("| phase | server CPU % of a core | encodes/s |")
    print("|---|---|---|")
    for name, cpu, encodes in rows:
        print(f"| {name} | {cpu:.0f} | {encodes:.1f} |")


if __name__ == "__main__":
    main()
