"""WebRTC by WHEP: offers checked, access as for the stream, one encode for every peer, keyframes on
request, slow peers skipping, the shutter; played by aiortc as a WHEP client and by headless Chromium,
with the delay read from the pattern's timecode."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from fractions import Fraction

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from camcast import timecode
from camcast.config.parse import parse_ice_server
from camcast.encode import jpeg
from camcast.encode.h264 import H264Encoder
from camcast.encode.rendition import Rendition
from camcast.frames import Encoded, Frame, Yuv420
from camcast.paths import config_dir, viewer_log
from camcast.picture.jpeg import decode_rgb
from camcast.security.tokens import ShareKeys
from camcast.security.viewers import read_history
from camcast.server.webrtc import ice
from camcast.server.webrtc.ice import reachable
from camcast.server.webrtc.offer import OfferError, check_offer
from camcast.server.webrtc.track import MAX_QUEUE, PacketTrack, WebRtcOutput
from camcast.sources.pattern import PatternSource
from tests.browser import chromium
from tests.conftest import camcast_server
from tests.test_access import OWNER, VIEWER, accounts  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(120)

FPS = 15
PATTERN = ("--source", "pattern", "--size", "320x240", "--fps", str(FPS), "--pattern-timecode")


# --- a WHEP client: aiortc, on loopback --------------------------------------------------------------------
@contextlib.asynccontextmanager
async def whep_client(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[RTCPeerConnection, MediaStreamTrack, str]]:
    """A receive-only peer connected to ``url`` by WHEP: yields it, its video track and the session URL;
    ends the session with DELETE."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN: nothing beyond loopback
    pc.addTransceiver("video", direction="recvonly")
    tracks: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
    pc.on("track", tracks.put_nowait)
    with ice.gathering_on(("127.0.0.1",)):  # this client's candidates on loopback, as the server's
        await pc.setLocalDescription(await pc.createOffer())
    async with session.post(
        url, data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp", **(headers or {})}
    ) as resp:
        assert resp.status == 201, await resp.text()
        assert resp.content_type == "application/sdp"
        location = resp.headers["Location"]
        await pc.setRemoteDescription(RTCSessionDescription(await resp.text(), "answer"))
    resource = str(resp.url.join(aiohttp.client.URL(location)))
    try:
        track = await asyncio.wait_for(tracks.get(), 10)
        yield pc, track, resource
    finally:
        async with session.delete(resource, headers=headers) as resp:
            assert resp.status in (200, 404, 401)  # 401: its link was revoked, and the session with it
        await pc.close()


async def frames_for(track: MediaStreamTrack, seconds: float) -> list[tuple[float, float | None]]:
    """(arrival time, capture time read from the timecode) of each frame received in ``seconds``."""
    got = []
    end = time.time() + seconds
    while (left := end - time.time()) > 0:
        try:
            frame = await asyncio.wait_for(track.recv(), left)
        except TimeoutError:
            break
        now = time.time()
        got.append((now, timecode.read(frame.to_ndarray(format="gray"), now)))
    return got


async def status(session: aiohttp.ClientSession, url: str, **kw: object) -> dict:  # type: ignore[type-arg]
    async with session.get(url + "/status.json", **kw) as resp:  # type: ignore[arg-type]
        return await resp.json()  # type: ignore[no-any-return]


