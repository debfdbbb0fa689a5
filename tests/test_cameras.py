"""Several cameras in one process: a pattern, a video file and an HTTP MJPEG source from a second
camcast, each at its own size and rate, with per-camera URLs, access and shutter."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from camcast.paths import config_dir
from camcast.picture.jpeg import decode_rgb
from camcast.security.accounts import Accounts
from tests.conftest import camcast_server, free_port, run_cli
from tests.media import ffmpeg_frames
from tests.test_access import OWNER, Creds
from tests.test_cli import assert_one_line_error

pytestmark = pytest.mark.timeout(150)

#: ffmpeg times an MJPEG stream by its arrival (the stream has no timestamps of its own); two parts
#: that arrive within a millisecond make its null muxer complain, which is no fault of the stream.
WALLCLOCK = ("-use_wallclock_as_timestamps", "1")
DOOR_ONLY = Creds("dora", "door-password-1")


def three_cameras(tmp_path: Path, video_file: Path, upstream_port: int) -> Path:
    cfg = tmp_path / "cams.toml"
    cfg.write_text(
        f"""
fps = 10
[cameras.door]
source = "pattern"
size = "320x240"
fps = 15
text = "Door %H:%M:%S"

[cameras.garden]
source = "{video_file}"

[cameras.printer]
source = "http://127.0.0.1:{upstream_port}/stream.mjpg"
"""
    )
    return cfg


async def ffprobe_stream(url: str) -> tuple[int, int]:
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
        "-of", "json", url, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    stream = json.loads(out)["streams"][0]
    return int(stream["width"]), int(stream["height"])


async def status(session: aiohttp.ClientSession, url: str, **kw: object) -> dict[str, dict[str, object]]:
    async with session.get(url + "/status.json", **kw) as resp:  # type: ignore[arg-type]
        assert resp.status == 200
        return {c["name"]: c for c in (await resp.json())["cameras"]}


async def test_three_cameras_in_one_process(tmp_path: Path, video_file: Path) -> None:
    """ffmpeg reads each camera at its own size and rate; losing one camera's upstream leaves the
    others' rates unchanged; the grid at / shows all three."""
    upstream_port = free_port()
    upstream = camcast_server("--source", "pattern", "--size", "160x120", "--fps", "10", port=upstream_port)
    await upstream.__aenter__()
    upstream_open = True
    try:
        cfg = three_cameras(tmp_path, video_file, upstream_port)
        async with camcast_server("--config", str(cfg)) as server, aiohttp.ClientSession() as session:
            sizes = await asyncio.gather(
                *(ffprobe_stream(f"{server.url}/cam/{n}/stream.mjpg") for n in ("door", "garden", "printer"))
            )
            assert sizes == [(320, 240), (320, 240), (160, 120)]
            door, garden = await asyncio.gather(
                ffmpeg_frames(f"{server.url}/cam/door/stream.mjpg", 4, *WALLCLOCK, quiet=False),
                ffmpeg_frames(f"{server.url}/cam/garden/stream.mjpg", 4, *WALLCLOCK, quiet=False),
            )
            assert 4 * 15 * 0.8 <= door <= 4 * 15 * 1.2 + 2, door
            assert 4 * 25 * 0.8 <= garden <= 4 * 25 * 1.2 + 2, garden  # the file's own rate
            async with session.get(server.url + "/") as resp:
                grid = await resp.text()
            for name in ("door", "garden", "printer"):
                assert f'href="/cam/{name}/"' in grid and f"/cam/{name}/snapshot.jpg" in grid
            before = await status(session, server.url)
            assert {n: c["state"] for n, c in before.items()} == dict.fromkeys(before, "live")
            # The printer's upstream goes away: the printer goes offline, the others keep their rate.
            await upstream.__aexit__(None, None, None)
            upstream_open = False
            deadline = time.monotonic() + 20
            while (await status(session, server.url))["printer"]["state"] != "offline":
                assert time.monotonic() < deadline, "the printer never went offline"
                await asyncio.sleep(0.3)
            await asyncio.sleep(2.5)  # a whole rate window after the loss
            after = await status(session, server.url)
            assert abs(float(after["door"]["fps_in"]) - 15) <= 2, after["door"]  # type: ignore[arg-type]
            assert abs(float(after["garden"]["fps_in"]) - 25) <= 3, after["garden"]  # type: ignore[arg-type]
            async with session.get(server.url + "/cam/door/snapshot.jpg") as resp:
                assert resp.status == 200
    finally:
        if upstream_open:
            await upstream.__aexit__(None, None, None)


