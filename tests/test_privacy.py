"""The owner knows and decides: the privacy shutter, masks, the LIVE badge, and the viewer log."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from camcast.picture.jpeg import decode_rgb
from tests.conftest import Server, camcast_server, run_cli
from tests.mjpeg import read_parts
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)


def open_files(server: Server) -> set[str]:
    fds = Path(f"/proc/{server.proc.pid}/fd")
    names = set()
    for fd in fds.iterdir():
        try:
            names.add(os.readlink(fd))
        except OSError:
            continue
    return names


async def picture(session: aiohttp.ClientSession, server: Server) -> np.ndarray:
    async with session.get(server.url + "/snapshot.jpg") as resp:
        assert resp.status == 200
        return decode_rgb(await resp.read())


def luma(img: np.ndarray) -> np.ndarray:
    rgb = img.astype(float)
    return np.asarray(0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])


def has_yellow(img: np.ndarray) -> bool:
    """Whether the picture shows the test video's yellow bar (the paused card is grey)."""
    rgb = img.astype(int)
    return bool(((rgb[..., 0] > 180) & (rgb[..., 1] > 150) & (rgb[..., 2] < 80)).sum() > 100)


async def status(session: aiohttp.ClientSession, server: Server) -> dict[str, object]:
    async with session.get(server.url + "/status.json") as resp:
        result: dict[str, object] = await resp.json()
        return result


async def test_pause_releases_the_source_and_shows_a_paused_card(video_file: Path) -> None:
    """`camcast pause` closes the source (its file is no longer open), every output shows the paused
    card, status says so; `camcast resume` opens it again."""
    async with camcast_server("--source", str(video_file)) as server, aiohttp.ClientSession() as session:
        assert str(video_file) in open_files(server)
        live = await picture(session, server)
        paused = run_cli("pause", "--listen", f"127.0.0.1:{server.port}")
        assert paused.returncode == 0, paused.stderr
        assert "paused" in paused.stdout

        async def released() -> bool:
            return str(video_file) not in open_files(server)

        await until(released)
        state = await status(session, server)
        assert state["paused"] is True and state["live"] is False
        await asyncio.sleep(1.2)
        card = await picture(session, server)
        assert has_yellow(live) and not has_yellow(card)  # the grey card, not the video's yellow bar
        async with session.get(server.url + "/stream.mjpg") as resp:
            part = await anext(read_parts(resp))
            assert np.array_equal(decode_rgb(part.body), card)
        assert run_cli("resume", "--listen", f"127.0.0.1:{server.port}").returncode == 0

        async def reopened() -> bool:
            return str(video_file) in open_files(server) and (await status(session, server))["live"] is True

        await until(reopened)
        await asyncio.sleep(0.5)
        assert has_yellow(await picture(session, server))


