"""Motion detection against Debian's Motion 4.5, on the same scene with known truth.

Writes a scene (tests/scenes.py: a textured room with sensor noise, a person-sized thing crossing, a
small thing crossing, the lights dimmed slowly, switched up at once, and a lamp on one side) as an
MJPEG file at 1280x720, 15 fps. ``camcast serve`` plays it; Motion reads camcast's /stream.mjpg
(``netcam_url``), as it would a network camera, with its default threshold, ``lightswitch_percent 50``
and ``event_gap 2`` (camcast's ``gap_seconds`` is set to 2 too). Each run lasts one loop of the scene.

Two runs: camcast with motion off, then on, with Motion attached both times. Printed: events found,
missed and false for each detector (an event is true when it overlaps a true span by the scene's
clock, within 1 s), Motion's CPU, and camcast's CPU in both runs; the difference is what detection
adds. Then camcast alone with 1 and 4 cameras (the same file), motion off and on: the added CPU.

    python bench/motion.py                 # the scene is 60 s: about 5 minutes in all
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from fanout import free_port, proc_stat, stop, wait_healthy  # noqa: E402

from tests.media import make_video  # noqa: E402
from tests.scenes import Light, Mover, Scene  # noqa: E402

FPS = 15
SIZE = (1280, 720)


def scene(seconds: float) -> Scene:
    return Scene(
        width=SIZE[0], height=SIZE[1], seconds=seconds,
        movers=(Mover(8, 12, 120, 240, 0.3, 30), Mover(20, 23, 48, 48, 0.6, 200)),
        lights=(Light(30, 31, 1.0, 0.55), Light(40, 40, 1.0, 1.6), Light(48, 49, 1.0, 1.0, slope=0.6)),
    )  # fmt: skip


def overlap(
    events: list[tuple[float, float]], truth: list[tuple[float, float]], slack: float = 1.0
) -> tuple[int, int, int]:
    """(found, missed, false): true spans some event overlaps; true spans none does; events that
    overlap no true span."""

    def hits(event: tuple[float, float], span: tuple[float, float]) -> bool:
        return event[0] <= span[1] + slack and event[1] >= span[0] - slack

    found = sum(any(hits(e, s) for e in events) for s in truth)
    false = sum(not any(hits(e, s) for s in truth) for e in events)
    return found, len(truth) - found, false


def motion_conf(folder: Path, port: int) -> Path:
    log = folder / "motion-events.txt"
    conf = folder / "motion.conf"
    conf.write_text(
        f"""daemon off
