"""Exact timing in every file (issue 36): a 15 fps H.264 file passed through, with another program
taking a whole core, gives recordings whose decoding times only grow, whose rate reads as the source's
15/1, and whose pictures keep the source's intervals (p99 within 5 ms)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import camcast_server, run_cli
from tests.media import make_video
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)

FPS = 15


@pytest.fixture
def cpu_hog() -> Iterator[None]:
    """Another program spinning on one core while the test runs (the machine has two)."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def packets(path: Path) -> tuple[list[float], str]:
    """The video packets' decoding times (seconds) and the stream's r_frame_rate, as ffprobe reads them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0",
         "-show_entries", "packet=dts_time:stream=r_frame_rate", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    doc = json.loads(out)
    return [float(p["dts_time"]) for p in doc["packets"]], doc["streams"][0]["r_frame_rate"]


async def test_a_passed_through_file_keeps_its_timing_in_recordings_under_load(
    tmp_path: Path, cpu_hog: None
) -> None:
    clip = make_video(tmp_path / "clip.mp4", codec="libx264", frames=FPS * 6, fps=FPS, size=(640, 360),
                      options={"g": str(FPS), "bf": "0"})  # fmt: skip
    args = ("--source", str(clip), "--record", "continuous", "--record-file-minutes", "0.1",
            "--record-min-free", "0")  # fmt: skip
    async with camcast_server(*args):
        await until(lambda: len(_recordings()) >= 3, seconds=60)
    for recording in _recordings():
        dts, rate = packets(Path(str(recording["path"])))
        steps = np.diff(dts)
        assert (steps > 0).all(), f"decoding times that do not grow in {recording['path']}"
        assert rate == f"{FPS}/1", rate
        off = np.abs(steps - 1 / FPS)
        assert np.percentile(off, 99) <= 0.005, (recording["path"], sorted(off)[-5:])


def _recordings() -> list[dict[str, object]]:
    result = run_cli("recordings", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
