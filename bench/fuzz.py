"""Ten thousand generated malformed requests at each of a running server's doors (HTTP, RTSP, WHEP)
while an MJPEG viewer and an RTSP viewer watch: crashes, tracebacks and errors in the log, answers in
the 500s that are the server's fault, descriptors and memory before and after, and the viewers' rate.

    python bench/fuzz.py                     # 10,000 of each, at most 300 s each
    python bench/fuzz.py --count 2000 --seed 7

The requests come from tests/fuzzing.py (the suite's tests/test_fuzz.py runs a few hundred of each).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from fanout import free_port, stop, wait_healthy  # noqa: E402

from tests.fuzzing import RIGHT_5XX, attack, tracebacks  # noqa: E402
from tests.test_fuzz import FPS, SERVED  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="requests at each door")
    parser.add_argument("--seconds", type=float, default=300, help="the most each door is fuzzed for")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_RUNTIME_DIR": str(home / "run"),
        }
        port, rtsp_port = free_port(), free_port()
        serve = [
            "serve",
            *SERVED,
            "--quiet",
            "--listen",
            f"127.0.0.1:{port}",
            "--rtsp",
            f"127.0.0.1:{rtsp_port}",
        ]
        err = home / "stderr"
        with err.open("w") as stderr:
            server = subprocess.Popen([sys.executable, "-m", "camcast", *serve], env=env, stderr=stderr)
            try:
                wait_healthy(port, server)
                counts = {door: args.count for door in ("HTTP", "RTSP", "WHEP")}
                outcome = asyncio.run(
                    attack(
                        port, rtsp_port, server.pid, "camera", counts, args.seconds, args.seed, recording=True
                    )
                )
                crashed = server.poll() is not None
            finally:
                stop(server)
        log = home / "state" / "camcast" / "camcast.log"
        logged = tracebacks(log.read_text() if log.exists() else "", err.read_text())
    print(
        f"# {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; seed {args.seed}; "
        f"a {FPS} fps pattern at 320x240, recorded, watched over MJPEG and RTSP"
    )
    print("| door | requests | seconds | answered | silent | server's 5xx | rightful 5xx | top answers |")
    print("|---|---|---|---|---|---|---|---|")
    for t in outcome.tallies:
        right = sum(n for s, n in t.statuses.items() if s in RIGHT_5XX)
        top = ", ".join(f"{s}×{n}" for s, n in t.statuses.most_common(8))
        print(
            f"| {t.protocol} | {t.sent} | {t.seconds:.0f} | {sum(t.statuses.values())} | {t.silent} | "
            f"{t.failures} | {right} | {top} |"
        )
    fps = ", ".join(f"{name} {rate:.1f}" for name, rate in outcome.viewer_fps.items())
    print()
    print(
        "| crashes | tracebacks and errors logged | descriptors before → after | RSS MB before → after "
        f"| viewers' fps during (camera: {FPS}) |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {int(crashed)} | {logged} | {outcome.descriptors[0]} → {outcome.descriptors[1]} | "
        f"{outcome.rss_mb[0]:.0f} → {outcome.rss_mb[1]:.0f} | {fps} |"
    )
    for t in outcome.tallies:
        for wrong in t.wrong:
            print(f"{t.protocol}: {wrong}")


if __name__ == "__main__":
    main()