async def test_pause_over_http_needs_the_owner_and_same_origin() -> None:
    """POST /api/pause works for the local owner from the server's own origin; GET is not allowed."""
    async with (
        camcast_server("--source", "pattern", "--size", "160x120") as server,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(server.url + "/api/pause", headers={"Origin": server.url}) as resp:
            assert resp.status == 200 and (await resp.json())["paused"] is True
        async with session.post(server.url + "/api/resume") as resp:
            assert resp.status == 200 and (await resp.json())["paused"] is False


def test_pause_without_a_running_server_is_a_clear_error() -> None:
    """`camcast pause` with nothing running says so in one line."""
    result = run_cli("pause", "--listen", "127.0.0.1:9")
    assert result.returncode == 1 and "no camcast server is running on port 9" in result.stderr


@pytest.mark.parametrize("source", ["pattern", "mjpeg"])
async def test_mask_blacks_out_before_any_output(source: str, mjpeg_file: Path) -> None:
    """A mask is black in snapshots and the stream, including from an MJPEG source (no passthrough)."""
    spec = "pattern" if source == "pattern" else str(mjpeg_file)
    args = ("--source", spec, "--size", "320x240", "--mask", "0,0,50%,100%", "--mask", "300,0,20,20")
    async with camcast_server(*args) as server, aiohttp.ClientSession() as session:
        img = luma(await picture(session, server))
        # Black, up to JPEG ringing at the edges (4:2:0 chroma blocks reach 16 px into a neighbour).
        assert img[:, :150].max() <= 16
        assert img[:20, 302:].max() <= 16
        assert img[40:, 170:300].mean() > 40  # the rest is still the picture
        async with session.get(server.url + "/stream.mjpg") as resp:
            part = await anext(read_parts(resp))
            assert luma(decode_rgb(part.body))[:, :150].max() <= 16


def test_bad_mask_is_a_one_line_error() -> None:
    """A malformed mask names the form it takes."""
    result = run_cli("serve", "--source", "pattern", "--mask", "10,10,abc,5")
    assert result.returncode == 2 and "x,y,w,h" in result.stderr and "Traceback" not in result.stderr


async def test_snapshot_command_applies_masks(tmp_path: Path) -> None:
    """Masks apply to `camcast snapshot` too: no output escapes them."""
    out = tmp_path / "m.jpg"
    result = run_cli(
        "snapshot", "--source", "pattern", "--size", "320x240", "--mask", "0,0,100%,50%", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert luma(decode_rgb(out.read_bytes()))[:110].max() <= 16


async def test_polygon_mask_blacks_out_its_triangle(tmp_path: Path) -> None:
    """A mask given by its corners covers that polygon: here the top-left half of the picture."""
    out = tmp_path / "p.jpg"
    triangle = "0,0 100%,0 0,100%"
    result = run_cli("snapshot", "--source", "pattern", "--size", "320x240", "--mask", triangle, str(out))
    assert result.returncode == 0, result.stderr
    img = luma(decode_rgb(out.read_bytes()))
    assert img[:100, :100].max() <= 16 and img[:10, 250:300].max() <= 16  # well inside the triangle
    assert img[180:, 200:].mean() > 40  # the far corner is still the picture


async def test_live_badge_is_drawn() -> None:
    """--live-badge puts a red badge in the top-left corner."""
    async with (
        camcast_server("--source", "pattern", "--size", "320x240", "--live-badge") as server,
        aiohttp.ClientSession() as session,
    ):
        img = (await picture(session, server)).astype(int)
        corner = img[6:18, 6:30]
        red = (corner[..., 0] > 150) & (corner[..., 1] < 90) & (corner[..., 2] < 90)
        assert red.mean() > 0.4


async def test_viewer_log_records_each_session(isolated_home: Path) -> None:
    """Each stream and each run of snapshots is logged with who, where from, route and frames; the
    owner sees current and past viewers with `camcast viewers`."""
    async with (
        camcast_server("--source", "pattern", "--size", "160x120", "--fps", "10") as server,
        aiohttp.ClientSession() as session,
    ):
        for _ in range(3):
            await picture(session, server)
        async with session.get(server.url + "/stream.mjpg") as resp:
            parts = read_parts(resp)
            for _ in range(5):
                await anext(parts)
            now = run_cli("viewers", "--listen", f"127.0.0.1:{server.port}")
            assert now.returncode == 0, now.stderr
            assert "watching now: 2" in now.stdout and "stream" in now.stdout
        await asyncio.sleep(0.5)
    log = isolated_home / "state" / "camcast" / "viewers.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    ended = {r["route"]: r for r in records if r["event"] == "end"}
    assert ended["stream"]["frames"] >= 5 and ended["stream"]["address"] == "127.0.0.1"
    assert ended["snapshot"]["frames"] == 3 and ended["snapshot"]["who"] == "local user"
    assert all(r["end"] >= r["start"] for r in ended.values())
    history = run_cli("viewers", "--listen", f"127.0.0.1:{server.port}")
    assert "not running" in history.stdout and "127.0.0.1" in history.stdout and "snapshot" in history.stdout


async def test_status_shows_on_air() -> None:
    """/status.json says whether anyone is watching (on air) and how many."""
    async with (
        camcast_server("--source", "pattern", "--size", "160x120") as server,
        aiohttp.ClientSession() as session,
    ):
        assert (await status(session, server))["on_air"] is False
        async with session.get(server.url + "/stream.mjpg") as resp:
            await anext(read_parts(resp))
            state = await status(session, server)
            assert state["on_air"] is True and state["viewers"] >= 1