# --- offers, ICE, timecode: no server -----------------------------------------------------------------------
async def real_offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    with ice.gathering_on(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_offers_are_checked_before_aiortc_reads_them() -> None:
    """A real offer passes; each way of spoiling it is refused with a reason."""
    offer = await real_offer()
    assert check_offer(offer.encode()).startswith("v=0\r\n")
    spoiled = {
        "not SDP": b"hello",
        "bytes outside ASCII": offer.replace("s=-", "s=\u00e9").encode(),
        "not an SDP line": offer.replace("s=-", "s=-\r\n<script>").encode(),
        "no H.264": "\r\n".join(
            line for line in offer.split("\r\n") if "H264" not in line and "packetization" not in line
        ).encode(),
        "no ICE user fragment": "\r\n".join(
            line for line in offer.split("\r\n") if not line.startswith("a=ice-")
        ).encode(),
        "media sections": (offer + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" * 9).encode(),
        "no video": offer.replace("m=video", "m=audio").encode(),
    }
    for why, body in spoiled.items():
        with pytest.raises(OfferError):
            check_offer(body)
        assert why  # each case names what it spoils


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=600).map(lambda t: ("v=0\r\n" + t).encode()))
def test_no_offer_makes_anything_but_an_offer_error(body: bytes) -> None:
    """Whatever the bytes, the check returns an offer or raises OfferError (a 400), nothing else."""
    with contextlib.suppress(OfferError):
        check_offer(body)


def test_loopback_server_drops_candidates_it_cannot_reach() -> None:
    offer = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=candidate:1 1 udp 2122260223 192.0.2.7 50000 typ host\r\n"
        "a=candidate:2 1 udp 2122260223 0b0c.local 50001 typ host\r\n"
        "a=candidate:3 1 udp 2122260223 127.0.0.1 50002 typ host\r\n"
    )
    kept = reachable(offer, ("127.0.0.1",), relayed=False)
    assert "127.0.0.1" in kept and "192.0.2.7" not in kept and ".local" not in kept
    assert reachable(offer, None, relayed=False) == offer  # every interface: all kept
    assert reachable(offer, ("127.0.0.1",), relayed=True) == offer  # a TURN relay reaches anyone


def test_ice_server_urls() -> None:
    assert parse_ice_server("stun:stun.example.net:3478") == "stun:stun.example.net:3478"
    assert (
        parse_ice_server(" turn:cam@turn.example.net?transport=tcp")
        == "turn:cam@turn.example.net?transport=tcp"
    )
    for bad in ("stun:", "http://x", "turn:turn.example.net", "stun:a@b", "stun:host:99999", "turn:u@[::1]"):
        with pytest.raises(ValueError):
            parse_ice_server(bad)
    servers = ice.ice_servers(["stun:s.example.net", "turn:cam@t.example.net:3478"], "secret")
    assert servers[1].urls == "turn:t.example.net:3478"
    assert (servers[1].username, servers[1].credential) == ("cam", "secret")
    assert ice.IceSettings(("127.0.0.1",), servers).stun_urls == ["stun:s.example.net"]
    assert ice.host_addresses("127.0.0.1") == ("127.0.0.1",)
    assert ice.host_addresses("0.0.0.0") is None
    assert ice.host_addresses("localhost")


def decode_h264(packets: list[bytes]) -> list[Yuv420 | None]:
    import av

    codec = av.CodecContext.create("h264", "r")
    out: list[Yuv420 | None] = []
    for data in packets:
        for frame in codec.decode(av.Packet(data)):
            out.append(frame.to_ndarray(format="gray"))
    return out


@pytest.mark.parametrize("size", [(320, 240), (640, 480), (1280, 720)])
def test_timecode_survives_jpeg_and_h264(size: tuple[int, int]) -> None:
    """The pattern's timecode reads back to the millisecond after JPEG at quality 80 and H.264 at
    the default bitrate; a picture without one reads as None."""
    width, height = size
    pattern = PatternSource(width, height, 30, timecode=True)
    encoder = H264Encoder(2_000_000, 1.0, 30)
    walls = [1_790_000_000.123 + i / 30 for i in range(10)]
    pictures = [pattern.draw(i, wall) for i, wall in enumerate(walls)]
    for picture, wall in zip(pictures, walls, strict=True):
        assert timecode.read(picture.y, wall + 5) == pytest.approx(wall, abs=0.001)
        decoded = decode_rgb(jpeg.encode(picture, 80))
        assert timecode.read(decoded, wall + 0.2) == pytest.approx(wall, abs=0.001)
    decoded_video = decode_h264([encoder.encode(p).data for p in pictures])
    assert decoded_video
    for frame, wall in zip(decoded_video, walls, strict=False):
        assert timecode.read(frame, wall) == pytest.approx(wall, abs=0.001)  # type: ignore[arg-type]
    assert timecode.read(PatternSource(width, height, 30).draw(1, walls[0]).y, walls[0]) is None


