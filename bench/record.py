"""Recording: what it costs, how soon a clip can be played, and that the files hold the packets once.

1. CPU: ``camcast serve`` of a 1280x720, 30 fps H.264 file (passed through: nothing is encoded, which
   ``encodes_per_second`` in the status confirms), with recording off, ``events`` (the pre-buffer
   only: no motion) and ``continuous``; the difference is what recording adds.
2. Delay: the same with ``--motion --record events`` on a scene where something crosses every 10 s:
   from the moment an event's end is known (``end`` appears in /api/events, ``gap_seconds`` after the
   last motion) to its clip listed in /api/recordings, ready to play.
3. Several cameras recording continuously (``--cameras``, default 4, for ``--minutes``): the bytes in
   the files against the H.264 bytes the recorders took (camcast_record_bytes_total), and the
   server's responsiveness meanwhile: /healthz answered every 50 ms, its p50/p99/max time.

    python bench/record.py                  # about 4 minutes
    python bench/record.py --minutes 10     # the issue's 10 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from fanout import free_port, proc_stat, stop, wait_healthy  # noqa: E402

from tests.media import make_video  # noqa: E402
from tests.scenes import Mover, Scene  # noqa: E402

SIZE = (1280, 720)
FPS = 30


def get(port: int, path: str) -> object:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return json.load(resp)


def serve(folder: Path, args: list[str], tag: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    state = folder / f"state-{tag}"
    env = {**os.environ, "XDG_STATE_HOME": str(state), "XDG_CONFIG_HOME": str(folder / "cfg")}
    command = [sys.executable, "-m", "camcast", "serve", "--listen", f"127.0.0.1:{port}", "--quiet",
               "--record-min-free", "0", *args]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(port, server)
    return server, port, state


def cpu(folder: Path, video: Path, mode: str, seconds: float) -> tuple[float, float]:
    """(CPU % of a core, encodes a second) of serving ``video`` with ``--record mode``."""
    server, port, _ = serve(folder, ["--source", str(video), "--record", mode], f"cpu-{mode}")
    try:
        time.sleep(3)
        cpu0, _ = proc_stat(server.pid)
        began = time.monotonic()
        time.sleep(seconds)
        cpu1, _ = proc_stat(server.pid)
        status = get(port, "/status.json")
        assert isinstance(status, dict)
        return (cpu1 - cpu0) / (time.monotonic() - began) * 100, float(status["encodes_per_second"])
    finally:
        stop(server)


def delays(folder: Path, video: Path, events: int) -> list[float]:
    """Seconds from an event's end being known to its clip being listed, for ``events`` events."""
    args = ["--source", str(video), "--motion", "--motion-gap-seconds", "2", "--record", "events",
            "--record-pre-seconds", "2", "--record-post-seconds", "2"]  # fmt: skip
    server, port, _ = serve(folder, args, "delay")
    ended: dict[str, float] = {}
    listed: dict[str, float] = {}
    try:
        deadline = time.monotonic() + events * 12 + 30
        while len([e for e in ended if e in listed]) < events and time.monotonic() < deadline:
            now = time.time()
            found = get(port, "/api/events")
            clips = get(port, "/api/recordings")
            assert isinstance(found, dict) and isinstance(clips, dict)
            for event in found["events"]:
                if event["end"] and event["id"] not in ended:
                    ended[event["id"]] = now
            for clip in clips["recordings"]:
                for event_id in clip["events"]:
                    listed.setdefault(event_id, now)
            time.sleep(0.05)
    finally:
        stop(server)
    return [listed[e] - ended[e] for e in ended if e in listed][1:]  # the first has no full pre-buffer


def many(folder: Path, video: Path, cameras: int, minutes: float) -> dict[str, float]:
    config = folder / "many.toml"
    config.write_text("".join(f'[cameras.c{i}]\nsource = "{video}"\n\n' for i in range(cameras)))
    server, port, state = serve(folder, ["--config", str(config), "--record", "continuous",
                                         "--record-file-minutes", "1"], "many")  # fmt: skip
    times = []
    try:
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            began = time.perf_counter()
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).close()
            times.append((time.perf_counter() - began) * 1000)
            time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    finally:
        stop(server)
    taken = sum(float(line.split()[-1]) for line in metrics.splitlines()
                if line.startswith("camcast_record_bytes_total"))  # fmt: skip
    files = list((state / "camcast" / "recordings").glob("*/*/*.mp4"))
    on_disk = sum(p.stat().st_size for p in files)
    times.sort()
    return {
        "files": len(files), "taken": taken, "on_disk": on_disk, "p50": times[len(times) // 2],
        "p99": times[int(len(times) * 0.99)], "max": times[-1], "samples": len(times),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20, help="each CPU run (default 20)")
    parser.add_argument("--events", type=int, default=5, help="events timed for the delay (default 5)")
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=2, help="the several-camera run (default 2)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="camcast-bench-record-"))
    scene = Scene(width=SIZE[0], height=SIZE[1], seconds=10, movers=(Mover(3, 6, 120, 240, 0.3, 30),))
    video = make_video(
        folder / "scene.mp4", codec="h264", frames=10 * FPS, fps=FPS, size=SIZE,
        picture=lambda i: scene.luma(i / FPS, i),
        options={"g": str(FPS), "bf": "0", "preset": "veryfast", "b": "2M"},  # as cameras: no B-frames
    )  # fmt: skip
    print(
        f"# {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
        f"{SIZE[0]}x{SIZE[1]} H.264 at {FPS} fps, 2 Mbit/s, a keyframe a second, passed through"
    )
    print("\n| recording | CPU (% of a core) | encodes/s | added |")
    print("|---|---|---|---|")
    base = None
    for mode in ("off", "events", "continuous"):
        load, encodes = cpu(folder, video, mode, args.seconds)
        base = load if base is None else base
        print(f"| {mode} | {load:.1f} | {encodes:.0f} | {load - base:+.1f} |")
    waits = delays(folder, video, args.events)
    if waits:
        median = statistics.median(waits)
        print(f"\nevent's end known -> clip listed (post_seconds 2): median {median:.2f} s, "
              f"max {max(waits):.2f} s over {len(waits)} events")  # fmt: skip
    result = many(folder, video, args.cameras, args.minutes)
    ratio = result["on_disk"] / max(result["taken"], 1)
    print(
        f"\n{args.cameras} cameras recording for {args.minutes:g} min: {result['files']:.0f} files, "
        f"{result['on_disk'] / 1e6:.1f} MB on disk for {result['taken'] / 1e6:.1f} MB of H.264 taken "
        f"({ratio:.3f}x); /healthz p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
        f"max {result['max']:.1f} ms over {result['samples']:.0f} requests"
    )


if __name__ == "__main__":
    main()
