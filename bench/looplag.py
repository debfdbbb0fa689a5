"""Event-loop lag under a day's load: how long ``/healthz`` takes to answer while camcast works.

``/healthz`` does nothing but answer, so its latency is the time a request waits for the event loop:
every millisecond the loop spends blocked (a file read, a JSON parse of a whole log, an fsync) shows
here. The load is issue 31's: four cameras (640x360 at 15 fps, the test pattern), each with motion on
and continuous recording, 50 MJPEG viewers spread over them, the owner's page polling (``/api/events``
every 0.5 s, ``/status.json`` every second, ``/api/recordings`` and ``/api/viewers`` every 5 s) and a
share link's snapshot fetched 5 times a second. The state folder starts as a month of use leaves it:
``--events`` motion events (10,000, the most kept) and ``--recordings`` finished recordings with their
sidecars (2,000). ``/healthz`` is asked every 50 ms for ``--seconds`` after a warm-up; the table gives
its latency p50, p99 and max, and the server's CPU.

Each ``--tree`` (a checkout of camcast: its ``src`` goes first on PYTHONPATH) runs in turn with the
same load, so one run compares them on this noisy machine:

    python bench/looplag.py --tree before=/tmp/base --tree after=.     # issue 31's before and after
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fanout import free_port, proc_stat, stop, wait_healthy

CAMERAS = ("a", "b", "c", "d")
CONFIG = 'size = "640x360"\nfps = 15\n[motion]\nenabled = true\n[record]\nmode = "continuous"\n' + "".join(
    f'[cameras.{name}]\nsource = "pattern"\n' for name in CAMERAS
)


async def viewer(http: aiohttp.ClientSession, url: str) -> None:
    async with http.get(url) as resp:
        while await resp.content.readany():
            pass


async def poll(http: aiohttp.ClientSession, url: str, every: float) -> None:
    while True:
        async with http.get(url) as resp:
            await resp.read()
        await asyncio.sleep(every)


async def measure(url: str, seconds: float, viewers: int, token: str) -> list[float]:
    """``/healthz`` latencies (ms) over ``seconds`` under the load."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http, asyncio.TaskGroup() as tg:
        load = [
            tg.create_task(viewer(http, f"{url}/cam/{CAMERAS[i % 4]}/stream.mjpg")) for i in range(viewers)
        ]
        for path, every in (("/api/events", 0.5), ("/status.json", 1.0), ("/api/recordings", 5.0),
                            ("/api/viewers", 5.0), (f"/cam/b/snapshot.jpg?token={token}", 0.2)):  # fmt: skip
            load.append(tg.create_task(poll(http, url + path, every)))
        await asyncio.sleep(5)  # warm-up: the viewers connected, the encoders running
        latencies = []
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as probe:  # its own connection, never queued behind the load
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with probe.get(url + "/healthz") as resp:
                    await resp.read()
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.05)
        for task in load:
            task.cancel()
    return latencies


def seed(state: Path, events: int, recordings: int) -> None:
    """A month's events and a few days' recordings (tiny files with real sidecars) in ``state``."""
    now = time.time()
    folder = state / "camcast" / "events"
    folder.mkdir(parents=True)
    lines = []
    for n in range(events):
        start = now - 20 * 86400 + n * (20 * 86400 / max(events, 1))
        camera = CAMERAS[n % 4]
        lines.append(json.dumps({
            "id": f"{camera}-{n}", "camera": camera, "start": iso(start), "end": iso(start + 8), "seconds": 8,
            "peak": 0.05, "box": [0.1, 0.1, 0.3, 0.4], "zones": [], "picture": None,
        }))  # fmt: skip
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    for n in range(recordings):
        start = now - 2 * 86400 + n * (2 * 86400 / max(recordings, 1))
        camera = CAMERAS[n % 4]
        moment = datetime.datetime.fromtimestamp(start)
        name = f"{camera}-{moment:%Y%m%d-%H%M%S}-{n % 1000:03d}.mp4"
        day = state / "camcast" / "recordings" / camera / f"{moment:%Y-%m-%d}"
        day.mkdir(parents=True, exist_ok=True)
        (day / name).write_bytes(b"\0" * 1024)
        (day / name).with_suffix(".json").write_text(json.dumps({
            "camera": camera, "name": name, "path": str(day / name), "start": iso(start),
            "end": iso(start + 60), "seconds": 60, "bytes": 1024, "events": [], "complete": True,
        }))  # fmt: skip


def iso(when: float) -> str:
    return datetime.datetime.fromtimestamp(when).astimezone().isoformat(timespec="milliseconds")


def run_tree(name: str, tree: Path, args: argparse.Namespace) -> dict[str, object]:
    seconds, viewers = args.seconds, args.viewers
    with tempfile.TemporaryDirectory() as home:
        seed(Path(home) / "state", args.events, args.recordings)
        env = {**os.environ, "PYTHONPATH": str(tree / "src"), "XDG_CONFIG_HOME": f"{home}/config",
               "XDG_STATE_HOME": f"{home}/state"}  # fmt: skip
        config = Path(home) / "camcast.toml"
        config.write_text(CONFIG)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        camcast = [sys.executable, "-m", "camcast"]
        proc = subprocess.Popen(
            [*camcast, "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}", "--quiet"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_healthy(port, proc)
            share = ["share", "--scope", "snapshot", "--expires", "1h", "--listen", f"127.0.0.1:{port}"]
            shared = subprocess.run([*camcast, *share], env=env, capture_output=True, text=True, check=True)
            token = re.search(r"token=([^\s&]+)", shared.stdout)
            assert token is not None, shared.stdout
            cpu0, t0 = proc_stat(proc.pid)[0], time.monotonic()
            latencies = asyncio.run(measure(url, seconds, viewers, token[1]))
            cpu = (proc_stat(proc.pid)[0] - cpu0) / (time.monotonic() - t0) * 100
        finally:
            stop(proc)
    latencies.sort()
    return {
        "tree": name, "n": len(latencies), "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1], "max": latencies[-1], "cpu": cpu,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH",
                        help="a camcast checkout to measure (repeatable; default: this one)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--recordings", type=int, default=2_000)
    args = parser.parse_args()
    trees = [t.split("=", 1) for t in args.tree] or [["this", str(Path(__file__).resolve().parent.parent)]]
    print(f"# {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{len(CAMERAS)} cameras, {args.viewers} MJPEG viewers, {args.events} events, "
          f"{args.recordings} recordings, {args.seconds:g} s")  # fmt: skip
    print("| tree | /healthz answers | p50 ms | p99 ms | max ms | server CPU % |")
    print("|---|---|---|---|---|---|")
    for name, path in trees:
        row = run_tree(name, Path(path).resolve(), args)
        print(f"| {row['tree']} | {row['n']} | {row['p50']:.1f} | {row['p99']:.1f} | {row['max']:.1f} | "
              f"{row['cpu']:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