async def test_access_limited_to_one_camera(tmp_path: Path) -> None:
    """An account limited to one camera watches it and gets 403 on the others; share links too."""
    cfg = tmp_path / "two.toml"
    cfg.write_text(
        '[cameras.door]\nsource = "pattern"\nsize = "160x120"\n'
        '[cameras.garden]\nsource = "pattern"\nsize = "160x120"\n'
    )
    store = Accounts(config_dir() / "users.json")
    store.add(OWNER.login, OWNER.password, "owner")
    added = run_cli(
        "users", "add", DOOR_ONLY.login, "--cameras", "door", "--password-stdin",
        stdin=DOOR_ONLY.password + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    async with camcast_server("--config", str(cfg)) as server, aiohttp.ClientSession() as session:

        async def code(path: str, creds: Creds | None = None) -> int:
            headers = creds.header if creds else {}
            async with session.get(server.url + path, headers=headers) as resp:
                await resp.read()
                return resp.status

        assert await code("/cam/door/snapshot.jpg", DOOR_ONLY) == 200
        assert await code("/cam/garden/snapshot.jpg", DOOR_ONLY) == 403
        assert await code("/?action=snapshot&camera=garden", DOOR_ONLY) == 403
        assert await code("/?action=snapshot&camera=door", DOOR_ONLY) == 200
        assert await code("/cam/garden/snapshot.jpg", OWNER) == 200
        assert await code("/cam/nowhere/snapshot.jpg", OWNER) == 404
        async with session.get(server.url + "/", headers=DOOR_ONLY.header) as resp:
            grid = await resp.text()
        assert "/cam/door/" in grid and "/cam/garden/" not in grid
        assert list(await status(session, server.url, headers=DOOR_ONLY.header)) == ["door"]
        shared = run_cli("share", "--config", str(cfg), "--camera", "garden", "--scope", "snapshot",
                         "--listen", f"127.0.0.1:{server.port}")  # fmt: skip
        assert shared.returncode == 0, shared.stderr
        link = shared.stdout.split()[-1]
        assert "/cam/garden/snapshot.jpg?token=" in link
        assert await code(link.split(str(server.port), 1)[1]) == 200
        assert await code(link.split(str(server.port), 1)[1].replace("garden", "door")) == 403


async def test_pause_one_camera_and_snapshot_by_name(tmp_path: Path) -> None:
    """`camcast pause door` closes that camera only; `camcast snapshot --camera` picks one."""
    cfg = tmp_path / "two.toml"
    cfg.write_text(
        '[cameras.door]\nsource = "pattern"\nsize = "160x120"\n'
        '[cameras.garden]\nsource = "pattern"\nsize = "320x240"\n'
    )
    out = tmp_path / "garden.jpg"
    snap = run_cli("snapshot", "--config", str(cfg), "--camera", "garden", str(out))
    assert snap.returncode == 0, snap.stderr

    assert decode_rgb(out.read_bytes()).shape == (240, 320, 3)
    async with camcast_server("--config", str(cfg)) as server, aiohttp.ClientSession() as session:
        paused = run_cli("pause", "door", "--listen", f"127.0.0.1:{server.port}")
        assert paused.returncode == 0 and "door paused" in paused.stdout, paused
        states = {n: c["paused"] for n, c in (await status(session, server.url)).items()}
        assert states == {"door": True, "garden": False}
        assert run_cli("resume", "--listen", f"127.0.0.1:{server.port}").returncode == 0
        states = {n: c["paused"] for n, c in (await status(session, server.url)).items()}
        assert states == {"door": False, "garden": False}


@pytest.mark.parametrize(
    ("content", "args", "fragments"),
    [
        ('[cameras.door]\nsource = "pattern"\n', ["--camera", "gate"], ["no camera named 'gate'", "door"]),
        ('[cameras.a]\nsource = "/dev/video0"\n[cameras.b]\nsource = "0"\n', [],
         ["[cameras.a] and [cameras.b]", "/dev/video0"]),
        ('[cameras.Door]\nsource = "pattern"\n[cameras.door]\nsource = "pattern"\n', [],
         ["[cameras.door] and [cameras.Door]", "same name"]),
        ('[cameras.door]\nsorce = "pattern"\n', [], ["unknown key 'sorce'", "[cameras.door]"]),
        ('[cameras.door]\nlisten = "127.0.0.1:1"\n', [], ["listen", "[cameras.door]", "server-wide"]),
        ('[cameras.door]\nfps = "fast"\n', [], ["fps (in [cameras.door]", "0.1 to 120"]),
        ('[cameras."bad name"]\nsource = "pattern"\n', [], ["[cameras.bad name]", "letters, digits"]),
    ],
)  # fmt: skip
def test_bad_camera_config(tmp_path: Path, content: str, args: list[str], fragments: list[str]) -> None:
    """Each camera-table mistake is one line naming the table and key, exit 2."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text(content)
    assert_one_line_error(run_cli("serve", "--config", str(cfg), *args), 2, *fragments)
