"""RTSP: real clients decode camcast's stream (ffmpeg over TCP and UDP, GStreamer's rtspsrc, PyAV as
Home Assistant's stream component opens it; Debian's VLC is built without live555, so its RTSP plays
no camera's), the same access rules as HTTP, bad requests
answered with their status while everyone else keeps watching, and pushing to another server."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import camcast_server, free_port, run_cli
from tests.media import rtsp_receiver
from tests.waiting import until

pytestmark = pytest.mark.timeout(180)

FPS = 15
SECONDS = 6
SOURCE = ("--source", "pattern", "--size", "640x360", "--fps", str(FPS))


def frames_in(path: Path) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,nb_read_frames", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    ).stdout  # fmt: skip
    streams = json.loads(out or "{}").get("streams") or [{}]
    return int(streams[0].get("nb_read_frames", 0))


async def ffmpeg(url: str, transport: str, out: Path) -> int:
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-rtsp_transport", transport, "-i", url, "-t", str(SECONDS), "-c", "copy",
        "-f", "mp4", "-y", str(out), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.wait_for(process.wait(), SECONDS + 30)
    return frames_in(out)


async def gstreamer(url: str, folder: Path) -> int:
    """GStreamer's rtspsrc (its default: UDP first), depayloaded, parsed and decoded by avdec_h264."""
    await asyncio.to_thread(folder.mkdir)
    pipeline = (
        f"rtspsrc location={url} latency=0 ! rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! "
        f"jpegenc ! multifilesink location={folder}/%05d.jpg"
    )
    process = await asyncio.create_subprocess_exec("gst-launch-1.0", "-q", *pipeline.split(),
                                                   stdin=subprocess.DEVNULL)  # fmt: skip
    # It runs until stopped: SECONDS once its first picture is out (rtspsrc first tries UDP, then
    # negotiates; that start-up is not the stream's rate), then the frames are counted.
    await until(lambda: any(folder.glob("*.jpg")), seconds=20)
    await asyncio.sleep(SECONDS)
    process.terminate()
    await asyncio.wait_for(process.wait(), 20)
    return len(await asyncio.to_thread(lambda: list(folder.glob("*.jpg"))))


def pyav(url: str) -> int:
    """PyAV's RTSP input, as Home Assistant's stream component opens a camera."""
    import av

    decoded = 0
    with av.open(url, options={"rtsp_transport": "tcp", "stimeout": "5000000"}, timeout=10) as container:
        stream = container.streams.video[0]
        first = None
        for frame in container.decode(stream):
            decoded += 1
            first = frame.time if first is None else first
            if frame.time is not None and first is not None and frame.time - first >= SECONDS:
                break
    return decoded


async def test_clients_decode_the_stream_at_the_capture_rate(tmp_path: Path) -> None:
    """ffmpeg over TCP and over UDP, GStreamer and PyAV, all at once, each decode SECONDS of
    video at (nearly) the capture rate, and each is in the viewer log and the status while it plays."""
    port = free_port()
    async with camcast_server(*SOURCE, "--rtsp", f"127.0.0.1:{port}") as server:
        url = f"rtsp://127.0.0.1:{port}/camera"
        await until(lambda: url in server.stdout_so_far())  # printed just after /healthz answers
        clients = {
            "ffmpeg tcp": ffmpeg(url, "tcp", tmp_path / "tcp.mp4"),
            "ffmpeg udp": ffmpeg(url, "udp", tmp_path / "udp.mp4"),
            "pyav": asyncio.to_thread(pyav, url),
        }
        if shutil.which("gst-launch-1.0"):
            clients["gstreamer"] = gstreamer(url, tmp_path / "gst")
        async with aiohttp.ClientSession() as session:

            async def watching() -> bool:
                async with session.get(server.url + "/status.json") as resp:
                    return int((await resp.json())["rtsp"]) >= 3

            counted = asyncio.gather(*clients.values())
            await until(watching, seconds=20)
            results = dict(zip(clients, await counted, strict=True))
        history = run_cli("viewers", "--listen", f"127.0.0.1:{server.port}").stdout
    assert set(clients) == {"ffmpeg tcp", "ffmpeg udp", "pyav", "gstreamer"}, "a client is missing"
    for name, frames in results.items():
        assert frames >= SECONDS * FPS * 0.8, (name, results)
    assert history.count(" rtsp ") >= len(clients), history


