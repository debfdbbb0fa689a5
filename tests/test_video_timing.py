"""Exact timing in every file and stream (issue 36): a 15 fps H.264 file passed through, with another
program taking a whole core, gives recordings, HLS and RTSP whose decoding times only grow, whose rate
reads as the source's 15/1, and whose pictures keep the source's intervals (p99 within 5 ms)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import camcast_server, free_port, run_cli
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


def packets(path: Path | str, *options: str) -> tuple[list[float], str]:
    """The video packets' decoding times (seconds) and the stream's r_frame_rate, as ffprobe reads
    them from a file or a URL (``options`` before it)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", *options, "-select_streams", "v:0",
         "-show_entries", "packet=dts_time:stream=r_frame_rate", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    doc = json.loads(out)
    # A stream read from its middle (RTSP) may start with packets whose time is not known yet.
    return [float(p["dts_time"]) for p in doc["packets"] if "dts_time" in p], doc["streams"][0][
        "r_frame_rate"
    ]


async def test_a_passed_through_file_keeps_its_timing_under_load(tmp_path: Path, cpu_hog: None) -> None:
    """In its recordings, its HLS stream and its RTSP stream, read by ffprobe."""
    clip = make_video(tmp_path / "clip.mp4", codec="libx264", frames=FPS * 6, fps=FPS, size=(640, 360),
                      options={"g": str(FPS), "bf": "0"})  # fmt: skip
    rtsp = free_port()
    args = ("--source", str(clip), "--record", "continuous", "--record-file-minutes", "0.05",
            "--record-min-free", "0", "--rtsp", f"127.0.0.1:{rtsp}")  # fmt: skip
    async with camcast_server(*args) as server:
        await until(lambda: len(_recordings()) >= 1, seconds=60)  # the streams have begun, HLS's too
        streams = [  # 5 s of each live stream, read together while the second file is recorded
            asyncio.to_thread(packets, server.url + "/hls/index.m3u8", "-read_intervals", "%+5"),
            asyncio.to_thread(packets, f"rtsp://127.0.0.1:{rtsp}/camera", "-rtsp_transport", "tcp",
                              "-read_intervals", "%+5"),
        ]  # fmt: skip
        hls, rtsp_read = await asyncio.gather(*streams)
        await until(lambda: len(_recordings()) >= 2, seconds=60)
        read = {str(r["path"]): packets(Path(str(r["path"]))) for r in _recordings()}
        read["HLS"], read["RTSP"] = hls, rtsp_read
    for where, (dts, rate) in read.items():
        steps = np.diff(dts)
        assert len(steps) > 30 and (steps > 0).all(), f"decoding times that do not grow in {where}"
        assert rate == f"{FPS}/1", (where, rate)
        off = np.abs(steps - 1 / FPS)
        assert np.percentile(off, 99) <= 0.005, (where, sorted(off)[-5:])


def _recordings() -> list[dict[str, object]]:
    result = run_cli("recordings", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