# --- the shared encoder and the peers ---------------------------------------------------------------
def h264_frame(seq: int, keyframe: bool) -> Frame[Encoded]:
    return Frame(
        seq, seq / 30, 1.7e9 + seq / 30, 160, 120, Encoded("h264", b"\0\0\0\1" + bytes([seq % 256]), keyframe)
    )


async def test_a_slow_peer_skips_to_the_next_keyframe_and_others_go_on() -> None:
    """A peer that does not take its frames holds at most MAX_QUEUE, then drops them, asks for a
    keyframe and starts again there; a peer that keeps up gets every frame, in order."""
    asked = []
    slow, quick = PacketTrack(lambda: asked.append("slow")), PacketTrack(lambda: asked.append("quick"))
    first = [asyncio.create_task(track.recv()) for track in (slow, quick)]
    await asyncio.sleep(0)
    assert asked == ["slow", "quick"]  # each peer asks for a keyframe when it starts
    got = []
    for seq in range(1, 40):
        frame = h264_frame(seq, keyframe=seq in (1, 20, 35))
        slow.offer(frame)
        quick.offer(frame)
        packet = await (first[1] if seq == 1 else quick.recv())
        got.append(bytes(packet)[-1])
        assert len(slow._queue) <= MAX_QUEUE
    await first[0]  # the slow peer took its first frame, then no more
    assert got == list(range(1, 40))
    assert slow.skips == 2 and asked.count("slow") == 3
    # after a skip the slow peer's next packet is a keyframe
    packet = await asyncio.wait_for(slow.recv(), 1)
    assert bytes(packet)[-1] == 35 and packet.time_base == Fraction(1, 90000)
    slow.stop()
    quick.stop()


async def test_keyframes_on_request_at_most_one_a_second_and_pli_asks_for_one() -> None:
    """However many peers ask, the shared encoder makes at most one keyframe a second on request, and
    a deferred request is granted when the second is up; a PLI from a peer reaches the encoder."""
    encoder = H264Encoder(300_000, 10.0, 30)
    now = [0.0]
    encoder.clock = lambda: now[0]
    pattern = PatternSource(160, 120, 30)
    keyframes = []
    for i in range(90):
        now[0] = i / 30
        if i % 3 == 0:  # twenty peers asking every 100 ms
            for _ in range(20):
                encoder.request_keyframe()
        if encoder.encode(pattern.draw(i, now[0])).keyframe:
            keyframes.append(i)
    assert keyframes == [0, 30, 60]  # the first picture, then one a second
    # A PLI (RTCP picture-loss) arrives at an aiortc sender of a session: it asks the shared encoder.
    output = WebRtcOutput(Rendition(encoder))
    session_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    track = PacketTrack(output.request_keyframe)
    sender = session_pc.addTrack(track)
    sender._send_keyframe = output.request_keyframe  # what WebRtc.answer does
    now[0] = 100.0
    await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sender._ssrc))
    assert encoder._want_keyframe.is_set()
    await session_pc.close()