async def test_rtsp_has_the_http_access_rules(tmp_path: Path) -> None:
    """With an account: no credentials is 401; a stream link's token plays; a snapshot link's is 403;
    the account by Basic authentication plays from this computer; a wrong password is 401."""
    assert run_cli("users", "add", "nvr", "--password-stdin", stdin="a long nvr password\n").returncode == 0
    port = free_port()
    async with camcast_server(*SOURCE, "--rtsp", f"127.0.0.1:{port}") as server:
        share = run_cli("share", "--scope", "stream", "--listen", f"127.0.0.1:{server.port}", "--rtsp",
                        f"127.0.0.1:{port}")  # fmt: skip
        rtsp_links = [w for w in share.stdout.split() if w.startswith("rtsp://")]
        assert rtsp_links, share.stdout
        snapshot = run_cli("share", "--scope", "snapshot", "--listen", f"127.0.0.1:{server.port}").stdout
        snapshot_token = snapshot.split("token=", 1)[1].split()[0]
        base = f"rtsp://127.0.0.1:{port}/camera"
        assert describe(base)[0] == 401
        assert describe(f"{base}?token={snapshot_token}")[0] == 403
        assert describe(rtsp_links[0])[0] == 200
        assert pyav(rtsp_links[0]) > 0
        assert pyav(f"rtsp://nvr:a%20long%20nvr%20password@127.0.0.1:{port}/camera") > 0
        assert describe(base, basic="nvr:wrong")[0] == 401


def describe(url: str, basic: str | None = None) -> tuple[int, str]:
    """A raw DESCRIBE: (status, response head)."""
    import base64
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    auth = f"Authorization: Basic {base64.b64encode(basic.encode()).decode()}\r\n" if basic else ""
    request = f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n{auth}\r\n"
    return exchange(parts.port or 554, request.encode())


def setup(url: str, transport: str) -> bytes:
    return f"SETUP {url} RTSP/1.0\r\nCSeq: 4\r\nTransport: {transport}\r\n\r\n".encode()


def exchange(port: int, data: bytes, read_all: bool = False) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received or read_all:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    status = int(head.split(" ", 2)[1]) if head.startswith("RTSP/1.0 ") else 0
    return status, head


