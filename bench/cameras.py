"""Several cameras in one process: server CPU for K pattern cameras with V MJPEG viewers each.

Runs ``camcast serve`` once with one camera and once with ``--cameras`` cameras (640x480 at 15 fps by
default, from a config file with [cameras.NAME] tables), connects ``--viewers`` stream clients to each
camera's /cam/NAME/stream.mjpg, and prints per run: the worst and median per-viewer fps, server CPU (%
of one core), and capture-to-receipt latency. The target (issue 8): every viewer at 15 fps or better,
and K cameras costing no more than K times one. Traffic stays on 127.0.0.1.

    python bench/cameras.py                      # 1 vs 4 cameras, 10 viewers each, 10 s
    python bench/cameras.py --cameras 4 --viewers 10 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fanout import Stream, StreamClient, free_port, proc_stat, wait_started


def worker(port: int, paths: list[str], start_at: float, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        clients = []
        for path in paths:

            def make(path: str = path) -> StreamClient:
                return StreamClient(Stream(path), start_at, start_at + seconds, latencies)

            clients.append((await loop.create_connection(make, "127.0.0.1", port))[1])
        await asyncio.sleep(max(0.0, start_at + seconds - time.time()) + 0.2)
        for c in clients:
            if c.transport:
                c.transport.close()
        out.put(([c.frames / seconds for c in clients], latencies[::3]))

    asyncio.run(main())


def run(cameras: int, viewers: int, size: str, fps: float, seconds: float) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="camcast-bench-"))
    config = folder / "cams.toml"
    tables = "".join(
        f'[cameras.cam{i}]\nsource = "pattern"\nsize = "{size}"\nfps = {fps}\n\n' for i in range(cameras)
    )
    config.write_text(tables)
    port = free_port()
    env = {**os.environ, "XDG_STATE_HOME": str(folder / "state"), "XDG_CONFIG_HOME": str(folder / "cfg")}
    server = subprocess.Popen(
        [sys.executable, "-m", "camcast", "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
         "--quiet", "--max-connections-per-address", "1000"],
        env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_started(port, server)
        paths = [f"/cam/cam{i}/stream.mjpg" for i in range(cameras) for _ in range(viewers)]
        start_at = time.time() + 2.0
        out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        halves = [paths[::2], paths[1::2]]
        workers = [mp.Process(target=worker, args=(port, h, start_at, seconds, out)) for h in halves if h]
        for w in workers:
            w.start()
        time.sleep(max(0.0, start_at - time.time()))
        cpu0, _ = proc_stat(server.pid)
        t0 = time.monotonic()
        time.sleep(seconds)
        cpu1, rss = proc_stat(server.pid)
        elapsed = time.monotonic() - t0
        rates: list[float] = []
        lat: list[float] = []
        for _ in workers:
            r, la = out.get(timeout=60)
            rates += r
            lat += la
        for w in workers:
            w.join(10)
        lat.sort()
        return {
            "cameras": cameras,
            "viewers": len(paths),
            "fps_worst": min(rates),
            "fps_median": statistics.median(rates),
            "cpu": 100 * (cpu1 - cpu0) / elapsed,
            "rss": rss / 2**20,
            "p50": 1000 * lat[len(lat) // 2],
            "p99": 1000 * lat[int(len(lat) * 0.99)],
        }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--viewers", type=int, default=10, help="viewers per camera")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--fps", type=float, default=15)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"pattern cameras {args.size} at {args.fps:g} fps, {args.viewers} viewers each, {args.seconds:g} s\n"
    )
    print("| cameras | viewers | fps worst | fps median | server CPU % | RSS MiB | latency p50 ms | p99 ms |")
    print("|" + "---|" * 8)
    rows = [run(k, args.viewers, args.size, args.fps, args.seconds) for k in (1, args.cameras)]
    for r in rows:
        print(f"| {r['cameras']} | {r['viewers']} | {r['fps_worst']:.1f} | {r['fps_median']:.1f} | "
              f"{r['cpu']:.1f} | {r['rss']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} |")  # fmt: skip
    print(f"\n{args.cameras} cameras cost {rows[1]['cpu'] / rows[0]['cpu']:.2f} times one camera's CPU")


if __name__ == "__main__":
    main()