setup_mode off
log_level 4
target_dir {folder}
netcam_url http://127.0.0.1:{port}/stream.mjpg
width {SIZE[0]}
height {SIZE[1]}
framerate {FPS}
threshold 1500
lightswitch_percent 50
event_gap 2
movie_output off
picture_output off
webcontrol_port 0
stream_port 0
on_event_start echo start $(date +%s.%N) >> {log}
on_event_end echo end $(date +%s.%N) >> {log}
"""
    )
    return conf


def motion_events(folder: Path, t0: float, length: float) -> list[tuple[float, float]]:
    """Motion's events by the scene's clock (its end is the last motion plus event_gap, taken off)."""
    path = folder / "motion-events.txt"
    events: list[tuple[float, float]] = []
    start = None
    for line in path.read_text().splitlines() if path.exists() else []:
        kind, when = line.split()
        if kind == "start":
            start = float(when) - t0
        elif start is not None:
            events.append((start, float(when) - t0 - 2.0))
            start = None
    if start is not None:
        events.append((start, length))
    return [e for e in events if e[0] < length]


def camcast_events(state: Path, t0: float, length: float) -> list[tuple[float, float]]:
    import datetime

    events = []
    path = state / "camcast" / "events" / "events.jsonl"
    by_id: dict[str, dict[str, str]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        doc = json.loads(line)
        by_id[doc["id"]] = doc
    for doc in by_id.values():
        start = datetime.datetime.fromisoformat(doc["start"]).timestamp() - t0
        end = datetime.datetime.fromisoformat(doc["end"]).timestamp() - t0 if doc["end"] else length
        if start < length:
            events.append((start, end))
    return sorted(events)


def serve(folder: Path, config: Path, port: int, motion: bool) -> tuple[subprocess.Popen[bytes], Path]:
    state = folder / ("state-on" if motion else "state-off")
    env = {**os.environ, "XDG_STATE_HOME": str(state), "XDG_CONFIG_HOME": str(folder / "cfg")}
    args = [
        sys.executable, "-m", "camcast", "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
        "--quiet", "--no-motion" if not motion else "--motion", "--motion-gap-seconds", "2",
    ]  # fmt: skip
    server = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(port, server)
    return server, state


def against_motion(folder: Path, video: Path, length: float, motion_on: bool) -> dict[str, object]:
    config = folder / "one.toml"
    config.write_text(f'source = "{video}"\n')
    port = free_port()
    server, state = serve(folder, config, port, motion_on)
    t0 = time.time()  # the file starts playing as the server answers (within a frame or two)
    run = folder / ("motion-on" if motion_on else "motion-off")
    run.mkdir()
    motion = subprocess.Popen(["motion", "-n", "-c", str(motion_conf(run, port))],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        cpu_server0, _ = proc_stat(server.pid)
        cpu_motion0, _ = proc_stat(motion.pid)
        began = time.monotonic()
        time.sleep(max(0.0, length - (time.time() - t0)) + 1.0)
        elapsed = time.monotonic() - began
        cpu_server1, _ = proc_stat(server.pid)
        cpu_motion1, _ = proc_stat(motion.pid)
    finally:
        stop(motion)
        stop(server)
    return {
        "server_cpu": (cpu_server1 - cpu_server0) / elapsed * 100,
        "motion_cpu": (cpu_motion1 - cpu_motion0) / elapsed * 100,
        "motion_events": motion_events(run, t0, length),
        "camcast_events": camcast_events(state, t0, length) if motion_on else [],
    }


def alone(folder: Path, video: Path, cameras: int, motion_on: bool, seconds: float) -> float:
    config = folder / f"cams{cameras}.toml"
    config.write_text("".join(f'[cameras.c{i}]\nsource = "{video}"\n\n' for i in range(cameras)))
    port = free_port()
    server, _ = serve(folder, config, port, motion_on)
    try:
        time.sleep(3)
        cpu0, _ = proc_stat(server.pid)
        began = time.monotonic()
        time.sleep(seconds)
        cpu1, _ = proc_stat(server.pid)
        return (cpu1 - cpu0) / (time.monotonic() - began) * 100
    finally:
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60, help="length of the scene (default 60)")
    parser.add_argument(
        "--alone-seconds", type=float, default=20, help="each 1- and 4-camera run (default 20)"
    )
    args = parser.parse_args()
    if shutil.which("motion") is None:
        raise SystemExit("needs Debian's motion: apt-get install motion")
    folder = Path(tempfile.mkdtemp(prefix="camcast-bench-motion-"))
    the_scene = scene(args.seconds)
    video = make_video(
        folder / "scene.mkv", codec="mjpeg", frames=int(args.seconds * FPS), fps=FPS, size=SIZE,
        picture=lambda i: the_scene.luma(i / FPS, i), options={"q:v": "4"},
    )  # fmt: skip
    truth = the_scene.truth
    spans = [(round(a, 1), round(b, 1)) for a, b in truth]
    print(f"# {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"scene {SIZE[0]}x{SIZE[1]} at {FPS} fps, {args.seconds:g} s, truth {spans}")  # fmt: skip
    off = against_motion(folder, video, args.seconds, motion_on=False)
    on = against_motion(folder, video, args.seconds, motion_on=True)
    print("\n| detector | found | missed | false | CPU (% of a core) |")
    print("|---|---|---|---|---|")
    for label, events, cpu in (
        ("Motion 4.5 (run 1)", off["motion_events"], off["motion_cpu"]),
        ("Motion 4.5 (run 2)", on["motion_events"], on["motion_cpu"]),
    ):
        found, missed, false = overlap(events, truth)  # type: ignore[arg-type]
        print(f"| {label} | {found} | {missed} | {false} | {cpu:.1f} |")
    added = float(on["server_cpu"]) - float(off["server_cpu"])  # type: ignore[arg-type]
    found, missed, false = overlap(on["camcast_events"], truth)  # type: ignore[arg-type]
    print(f"| camcast (added to serving) | {found} | {missed} | {false} | {added:.1f} |")
    ratio = added / max(float(on["motion_cpu"]), 0.01)  # type: ignore[arg-type]
    print(f"\ncamcast serving the stream to Motion: {off['server_cpu']:.1f}% without detection, "
          f"{on['server_cpu']:.1f}% with; added/Motion = {ratio:.2f}")  # fmt: skip
    print(f"events: Motion {off['motion_events']}\n        camcast {on['camcast_events']}")
    print("\n| cameras | CPU motion off | CPU motion on | added |")
    print("|---|---|---|---|")
    adds = {}
    for cameras in (1, 4):
        cpu_off = alone(folder, video, cameras, False, args.alone_seconds)
        cpu_on = alone(folder, video, cameras, True, args.alone_seconds)
        adds[cameras] = cpu_on - cpu_off
        print(f"| {cameras} | {cpu_off:.1f} | {cpu_on:.1f} | {adds[cameras]:.1f} |")
    print(f"\n4 cameras add {adds[4] / max(adds[1], 0.01):.1f}x what one adds")


if __name__ == "__main__":
    main()