async def test_bad_requests_get_their_status_and_nobody_else_notices(tmp_path: Path) -> None:
    """Garbage, a huge head, another version, a missing CSeq, an unknown method, a track that does not
    exist, PLAY without a session, an unknown camera and interleaved data out of place each get their
    status (or a closed connection), while an ffmpeg client keeps decoding throughout."""
    port = free_port()
    async with camcast_server(*SOURCE, "--rtsp", f"127.0.0.1:{port}") as server:
        url = f"rtsp://127.0.0.1:{port}/camera"
        watcher = asyncio.create_task(ffmpeg(url, "tcp", tmp_path / "watch.mp4"))
        cases = [
            (b"\x16\x03\x01garbage\r\n\r\n", 400),
            (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
            (b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n", 505),
            (b"OPTIONS * RTSP/1.0\r\n\r\n", 400),
            (b"FLY * RTSP/1.0\r\nCSeq: 2\r\n\r\n", 501),
            (b"ANNOUNCE " + url.encode() + b" RTSP/1.0\r\nCSeq: 3\r\n\r\n", 405),
            (setup(f"{url}/trackID=5", "RTP/AVP/TCP;interleaved=0-1"), 404),
            (setup(f"{url}/trackID=0", "RTP/AVP;multicast"), 461),
            (f"PLAY {url} RTSP/1.0\r\nCSeq: 6\r\nSession: 12345\r\n\r\n".encode(), 454),
            (f"DESCRIBE rtsp://127.0.0.1:{port}/nope RTSP/1.0\r\nCSeq: 7\r\n\r\n".encode(), 404),
            (b"$\x00\x00\x04abcd", 400),
            # Clients' keep-alives: the methods with an underscore are answered, not refused as malformed.
            (f"GET_PARAMETER {url} RTSP/1.0\r\nCSeq: 8\r\n\r\n".encode(), 200),
            (f"SET_PARAMETER {url} RTSP/1.0\r\nCSeq: 9\r\nContent-Length: 0\r\n\r\n".encode(), 200),
        ]  # fmt: skip
        for data, status in cases:
            assert (await asyncio.to_thread(exchange, port, data))[0] == status, data[:40]
        assert await watcher >= SECONDS * FPS * 0.8
        assert "Traceback" not in server.stderr_so_far()


async def test_pushing_to_an_rtsp_server(tmp_path: Path) -> None:
    """--push to ffmpeg listening as an RTSP server: it receives H.264 that ffprobe reads; a push target
    that is not there is one line, retried, and serving goes on (nginx's RTMP ingest: the next test)."""
    rtsp_port = free_port()
    received = tmp_path / "received.mp4"
    listener = await rtsp_receiver(rtsp_port, "door", 4, received)
    # No wait for ffmpeg's socket: a push that finds nobody listening is retried after a second.
    dead = f"rtsp://127.0.0.1:{free_port()}/nobody"
    async with camcast_server(
        *SOURCE, "--push", f"rtsp://127.0.0.1:{rtsp_port}/door", "--push", dead
    ) as server:
        await asyncio.wait_for(listener.wait(), 60)
        assert frames_in(received) >= 3 * FPS
        await until(lambda: "nobody" in server.stderr_so_far(), seconds=20)
        async with aiohttp.ClientSession() as session, session.get(server.url + "/snapshot.jpg") as resp:
            assert resp.status == 200
    assert "Traceback" not in server.stderr


async def test_pushing_to_nginx_rtmp(tmp_path: Path) -> None:
    """--push rtmp://: nginx's RTMP module takes the stream, and ffprobe reads H.264 of the camera's size
    and rate back from it; the log shows the URL without its stream key."""
    from tests.peers import nginx_rtmp

    with nginx_rtmp(tmp_path) as port:
        url = f"rtmp://127.0.0.1:{port}/live/secret-key"
        async with camcast_server(*SOURCE, "--push", url) as server:
            assert "secret-key" not in server.stdout_so_far()

            async def readable() -> bool:
                probe = await asyncio.create_subprocess_exec(
                    "ffprobe", "-v", "error", "-show_entries",
                    "stream=codec_name,width,height,r_frame_rate,avg_frame_rate",
                    "-of", "csv=p=0", url, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                out, _ = await asyncio.wait_for(probe.communicate(), 30)
                # The average rate is what the stream's metadata says (it read 30/1 for 15 fps).
                return out.decode().strip() == f"h264,640,360,{FPS}/1,{FPS}/1"

            await until(readable, seconds=40, every=1)


async def test_motion_records_from_the_rtsp_stream(tmp_path: Path) -> None:
    """Debian's Motion 4.5 as an NVR: its netcam_url is camcast's rtsp:// URL; it decodes the stream and
    writes a snapshot each second."""
    port = free_port()
    async with camcast_server(*SOURCE, "--rtsp", f"127.0.0.1:{port}"):
        folder = tmp_path / "motion"
        folder.mkdir()
        conf = folder / "motion.conf"
        conf.write_text(
            f"daemon off\nsetup_mode off\nlog_level 4\ntarget_dir {folder}\nnetcam_url rtsp://127.0.0.1:{port}/camera\n"
            "netcam_params rtsp_transport=tcp\nwidth 640\nheight 360\nframerate 15\nmovie_output off\n"
            "picture_output off\nsnapshot_interval 1\nsnapshot_filename %s\nwebcontrol_port 0\n"
            "stream_port 0\n"
        )
        motion = await asyncio.create_subprocess_exec(
            "motion", "-n", "-c", str(conf), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            await until(lambda: len(list(folder.glob("*.jpg"))) >= 3, seconds=40)
        finally:
            motion.terminate()
            await asyncio.wait_for(motion.wait(), 20)
    shot = sorted(folder.glob("*.jpg"))[-1]
    assert shot.read_bytes()[:2] == b"\xff\xd8"


async def test_rtsp_connections_are_bounded_per_address() -> None:
    """--max-connections-per-address holds for RTSP too: past it a connection gets 503 and is closed,
    and the connections already open still answer."""
    port = free_port()
    async with camcast_server(*SOURCE, "--rtsp", f"127.0.0.1:{port}", "--max-connections-per-address", "3"):
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        try:
            await until(
                lambda: exchange(port, b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")[0] == 503, seconds=10
            )
            held[0].sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n")
            assert held[0].recv(4096).startswith(b"RTSP/1.0 200")
        finally:
            for sock in held:
                sock.close()


async def test_a_burst_of_clients_costs_one_keyframe_a_second_at_most() -> None:
    """Fifty RTSP clients join over three seconds, each asking for a keyframe to start at: the stream a
    viewer already watching gets at most one more keyframe a second than the schedule's (here one in
    10 s), not one a client, and every new client is playing."""
    from tests.fuzzing import count_rtsp_frames

    port = free_port()
    async with camcast_server(*SOURCE, "--rtsp", f"127.0.0.1:{port}", "--keyframe-every", "10"):
        watching = [0, 0]
        viewer = asyncio.ensure_future(count_rtsp_frames(port, "camera", watching))
        await until(lambda: watching[0] >= 5, seconds=20)
        started, before = time.monotonic(), watching[1]
        burst = [[0, 0] for _ in range(50)]
        joined = []
        for (
            counts
        ) in burst:  # one client a picture's time (15 fps) for three seconds: each would be a keyframe
            joined.append(asyncio.ensure_future(count_rtsp_frames(port, "camera", counts)))
            await asyncio.sleep(1 / 15)  # pacing the arrivals, not waiting for an event
        try:
            await until(lambda: all(c[0] >= 1 for c in burst), seconds=30)
            seconds = time.monotonic() - started
            keyframes = watching[1] - before
            assert 1 <= keyframes <= seconds + 2, (keyframes, seconds)
        finally:
            for task in [viewer, *joined]:
                task.cancel()
            await asyncio.gather(viewer, *joined, return_exceptions=True)