# --- the server ---------------------------------------------------------------------------------------
async def test_whep_session_frames_shutter_and_viewer_log() -> None:
    """aiortc as a WHEP client: 201 with a Location; frames arrive at the capture rate with the
    pattern's timecode, a fraction of a second old; the viewer log and status count the peer; the
    shutter stops the picture (the paused card, once a second) for the peer at once; DELETE ends it."""
    async with camcast_server(*PATTERN) as server, aiohttp.ClientSession() as session:
        async with whep_client(session, server.url + "/whep") as (_pc, track, resource):
            await frames_for(track, 1.5)  # past the start
            frames = await frames_for(track, 3)
            assert len(frames) >= FPS * 3 * 0.8, len(frames)
            delays = [arrival - captured for arrival, captured in frames if captured is not None]
            assert len(delays) >= len(frames) * 0.9
            assert statistics.median(delays) < 0.5, delays
            doc = await status(session, server.url)
            assert doc["webrtc"] == 1 and doc["encodes_per_second"] <= FPS * 1.2
            async with session.get(server.url + "/api/viewers") as resp:
                watching = (await resp.json())["watching"]
            assert [s["route"] for s in watching].count("webrtc") == 1
            async with session.post(server.url + "/api/pause") as resp:
                assert resp.status == 200
            await frames_for(track, 0.5)
            paused = await frames_for(track, 3)
            assert len(paused) <= 6 and all(captured is None for _, captured in paused), paused
            async with session.post(server.url + "/api/resume") as resp:
                assert resp.status == 200
            async with session.delete(resource) as resp:
                assert resp.status == 200
            async with session.delete(resource) as resp:
                assert resp.status == 404
        doc = await status(session, server.url)
        assert doc["webrtc"] == 0
    ended = [r for r in read_history(viewer_log()) if r["route"] == "webrtc"]
    assert len(ended) == 1 and ended[0]["frames"] >= FPS * 4  # type: ignore[operator]


async def test_whep_access_bad_offers_and_the_server_goes_on(accounts: object) -> None:  # noqa: F811
    """With accounts: no credentials is 401; a share link with the stream scope works (as ?token= or
    as a Bearer token, as WHEP clients send it), a snapshot-scope link is 403; a malformed offer is
    400, a huge one 413, another type 415; meanwhile a peer keeps receiving and snapshots work."""
    keys = ShareKeys(config_dir() / "share.key")
    stream_token = keys.issue("tv", 3600, "stream")
    snapshot_token = keys.issue("pic", 3600, "snapshot")
    sdp = {"Content-Type": "application/sdp"}
    offer = await real_offer()
    async with camcast_server(*PATTERN) as server, aiohttp.ClientSession() as session:
        url = server.url + "/whep"
        async with session.post(url, data=offer, headers=sdp) as resp:
            assert resp.status == 401
        async with session.post(f"{url}?token={snapshot_token}", data=offer, headers=sdp) as resp:
            assert resp.status == 403
        bearer = {"Authorization": f"Bearer {stream_token}"}
        async with whep_client(session, f"{url}?token={stream_token}") as (_, track, resource):
            assert f"token={stream_token}" in resource
            async with whep_client(session, url, bearer) as (_, other, _):
                assert await frames_for(other, 3)  # its keyframe may wait out the 1 s limit
            bad = {
                400: [b"v=0\r\nnot sdp", offer.replace("H264", "VP8").encode(), b"\xff" * 100],
                413: [b"v=0\r\n" + b"a=x\r\n" * 20_000],
            }
            for expected, bodies in bad.items():
                for body in bodies:
                    async with session.post(url, data=body, headers={**sdp, **OWNER.header}) as resp:
                        assert resp.status == expected, await resp.text()
            async with session.post(
                url, data=offer, headers={"Content-Type": "text/plain", **OWNER.header}
            ) as resp:
                assert resp.status == 415
            async with session.delete(resource.split("?")[0], headers=VIEWER.header) as resp:
                assert resp.status == 404  # not another viewer's to end
            async with session.get(server.url + "/snapshot.jpg", headers=OWNER.header) as resp:
                assert resp.status == 200
            assert len(await frames_for(track, 1)) >= FPS * 0.7


LIVE_STATS = """async () => {
  const pc = document.getElementById('camcast-video').camcastPeer;
  let decoded = 0;
  (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp') decoded = s.framesDecoded; });
  return decoded;
}"""


