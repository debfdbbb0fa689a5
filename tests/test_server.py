"""The server against real clients: ffmpeg and ffprobe, aiohttp readers, plain HTTP requests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from camcast.encode import jpeg
from camcast.picture.jpeg import decode_rgb
from tests.conftest import Server, camcast_server
from tests.mjpeg import read_parts
from tests.waiting import until

pytestmark = pytest.mark.timeout(90)


async def ffmpeg(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-nostdin", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


async def get(server: Server, path: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(server.url + path) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def status(server: Server) -> dict[str, object]:
    code, _, body = await get(server, "/status.json")
    assert code == 200
    result: dict[str, object] = json.loads(body)
    return result


async def test_ffmpeg_decodes_the_stream_at_the_configured_rate() -> None:
    """ffmpeg reads /stream.mjpg for 4 s and decodes frames at the capture rate; ffprobe sees the size."""
    async with camcast_server("--source", "pattern", "--size", "640x360", "--fps", "15") as server:
        code, _, err = await ffmpeg(
            "-v", "info", "-use_wallclock_as_timestamps", "1", "-i", server.url + "/stream.mjpg",
            "-t", "4", "-f", "null", "-", timeout=40,
        )  # fmt: skip
        assert code == 0, err
        frames = int(err.rsplit("frame=", 1)[1].split()[0])
        assert 4 * 15 * 0.85 <= frames <= 4 * 15 * 1.15 + 2, err
        probe = await asyncio.create_subprocess_exec(
            "ffprobe", "-v", "error", "-select_streams", "v:0",
            "-show_entries", "stream=width,height,codec_name", "-of", "json", server.url + "/stream.mjpg",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(probe.communicate(), 30)
        stream = json.loads(out)["streams"][0]
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", 640, 360)


async def test_snapshot_and_mjpg_streamer_aliases() -> None:
    """/snapshot.jpg and /?action=snapshot give a fresh complete JPEG that is never cached."""
    async with camcast_server("--source", "pattern", "--size", "320x240") as server:
        for path in ("/snapshot.jpg", "/?action=snapshot"):
            code, headers, body = await get(server, path)
            assert code == 200
            assert headers["Content-Type"] == "image/jpeg"
            assert "no-store" in headers["Cache-Control"]
            assert jpeg.is_complete(body)
            assert decode_rgb(body).shape == (240, 320, 3)
            assert abs(float(headers["X-Timestamp"]) - time.time()) < 5
        _, _, a = await get(server, "/snapshot.jpg")
        await asyncio.sleep(0.2)
        _, _, b = await get(server, "/snapshot.jpg")
        assert a != b  # the clock moved


async def test_stream_parts_are_complete_and_alias_works() -> None:
    """Every part of /stream.mjpg and /?action=stream has a Content-Length and is a complete JPEG."""
    async with (
        camcast_server("--source", "pattern", "--size", "320x240", "--fps", "20") as server,
        aiohttp.ClientSession() as session,
    ):
        for path in ("/stream.mjpg", "/?action=stream"):
            async with session.get(server.url + path) as resp:
                assert resp.status == 200
                assert "no-store" in resp.headers["Cache-Control"]
                seqs = []
                async for part in read_parts(resp):
                    assert part.headers["content-type"] == "image/jpeg"
                    assert jpeg.is_complete(part.body)
                    seqs.append(float(part.headers["x-timestamp"]))
                    if len(seqs) == 10:
                        break
                assert seqs == sorted(seqs) and len(set(seqs)) == 10


async def test_fps_cap_per_viewer() -> None:
    """?fps=N caps one viewer's rate without changing another's."""
    async with (
        camcast_server("--source", "pattern", "--size", "160x120", "--fps", "20") as server,
        aiohttp.ClientSession() as session,
    ):

        async def count(path: str, seconds: float) -> int:
            n = 0
            async with session.get(server.url + path) as resp:
                deadline = time.monotonic() + seconds
                async for _ in read_parts(resp):
                    n += 1
                    if time.monotonic() > deadline:
                        return n
            return n

        capped, full = await asyncio.gather(count("/stream.mjpg?fps=5", 3), count("/stream.mjpg", 3))
        assert 12 <= capped <= 18, capped
        assert full >= 50, full


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/nope", 404),
        ("/snapshot.jpg/../etc/passwd", 404),
        ("/static/../../pyproject.toml", 404),
        ("/static/missing.js", 404),
        ("/stream.mjpg?fps=abc", 400),
        ("/stream.mjpg?fps=0", 400),
        ("/stream.mjpg?fps=nan", 400),
        ("/view/script?every=-1", 400),
        ("/view/refresh?every=1e9", 400),
        ("/?action=explode", 400),
    ],
)
async def test_bad_requests_get_the_right_status_and_the_server_keeps_serving(path: str, code: int) -> None:
    """Unknown paths are 404 and bad query values 400; a viewer streaming meanwhile is unaffected."""
    async with (
        camcast_server("--source", "pattern", "--size", "160x120", "--fps", "10") as server,
        aiohttp.ClientSession() as session,
        session.get(server.url + "/stream.mjpg") as stream,
    ):
        parts = read_parts(stream)
        await anext(parts)
        got, headers, _ = await get(server, path)
        assert got == code
        assert headers.get("Server") == "camcast"
        await anext(parts)  # still streaming
        assert (await get(server, "/healthz"))[0] == 200


async def test_post_is_refused() -> None:
    """A method a route does not take is 405 (the snapshot is GET/HEAD only)."""
    async with (
        camcast_server("--source", "pattern", "--size", "160x120") as server,
        aiohttp.ClientSession() as s,
        s.post(server.url + "/snapshot.jpg") as resp,
    ):
        assert resp.status == 405


async def test_status_reports_source_viewers_and_encoding_on_demand() -> None:
    """Nothing is encoded while nobody watches; with 3 viewers, encodes/s equals the capture rate."""
    async with camcast_server("--source", "pattern", "--size", "320x240", "--fps", "20") as server:

        async def captured(frames: int) -> bool:
            return int((await status(server))["frames_in"]) >= frames  # type: ignore[call-overload]

        async def at_capture_rate() -> bool:
            doc = await status(server)
            return all(17 <= float(doc[k]) <= 23 for k in ("encodes_per_second", "fps_out"))  # type: ignore[arg-type]

        async def nobody_watches() -> bool:
            return (await status(server))["viewers"] == 0

        await until(lambda: captured(1))
        idle = await status(server)
        assert idle["source"] == "pattern 320x240@20"
        assert (idle["width"], idle["height"]) == (320, 240)
        assert idle["viewers"] == 0
        await until(lambda: captured(int(idle["frames_in"]) + 20))  # type: ignore[call-overload]  # a second
        assert (await status(server))["frames_encoded"] == idle["frames_encoded"]
        async with aiohttp.ClientSession() as session:
            streams = [await session.get(server.url + "/stream.mjpg") for _ in range(3)]
            readers = [asyncio.create_task(_drain(r)) for r in streams]
            await until(at_capture_rate)
            assert (await status(server))["viewers"] == 3
            for task in readers:
                task.cancel()
            for r in streams:
                r.close()
        await until(nobody_watches)


async def _drain(resp: aiohttp.ClientResponse) -> None:
    async for _ in resp.content.iter_any():
        pass


async def test_viewer_pages_are_served_with_security_headers() -> None:
    """The home page shows the live player with the camera's state, links the viewer pages and gives
    the absolute snapshot and stream URLs for other programs; pages have a CSP forbidding inline script."""
    async with camcast_server("--source", "pattern", "--size", "160x120") as server:
        code, headers, body = await get(server, "/")
        assert code == 200
        html = body.decode()
        for link in ("/view/refresh", "/view/script", "/view/stream", "/view/live"):
            assert f'href="{link}' in html
        for link in ("/snapshot.jpg", "/stream.mjpg", "/hls/index.m3u8"):
            assert f'href="{server.url}{link}"' in html
        assert 'id="camcast-player"' in html and 'class="state live"' in html
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        for name in ("refresh", "script", "stream"):
            code, _, body = await get(server, f"/view/{name}?every=3")
            assert code == 200
            assert "<script>" not in body.decode()
        code, headers, _ = await get(server, "/static/viewer.js")
        assert code == 200 and headers["Content-Type"].startswith("text/javascript")


async def test_file_source_served(video_file: Path) -> None:
    """A generated video file is served at its own size."""
    async with camcast_server("--source", str(video_file)) as server:
        code, _, body = await get(server, "/snapshot.jpg")
        assert code == 200 and decode_rgb(body).shape == (240, 320, 3)


async def test_sigterm_stops_the_server_cleanly() -> None:
    """SIGTERM ends `camcast serve` with exit 0 while a viewer is connected."""
    async with (
        camcast_server("--source", "pattern", "--size", "160x120") as server,
        aiohttp.ClientSession() as session,
        session.get(server.url + "/stream.mjpg") as resp,
    ):
        await anext(read_parts(resp))
        server.proc.terminate()
        assert await asyncio.to_thread(server.proc.wait, 10) == 0


async def test_head_stream_returns_headers_only() -> None:
    """HEAD /stream.mjpg answers the stream's headers and ends at once."""
    async with (
        camcast_server("--source", "pattern", "--size", "160x120") as server,
        aiohttp.ClientSession() as s,
        s.head(server.url + "/stream.mjpg") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")


async def test_terminal_status_line_and_url_lines() -> None:
    """On a terminal, serve prints one line per URL, then a live status line with fps and viewers."""
    import os
    import pty

    from tests.conftest import camcast_cmd, free_port

    port = free_port()
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        camcast_cmd("serve", "--source", "pattern", "--size", "160x120", "--listen", f"127.0.0.1:{port}"),
        stdout=follower,
        stderr=subprocess.DEVNULL,
    )
    os.close(follower)
    output = b""
    try:
        deadline = time.monotonic() + 20
        while b"viewers" not in output and time.monotonic() < deadline:
            ready = await asyncio.to_thread(os.read, leader, 4096)
            output += ready
    finally:
        proc.terminate()
        proc.wait(10)
        os.close(leader)
    text = output.decode(errors="replace")
    for path in ("/snapshot.jpg", "/stream.mjpg", "/view/refresh", "/view/script", "/view/stream"):
        assert f"http://127.0.0.1:{port}{path}" in text
    status_line = text.rsplit("\r", 1)[-1]
    assert "pattern 160x120@30" in status_line and "[live]" in status_line and "viewers 0" in status_line
