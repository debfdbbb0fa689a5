"""Consent at once: when who opened a stream no longer may watch (a link revoked or expired, an account
removed), what they have open ends within a second, in every protocol, and the viewer log says why."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import signal
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from camcast.paths import config_dir, viewer_log
from camcast.security.accounts import Accounts
from camcast.security.links import ShareLinks
from camcast.security.tokens import ShareKeys
from tests.conftest import camcast_server, free_port, run_cli
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)

PATTERN = ("--source", "pattern", "--size", "160x120", "--fps", "10")
OWNER, PASSWORD = "olive", "owner-password-1"


@pytest.fixture
def links() -> ShareLinks:
    Accounts(config_dir() / "users.json").add(OWNER, PASSWORD, "owner")  # everyone signs in
    return ShareLinks(ShareKeys(config_dir() / "share.key"), config_dir() / "links.json")


async def until_closed(stream: aiohttp.StreamReader | asyncio.StreamReader, seconds: float) -> float:
    """Read ``stream`` until it ends; the seconds that took (TimeoutError past ``seconds``)."""
    started = time.monotonic()
    async with asyncio.timeout(seconds):
        with contextlib.suppress(ConnectionError, aiohttp.ClientPayloadError):
            while await stream.read(65536):
                pass
    return time.monotonic() - started


async def rtsp_playing(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An RTSP client over TCP: DESCRIBE, SETUP (interleaved), PLAY; the connection, its data flowing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    url = f"rtsp://127.0.0.1:{port}{path}"

    async def ask(method: str, target: str, cseq: int, extra: str = "") -> str:
        writer.write(f"{method} {target} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}\r\n".encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        length = next(
            (int(h.split(":")[1]) for h in head.split("\r\n") if h.lower().startswith("content-length")), 0
        )
        if length:
            await reader.readexactly(length)
        assert head.startswith("RTSP/1.0 200"), head
        return head

    await ask("DESCRIBE", url, 1, "Accept: application/sdp\r\n")
    base = url.split("?")[0]
    head = await ask("SETUP", f"{base}/trackID=0?{url.split('?')[1]}", 2,
                     "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")  # fmt: skip
    session = next(
        h.split(":", 1)[1].split(";")[0].strip() for h in head.split("\r\n") if h.startswith("Session")
    )
    await ask("PLAY", url, 3, f"Session: {session}\r\n")
    await reader.readexactly(1000)  # RTP flows
    return reader, writer


async def test_a_revoked_link_ends_its_mjpeg_and_rtsp_streams_at_once(links: ShareLinks) -> None:
    """A link's MJPEG stream and RTSP session, both open: `camcast share --revoke` ends both within a
    second of the command, new requests with it get 401, and the viewer log says the link was revoked."""
    link, token = links.issue("neighbour", 3600, "stream")
    rtsp_port = free_port()
    async with (
        camcast_server(*PATTERN, "--rtsp", f"127.0.0.1:{rtsp_port}") as server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/stream.mjpg?token={token}") as mjpeg,
    ):
        assert mjpeg.status == 200
        await mjpeg.content.readexactly(2000)
        rtsp, writer = await rtsp_playing(rtsp_port, f"/?token={token}")
        revoked = await asyncio.to_thread(run_cli, "share", "--revoke", link.id)
        assert revoked.returncode == 0, revoked.stderr
        ended = await asyncio.gather(until_closed(mjpeg.content, 1.5), until_closed(rtsp, 1.5))
        assert max(ended) < 1.0, ended
        writer.close()
        async with http.get(f"{server.url}/snapshot.jpg?token={token}") as again:
            assert again.status == 401
    ends = [json.loads(line) for line in viewer_log().read_text().splitlines()]
    why = {r["route"]: r.get("why") for r in ends if r["event"] == "end" and r["who"] == "neighbour"}
    assert (
        why.get("stream") == "the share link is revoked" and why.get("rtsp") == "the share link is revoked"
    ), why


async def test_a_link_that_expires_ends_its_stream_without_a_request(links: ShareLinks) -> None:
    """A link good for 2 s: its stream ends when it expires (a timer: no request notices it)."""
    _, token = links.issue("visitor", 2, "stream")
    async with (
        camcast_server(*PATTERN) as server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/stream.mjpg?token={token}") as mjpeg,
    ):
        assert mjpeg.status == 200
        took = await until_closed(mjpeg.content, 5)
        assert took < 2.5, took
    await until(lambda: "the share link is expired" in viewer_log().read_text())


async def test_removing_an_account_ends_what_it_watches(links: ShareLinks) -> None:
    """An account watching with HTTP Basic is removed from the command line: its stream ends within a
    second of the command, and its password opens nothing any more."""
    Accounts(config_dir() / "users.json").add("victor", "viewer-password-1", "viewer")
    basic = {"Authorization": "Basic " + base64.b64encode(b"victor:viewer-password-1").decode()}
    async with (
        camcast_server(*PATTERN) as server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/stream.mjpg", headers=basic) as mjpeg,
    ):
        assert mjpeg.status == 200
        await mjpeg.content.readexactly(2000)
        removed = await asyncio.to_thread(run_cli, "users", "remove", "victor")
        assert removed.returncode == 0, removed.stderr
        assert await until_closed(mjpeg.content, 1.5) < 1.0
        async with http.get(f"{server.url}/snapshot.jpg", headers=basic) as again:
            assert again.status == 401
    await until(lambda: "the account was removed or changed" in viewer_log().read_text())


def test_still_tells_why_each_kind_of_principal_no_longer_holds(tmp_path: Path) -> None:
    """The gate's verdict on what it let in: a revoked link, a changed account, an ended session, and
    an anonymous viewer once accounts exist; a principal that still holds gets None."""
    from camcast.security.gate import Gate, Principal

    accounts = Accounts(tmp_path / "users.json")
    shares = ShareLinks(ShareKeys(tmp_path / "share.key"), tmp_path / "links.json")
    gate = Gate(accounts, shares, loopback_only=True, public=False, tls=False, scopes=lambda s: frozenset())
    anonymous = Principal("local user", "owner", "anonymous")
    assert gate.still(anonymous) is None
    accounts.add("ann", "a-long-password", "owner")
    assert gate.still(anonymous) == "accounts exist now: everyone signs in"
    ann = Principal("ann", "owner", "account", proof=accounts.proof("ann") or "")
    assert gate.still(ann) is None
    accounts.change_password("ann", "another-long-password")
    assert gate.still(ann) == "the account was removed or changed"
    token, _ = gate.sessions.open("ann", "owner", "account", (), accounts.proof("ann") or "")
    session = Principal("ann", "owner", "session", session=token)
    assert gate.still(session) is None
    gate.sessions.close(token)
    assert gate.still(session) == "the sign-in session ended"
    link, share = shares.issue("guest", 60, "watch")
    guest = Principal("guest", "viewer", "share", token=share)
    assert gate.still(guest) is None
    shares.revoke(link.id)
    assert gate.still(guest) == "the share link is revoked"


async def test_a_links_page_sees_the_cameras_state_and_nothing_of_the_owners(links: ShareLinks) -> None:
    """A share link's page reads /status.json: live, the viewers, the badges, for its cameras only;
    not the source or the rates (it showed "unreachable" before, on a 403)."""
    _, token = links.issue("friend", 3600, "watch")
    async with camcast_server(*PATTERN) as server, aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/status.json?token={token}") as resp:
            assert resp.status == 200
            doc = await resp.json()
        assert doc["state"] == "live" and doc["cameras"][0]["name"] == "camera" and "viewers" in doc
        assert not {"source", "fps_in", "runners", "config", "uptime"} & set(doc), doc


async def test_someone_in_the_room_can_know_they_are_watched(tmp_path: Path) -> None:
    """Against Mosquitto: Home Assistant discovers a "being watched" binary sensor and a viewer count;
    a viewer's stream turns it ON with 1 viewer, its end OFF with 0; the on_watch_command runs at the
    first viewer's arrival and the last one's leaving, with CAMCAST_EVENT and CAMCAST_VIEWERS."""

    from tests.peers import mosquitto_server, mqtt_listen

    said = tmp_path / "lamp.txt"
    lamp = tmp_path / "lamp.sh"
    lamp.write_text(f'#!/bin/sh\necho "$CAMCAST_EVENT $CAMCAST_VIEWERS $CAMCAST_CAMERA" >> {said}\n')
    lamp.chmod(0o755)
    with mosquitto_server(tmp_path) as broker:
        seen: dict[str, list[bytes]] = {}
        ready = asyncio.Event()
        listener = asyncio.create_task(mqtt_listen(broker.port, seen, ready))
        await ready.wait()
        try:
            args = (*PATTERN, "--motion-mqtt", broker.url, "--on-watch-command", str(lamp))
            async with camcast_server(*args) as server, aiohttp.ClientSession() as http:
                await until(lambda: seen.get("camcast/camera/watched") == [b"OFF"], 20)
                discovered = [
                    t for t in seen if t.endswith("/watched/config") or t.endswith("/viewers/config")
                ]
                assert len(discovered) == 2, list(seen)
                async with http.get(server.url + "/stream.mjpg") as stream:
                    await stream.content.readexactly(1000)
                    await until(lambda: seen["camcast/camera/watched"][-1:] == [b"ON"])
                    assert seen["camcast/camera/viewers"][-1] == b"1"  # the count comes first
                    await until(lambda: said.exists() and said.read_text() == "watched 1 camera\n")
                await until(lambda: seen["camcast/camera/watched"][-1:] == [b"OFF"])
                assert seen["camcast/camera/viewers"][-1] == b"0"  # the count comes first
                await until(lambda: said.read_text() == "watched 1 camera\nunwatched 0 camera\n")
        finally:
            listener.cancel()


@pytest.mark.parametrize("codec", ["h264", "mjpeg"])
async def test_a_mask_written_while_running_covers_a_passed_through_camera(
    codec: str, tmp_path: Path
) -> None:
    """A camera's own H.264 or MJPEG, passed through untouched: a mask over the left half written into
    the file and reloaded is in the next snapshot and MJPEG picture within a second (the camera is
    decoded and encoded from then on), stays in every later picture, and is in the HLS video; removed,
    the camera's own pictures are passed through again."""
    import av
    import numpy as np

    from camcast.picture.jpeg import decode_rgb
    from tests.media import make_video
    from tests.mjpeg import read_parts

    options = {"g": "12", "bf": "0"} if codec == "h264" else {}  # a keyframe every half second
    video = make_video(tmp_path / f"cam.{'mp4' if codec == 'h264' else 'mkv'}", codec, 125, 25, (320, 240),
                       options=options, picture=lambda i: np.full((240, 320), 200, np.uint8))  # fmt: skip
    base = f'source = "{video}"\n'
    config = tmp_path / "camcast.toml"
    config.write_text(base)

    def left_is_black(jpeg: bytes) -> bool:
        rgb = decode_rgb(jpeg)
        return bool(rgb[:, :150].mean() < 20 and rgb[:, 170:].mean() > 100)

    async with (
        camcast_server("--config", str(config)) as server,
        aiohttp.ClientSession() as http,
        http.get(server.url + "/stream.mjpg") as stream,
    ):
        async with http.get(server.url + "/status.json") as resp:
            assert (await resp.json())["encodes_per_second"] == 0  # passed through
        parts = read_parts(stream)
        assert not left_is_black((await anext(parts)).body)
        config.write_text(base + 'mask = ["0,0,50%,100%"]\n')
        server.proc.send_signal(signal.SIGHUP)
        sent = time.monotonic()
        while not left_is_black((await anext(parts)).body):
            assert time.monotonic() - sent < 1.0, "no masked picture within a second"
        for _ in range(10):  # and none without it after
            assert left_is_black((await anext(parts)).body)
        async with http.get(server.url + "/snapshot.jpg") as resp:
            assert left_is_black(await resp.read())

        def hls_frame() -> bytes:
            with av.open(server.url + "/hls/index.m3u8", options={"live_start_index": "-1"}) as hls:
                frame = next(hls.decode(video=0))
                out = io.BytesIO()
                frame.to_image().save(out, format="JPEG")
                return out.getvalue()

        await until(lambda: left_is_black(hls_frame()), 10)
        assert "restart camcast to apply" not in server.stderr_so_far()
        config.write_text(base)
        server.proc.send_signal(signal.SIGHUP)

        def snapshot() -> bytes:
            with urllib.request.urlopen(server.url + "/snapshot.jpg", timeout=5) as resp:
                return bytes(resp.read())

        await until(lambda: not left_is_black(snapshot()), 5)


