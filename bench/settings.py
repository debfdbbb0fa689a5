"""The settings page: how long a save takes, and how soon its change is in the picture, against the
same change made by hand (the file edited, then SIGHUP).

``camcast serve`` of the test pattern at 1280x720, 30 fps, with a config file holding comments. Each
round moves a privacy mask from the left quarter to the right quarter and back:

- page: POST /api/settings from a signed-in session (tomlkit edit, whole-file check, atomic write,
  reload), timed to its answer and to the first snapshot showing the new mask;
- by hand: the file rewritten whole and SIGHUP sent, timed to the first snapshot showing it.

Snapshots are polled every 10 ms. Also printed: the page's weight (HTML and its script).

    python bench/settings.py              # 20 rounds each, about 30 s
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from fanout import free_port, stop, wait_healthy  # noqa: E402

from camcast.picture.jpeg import decode_rgb  # noqa: E402

CONFIG = """\
# The bench's camera (a comment the page must keep).
source = "pattern"
size = "1280x720"
fps = 30
{mask}
[motion]
# motion off: only the mask changes
enabled = false
"""
MASKS = ('mask = ["0,0,25%,100%"]', 'mask = ["75%,0,25%,100%"]')


def masked_side(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/snapshot.jpg", timeout=10) as resp:
        luma = decode_rgb(resp.read()).mean(axis=2)
    w = luma.shape[1]
    left, right = luma[:, : w // 5].max(), luma[:, -w // 5 :].max()
    return "left" if left < 30 <= right else "right" if right < 30 <= left else "?"


def until_side(port: int, side: str, since: float) -> float:
    while masked_side(port) != side:
        if time.perf_counter() - since > 10:
            raise SystemExit(f"the {side} mask did not show within 10 s")
        time.sleep(0.01)
    return time.perf_counter() - since


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "camcast.toml"
        config.write_text(CONFIG.format(mask=MASKS[0]))
        port = free_port()
        env = {**os.environ, "XDG_STATE_HOME": str(folder / "state"), "XDG_CONFIG_HOME": str(folder / "cfg")}
        command = [sys.executable, "-m", "camcast", "serve", "--config", str(config), "--listen",
                   f"127.0.0.1:{port}", "--quiet"]  # fmt: skip
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(port, server)
            until_side(port, "left", time.perf_counter())
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            with opener.open(f"http://127.0.0.1:{port}/settings", timeout=10) as resp:
                page = resp.read()
            found = re.search(rb'name="csrf-token" content="([^"]+)"', page)
            assert found is not None
            token = found[1].decode()
            with opener.open(f"http://127.0.0.1:{port}/static/settings.js", timeout=10) as resp:
                script = len(resp.read())
            answer, shown, by_hand = [], [], []
            for i in range(args.rounds):
                side, spec = ("right", "75%,0,25%,100%") if i % 2 == 0 else ("left", "0,0,25%,100%")
                body = json.dumps({"camera": "camera", "values": {"mask": [spec]}}).encode()
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/settings", data=body, method="POST",
                    headers={"Content-Type": "application/json", "X-CSRF-Token": token},
                )  # fmt: skip
                t0 = time.perf_counter()
                with opener.open(request, timeout=10) as resp:
                    resp.read()
                answer.append(time.perf_counter() - t0)
                shown.append(until_side(port, side, t0))
            assert config.read_text().startswith("# The bench's camera")
            for i in range(args.rounds):
                side = "right" if i % 2 == 0 else "left"
                t0 = time.perf_counter()
                config.write_text(CONFIG.format(mask=MASKS[1 if side == "right" else 0]))
                server.send_signal(signal.SIGHUP)
                by_hand.append(until_side(port, side, t0))
        finally:
            stop(server)

    def ms(values: list[float], q: float) -> float:
        return float(np.quantile(values, q)) * 1000

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"the page: {len(page) / 1024:.1f} KiB of HTML, {script / 1024:.1f} KiB of script")
    print(f"{'mask moved by':<34} {'p50 ms':>8} {'p95 ms':>8}")
    print(f"{'the page: the answer to Save':<34} {ms(answer, 0.5):8.1f} {ms(answer, 0.95):8.1f}")
    print(f"{'the page: in the snapshot':<34} {ms(shown, 0.5):8.1f} {ms(shown, 0.95):8.1f}")
    print(f"{'by hand (file + SIGHUP): snapshot':<34} {ms(by_hand, 0.5):8.1f} {ms(by_hand, 0.95):8.1f}")
    ratio = statistics.median(shown) / statistics.median(by_hand)
    print(f"page / by hand, to the snapshot (median): {ratio:.2f}x")


if __name__ == "__main__":
    main()