async def test_live_page_plays_webrtc_in_chromium_with_a_small_delay() -> None:
    """Chromium opens /view/live: WebRTC plays within a second or two of the page loading,
    framesDecoded rises at about the capture rate, and the timecode read from the <video> through a
    canvas shows the delay from capture to display."""
    async with camcast_server(*PATTERN) as server, chromium() as browser:
        page = await browser.new_page()
        started = time.monotonic()
        await page.goto(server.url + "/view/live")
        await page.wait_for_function(
            "() => document.getElementById('camcast-player').dataset.mode === 'webrtc'", timeout=10000
        )
        assert time.monotonic() - started < 5
        assert "WebRTC" in (await page.text_content("#camcast-status") or "")
        await page.add_script_tag(url=server.url + "/static/timecode.js")
        first = await page.evaluate(LIVE_STATS)
        delays = []
        for _ in range(20):
            delay = await page.evaluate(
                "() => { const t = camcastTimecode.read(document.getElementById('camcast-video'));"
                " return t === null ? null : Date.now() - t; }"
            )
            if delay is not None:
                delays.append(delay)
            await asyncio.sleep(0.1)
        decoded = await page.evaluate(LIVE_STATS) - first
        elapsed = 2.0
        assert FPS * elapsed * 0.6 <= decoded <= FPS * elapsed * 1.6, decoded
        assert len(delays) >= 15 and statistics.median(delays) < 500, delays


async def test_stream_page_prefers_webrtc_and_falls_back_when_whep_fails() -> None:
    """/view/stream plays WebRTC where the browser has it and says so; where the WHEP request fails
    (here: the server refuses it), it falls back to HLS and says why."""
    async with camcast_server(*PATTERN) as server, chromium() as browser:
        page = await browser.new_page()
        mode = "() => document.getElementById('camcast-player').dataset.mode"
        await page.goto(server.url + "/view/stream")
        await page.wait_for_function(f"() => ({mode})() !== ''", timeout=15000)
        assert await page.evaluate(mode) == "webrtc"
        assert "WebRTC" in (await page.text_content("#camcast-status") or "")
        refused = await browser.new_page()
        await refused.route("**/whep", lambda route: route.fulfill(status=503, body="too many peers"))
        await refused.goto(server.url + "/view/stream")
        await refused.wait_for_function(f"() => ({mode})() !== ''", timeout=15000)
        assert await refused.evaluate(mode) == "hls.js"
        assert "too many peers" in (await refused.text_content("#camcast-status") or "")


TWENTY_PEERS = """async ([url, n]) => {
  const peers = [];
  for (let i = 0; i < n; i++) {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', {direction: 'recvonly'});
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise(r => {
      if (pc.iceGatheringState === 'complete') r();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
      setTimeout(r, 1000);
    });
    const resp = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/sdp'},
                                   body: pc.localDescription.sdp});
    if (resp.status !== 201) throw new Error(await resp.text());
    await pc.setRemoteDescription({type: 'answer', sdp: await resp.text()});
    peers.push(pc);
  }
  window.peers = peers;
}"""
DECODED = """async () => Promise.all(window.peers.map(async pc => {
  let decoded = 0;
  (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp') decoded = s.framesDecoded; });
  return decoded;
}))"""


async def test_twenty_peers_cost_one_encode() -> None:
    """Twenty WebRTC peers from one Chromium page all decode frames, and the server encodes at the
    capture rate, not twenty times it."""
    async with camcast_server(*PATTERN) as server, chromium() as browser, aiohttp.ClientSession() as session:
        page = await browser.new_page()
        await page.goto(server.url + "/healthz")  # a page of the server's origin, for fetch()
        await page.evaluate(TWENTY_PEERS, [server.url + "/whep", 20])
        await page.wait_for_function(
            f"async () => ({DECODED})().then(d => d.every(n => n > {FPS}))", timeout=15000
        )
        before = await page.evaluate(DECODED)
        await asyncio.sleep(3)
        after = await page.evaluate(DECODED)
        # every peer keeps decoding (Chromium decodes twenty streams on the cores the tests share)
        assert all(b - a >= FPS * 3 * 0.4 for a, b in zip(before, after, strict=True)), (before, after)
        doc = await status(session, server.url)
        assert doc["webrtc"] == 20
        assert doc["encodes_per_second"] <= FPS * 1.2, doc