async def test_share_prints_the_running_servers_address(links: ShareLinks) -> None:
    """`camcast share` asks the running server (over its control socket) where it listens, whatever the
    config's default port; with none running it says which address it assumed."""
    async with camcast_server(*PATTERN) as server:
        made = await asyncio.to_thread(run_cli, "share", "--scope", "snapshot")
        assert made.returncode == 0, made.stderr
        urls = [line.strip() for line in made.stdout.splitlines() if line.strip().startswith("http")]
        assert urls and all(u.startswith(server.url + "/") for u in urls), made.stdout
    alone = await asyncio.to_thread(run_cli, "share", "--scope", "snapshot")
    assert "no camcast server of yours is running: the links assume http://" in alone.stdout


async def test_a_revoked_link_closes_its_webrtc_peer_and_wakes_its_blocking_playlist_request(
    links: ShareLinks,
) -> None:
    """A link's WebRTC peer and its LL-HLS playlist request blocked on a segment two ahead: the
    revocation (the file written as `camcast share --revoke` writes it) closes the peer and the
    request's connection within a second; the viewer log says why the WebRTC session ended."""
    from tests.test_webrtc import whep_client

    link, token = links.issue("neighbour", 3600, "stream")
    owner = {"Authorization": "Basic " + base64.b64encode(f"{OWNER}:{PASSWORD}".encode()).decode()}
    async with (
        camcast_server(*PATTERN, "--keyframe-every", "4") as server,
        aiohttp.ClientSession() as http,
        whep_client(http, f"{server.url}/whep?token={token}") as (_, track, _resource),
    ):
        await asyncio.wait_for(track.recv(), 10)  # pictures arrive
        async with http.get(f"{server.url}/hls/index.m3u8?token={token}") as resp:
            playlist = await resp.text()
        sequence = int(next(line for line in playlist.splitlines() if "MEDIA-SEQUENCE" in line).split(":")[1])
        ahead = sequence + playlist.count("#EXTINF") + 2
        blocked = await http.get(f"{server.url}/hls/index.m3u8?_HLS_msn={ahead}&_HLS_part=0&token={token}")
        reading = asyncio.ensure_future(blocked.read())
        await asyncio.to_thread(links.revoke, link.id)
        started = time.monotonic()

        async def peer_gone() -> bool:
            async with http.get(server.url + "/status.json", headers=owner) as resp:
                return (await resp.json())["webrtc"] == 0

        await until(peer_gone, 1.5, every=0.02)
        with contextlib.suppress(aiohttp.ClientError):
            await asyncio.wait_for(reading, 1.5)
        assert time.monotonic() - started < 1.0
        blocked.release()
    await until(lambda: '"route":"webrtc"' in viewer_log().read_text() and "the share link is revoked" in
                viewer_log().read_text())  # fmt: skip


async def test_signing_out_ends_what_the_session_has_open(links: ShareLinks) -> None:
    """A browser signed in with the form watches the MJPEG stream with its session cookie; signing
    out (the page's button, with its CSRF token) ends that stream within a second."""
    import re

    async with (
        camcast_server(*PATTERN) as server,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        login = {"name": OWNER, "password": PASSWORD, "next": "/settings"}
        async with http.post(server.url + "/login", data=login) as resp:
            found = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text())
        assert found is not None
        async with http.get(server.url + "/stream.mjpg") as stream:
            assert stream.status == 200
            await stream.content.readexactly(2000)
            async with http.post(
                server.url + "/logout", data={"csrf": found[1]}, allow_redirects=False
            ) as out:
                assert out.status == 303
            assert await until_closed(stream.content, 1.5) < 1.0
    await until(lambda: "the sign-in session ended" in viewer_log().read_text())
