"""H.264 and HLS: the segmenter on real encoder output, and /hls/ from the server read by ffprobe,
ffmpeg, aiohttp (blocking reloads, access) and headless Chromium (hls.js)."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from pathlib import Path

import aiohttp
import av
import pytest

from camcast.encode.h264 import H264Encoder
from camcast.encode.rendition import Rendition
from camcast.frames import Frame, Yuv420
from camcast.hls import fmp4
from camcast.hls.segmenter import Segmenter
from camcast.paths import config_dir
from camcast.picture.jpeg import decode_rgb
from camcast.security.accounts import Accounts
from camcast.security.tokens import ShareKeys
from camcast.sources.media import MediaSource
from camcast.sources.pattern import PatternSource
from tests.browser import chromium, plays_steadily
from tests.conftest import camcast_server
from tests.media import ffmpeg_frames, ffprobe_json, make_video
from tests.test_access import OWNER

pytestmark = pytest.mark.timeout(120)

PATTERN = ("--source", "pattern", "--size", "320x240", "--fps", "15")


def encoded_pattern(frames: int, fps: int = 30, keyframe_every: float = 1.0) -> list[Frame]:  # type: ignore[type-arg]
    """``frames`` pattern pictures encoded by the H.264 encoder, timed at ``fps``, with keyframes
    every ``keyframe_every`` seconds of those times."""
    pattern = PatternSource(160, 120, fps)
    encoder = H264Encoder(300_000, keyframe_every, fps)
    out = []
    for i in range(frames):
        encoder.clock = lambda i=i: i / fps  # type: ignore[misc]  # the frames' own timeline
        encoded = encoder.encode(pattern.draw(i, i / fps))
        out.append(Frame(i + 1, 100 + i / fps, 1.7e9 + i / fps, 160, 120, encoded))
    return out


def test_segments_cut_on_keyframes_with_parts_and_a_bounded_window() -> None:
    """Segments start on keyframes and last the keyframe interval; parts are about 200 ms and never
    longer than the PART-TARGET announced; only ``window`` segments are kept."""
    segmenter = Segmenter(1.0, 0.2, window=3)
    for frame in encoded_pattern(30 * 6 + 1):
        segmenter.push(frame)
    finished = [s for s in segmenter.segments if s.finished]
    assert len(finished) == 3 and finished[-1].msn == 5
    assert all(abs(s.duration - 1.0) < 1e-3 for s in finished)
    assert all(s.parts[0].independent and not any(p.independent for p in s.parts[1:]) for s in finished)
    text = segmenter.playlist().render()
    target = float(re.search(r"PART-TARGET=([\d.]+)", text)[1])  # type: ignore[index]
    durations = [float(d) for d in re.findall(r"EXT-X-PART:DURATION=([\d.]+)", text)]
    assert durations and max(durations) <= target and min(durations) > 0.15
    assert "#EXT-X-MEDIA-SEQUENCE:3" in text and text.count("#EXTINF:") == 3
    # the parts of a segment are the segment: same bytes end to end
    last = finished[-1]
    assert last.data == b"".join(segmenter.part(last.msn, i)[0] for i in range(len(last.parts)))  # type: ignore[index]


def test_stream_waits_for_a_keyframe_and_marks_a_gap() -> None:
    """Frames before the first keyframe are not used (and a keyframe is asked for); after an
    interruption the next segment follows an EXT-X-DISCONTINUITY."""
    asked = []
    segmenter = Segmenter(1.0, 0.2, need_keyframe=lambda: asked.append(1))
    frames = encoded_pattern(90)
    for frame in frames[5:29]:  # no keyframe among these
        segmenter.push(frame)
    assert asked and segmenter.init is None and not segmenter.segments
    for frame in frames[30:61]:
        segmenter.push(frame)
    segmenter.interrupt()
    for frame in encoded_pattern(40)[:32]:
        segmenter.push(Frame(frame.seq, frame.time + 10, frame.wall + 10, 160, 120, frame.payload))
    text = segmenter.playlist(parts=False).render()
    assert text.count("#EXT-X-DISCONTINUITY") == 1 and text.count("#EXTINF:") == 3


def test_a_smaller_rendition_keeps_the_aspect_and_never_enlarges() -> None:
    """Pictures fit in a rendition's box with their aspect kept and even sides; a picture that fits
    is encoded at its own size (so a camera's own H.264 may pass), and the encoder makes that size."""
    from camcast.encode.h264 import fit

    assert fit(1280, 720, (640, 360)) == (640, 360)
    assert fit(1920, 1080, (640, 480)) == (640, 360)
    assert fit(640, 480, (640, 360)) == (480, 360)
    assert fit(320, 240, (640, 360)) == (320, 240)
    assert fit(1279, 719, None) == (1279, 719)
    encoder = H264Encoder(200_000, 1.0, 15, box=(160, 120))
    assert encoder.size_for(160, 120) == (160, 120) and encoder.size_for(320, 240) != (320, 240)
    packet = encoder.encode(PatternSource(320, 240, 15).draw(0, 0.0))
    decoder = av.CodecContext.create("h264", "r")
    frames = decoder.decode(av.Packet(packet.data)) + decoder.decode(None)
    assert [(f.width, f.height) for f in frames] == [(160, 120)]  # type: ignore[attr-defined]


def test_an_encoder_with_a_lookahead_gives_every_picture_back_when_flushed() -> None:
    """With B-frames and a lookahead (what bench/video.py --lookahead measures) the encoder holds
    pictures back; flush() gives the rest, and the stream decodes to every picture."""
    options = {"x264-params": "bframes=3:rc-lookahead=10:mbtree=1:sync-lookahead=0:sliced-threads=0"}
    encoder = H264Encoder(300_000, 1.0, 15, "high", options=options)
    pattern = PatternSource(160, 120, 15)
    data = [encoder.encode(pattern.draw(i, i / 15)).data for i in range(30)]
    assert data[0] == b""  # held for the lookahead
    stream = b"".join(data) + encoder.flush()
    decoder = av.CodecContext.create("h264", "r")
    packets = decoder.parse(stream) + decoder.parse(None)  # None: the parser's last picture too
    frames = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    assert len(frames) == 30


def test_init_segment_names_the_stream() -> None:
    frames = encoded_pattern(1)
    units = fmp4.nal_units(frames[0].payload.data)  # type: ignore[union-attr]
    sps, pps = fmp4.parameter_sets(units)  # type: ignore[misc]
    assert fmp4.codec_string(sps).startswith("avc1.42")  # constrained baseline, for WebRTC too
    init = fmp4.init_segment(sps, pps, 160, 120)
    assert init[4:8] == b"ftyp" and b"avcC" in init and b"mvex" in init


async def test_server_hls_read_by_ffprobe_and_ffmpeg() -> None:
    """/hls/index.m3u8 is H.264 at the configured size; ffmpeg plays 10 s of it without an error or a
    gap (frames at the capture rate); nothing is encoded before anyone asks for video."""
    async with camcast_server(*PATTERN) as server, aiohttp.ClientSession() as session:
        async with session.get(server.url + "/status.json") as resp:
            assert (await resp.json())["encodes_per_second"] == 0
        streams = ffprobe_json(server.url + "/hls/index.m3u8")["streams"]
        assert streams == [{"codec_name": "h264", "width": 320, "height": 240}]
        started = time.monotonic()
        frames = await ffmpeg_frames(server.url + "/cam/camera/hls/index.m3u8", 6)
        assert frames >= 6 * 15 * 0.9, frames
        assert time.monotonic() - started < 30
        async with session.get(server.url + "/status.json") as resp:
            doc = await resp.json()
        assert 10 <= doc["encodes_per_second"] <= 16  # once per frame, for every HLS reader


async def test_blocking_reload_and_bad_queries() -> None:
    """_HLS_msn/_HLS_part hold the playlist until that part exists; too far ahead or junk is a 400;
    an unknown file is a 404; the preload-hinted part is waited for."""
    async with camcast_server(*PATTERN) as server, aiohttp.ClientSession() as session:
        base = server.url + "/hls/"
        async with session.get(base + "index.m3u8") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
            text = await resp.text()
        last = max(int(m) for m in re.findall(r"seg-[0-9a-f]+-(\d+)\.m4s", text))
        t0 = time.monotonic()
        async with session.get(base + f"index.m3u8?_HLS_msn={last + 1}&_HLS_part=2") as resp:
            assert resp.status == 200
            waited = time.monotonic() - t0
            later = await resp.text()
        assert re.search(rf"part-[0-9a-f]+-{last + 1}-2\.m4s", later) or f"-{last + 1}.m4s" in later
        assert 0.1 < waited < 3, waited
        hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', later)[1]  # type: ignore[index]
        async with session.get(base + hint) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/iso.segment"
            assert (await resp.read())[4:8] == b"moof"
            assert "immutable" in resp.headers["Cache-Control"]
        for query in ("_HLS_msn=999999", "_HLS_msn=x", "_HLS_part=1", "_HLS_msn=-1"):
            async with session.get(base + "index.m3u8?" + query) as resp:
                assert resp.status == 400, query
        for name in ("seg-000000-1.m4s", "..%2fstatus.json", "index.m3u9", "part-zz-1-1.m4s"):
            async with session.get(base + name) as resp:
                assert resp.status == 404, name
        async with session.get(server.url + "/healthz") as resp:
            assert resp.status == 200


async def test_hls_access_and_one_viewer_session() -> None:
    """With accounts, HLS needs credentials like the MJPEG stream; a share link with the stream scope
    opens it (a snapshot-scope link does not), the playlist carrying its token to every file it lists;
    a player's many requests are one viewer session."""
    Accounts(config_dir() / "users.json").add(OWNER.login, OWNER.password, "owner")
    keys = ShareKeys(config_dir() / "share.key")
    stream_token = keys.issue("tv", 3600, "stream")
    snapshot_token = keys.issue("pic", 3600, "snapshot")
    async with camcast_server(*PATTERN) as server, aiohttp.ClientSession() as session:
        async with session.get(server.url + "/hls/index.m3u8") as resp:
            assert resp.status == 401
        async with session.get(server.url + f"/hls/index.m3u8?token={snapshot_token}") as resp:
            assert resp.status == 403
        for _ in range(3):
            async with session.get(server.url + f"/hls/index.m3u8?token={stream_token}") as resp:
                assert resp.status == 200
                text = await resp.text()
            segment = re.findall(r"^seg-\S+", text, re.M)[-1]
            assert segment.endswith(f"?token={stream_token}")  # a player fetches it as it is listed
            async with session.get(server.url + f"/hls/{segment}") as resp:
                assert resp.status == 200 and (await resp.read())[4:8] == b"moof"
        async with session.get(server.url + "/api/viewers", headers=OWNER.header) as resp:
            watching = (await resp.json())["watching"]
        hls = [s for s in watching if s["who"] == "tv"]
        assert len(hls) == 1 and hls[0]["route"] == "hls" and hls[0]["frames"] > 0


async def test_stream_page_plays_video_with_hlsjs() -> None:
    """Chromium without WebRTC opens /view/stream: hls.js (served by camcast) plays the H.264 video,
    its currentTime advancing steadily over 10 s, and the page says it plays low-latency HLS."""
    async with camcast_server(*PATTERN) as server, chromium() as browser:
        page = await browser.new_page()
        await page.add_init_script("delete window.RTCPeerConnection;")
        await page.goto(server.url + "/view/stream")
        await page.wait_for_function(
            "() => document.getElementById('camcast-player').dataset.mode !== ''", timeout=20000
        )
        assert await page.get_attribute("#camcast-player", "data-mode") == "hls.js"
        assert "low-latency HLS" in (await page.text_content("#camcast-status") or "")
        await plays_steadily(page, 5)
        size = await page.evaluate(
            "() => [camcast_video.videoWidth, camcast_video.videoHeight]".replace(
                "camcast_video", "document.getElementById('camcast-video')"
            )
        )
        assert size == [320, 240]


#: What an RTSP camera or a phone sends: H.264 without B-frames, a keyframe every second.
CAMERA_H264 = {"bf": "0", "g": "15", "profile": "baseline", "preset": "ultrafast"}


async def test_h264_source_is_passed_through_without_encoding(tmp_path: Path) -> None:
    """An H.264 source (a file here; an RTSP camera alike) with nothing drawn: its packets are the
    HLS video, untouched (encodes per second 0 while ffmpeg plays it); a snapshot still works, the
    source then decoding for it."""
    clip = make_video(tmp_path / "camera.mp4", "libx264", 150, 15, (320, 240), options=CAMERA_H264)
    async with camcast_server("--source", str(clip)) as server, aiohttp.ClientSession() as session:
        url = server.url + "/hls/index.m3u8"
        assert ffprobe_json(url)["streams"] == [{"codec_name": "h264", "width": 320, "height": 240}]
        frames = await ffmpeg_frames(url, 6)
        assert frames >= 6 * 15 * 0.9, frames
        async with session.get(server.url + "/status.json") as resp:
            doc = await resp.json()
        assert doc["encodes_per_second"] == 0 and doc["frames_encoded"] == 0 and doc["fps_in"] > 10
        async with session.get(server.url + "/snapshot.jpg") as resp:
            assert resp.status == 200
            assert decode_rgb(await resp.read()).shape == (240, 320, 3)


def test_source_decodes_h264_only_when_pixels_are_wanted(tmp_path: Path) -> None:
    """The H.264 source hands on packets alone while nothing needs pixels, and decoded pictures (with
    the packets) from the next keyframe once something does; a stream with B-frames is decoded."""
    clip = make_video(tmp_path / "camera.mp4", "libx264", 60, 15, (160, 120), options=CAMERA_H264)
    source = MediaSource(str(clip), "file")
    wanted = [False]
    source.want_pixels = lambda: wanted[0]
    frames = source.open_frames()
    first = [next(frames) for _ in range(20)]
    assert all(f.packet is not None and f.payload is f.packet for f in first)
    assert first[0].packet.keyframe and first[15].packet.keyframe  # type: ignore[union-attr]
    wanted[0] = True  # mid-way between keyframes: decoding starts at the next one (frame 30)
    later = [next(frames) for _ in range(15)]
    decoded = [isinstance(f.payload, Yuv420) for f in later]
    assert decoded == [False] * 10 + [True] * 5, decoded
    frames.close()
    b_frames = make_video(tmp_path / "b.mp4", "libx264", 20, 15, (160, 120), options={"bf": "2"})
    plain = MediaSource(str(b_frames), "file").open_frames()
    assert all(isinstance(f.payload, Yuv420) and f.packet is None for f in itertools.islice(plain, 10))
    plain.close()


async def test_a_lost_packet_holds_the_stream_until_a_keyframe() -> None:
    """A source's own H.264 goes on only as an unbroken chain from a keyframe: after a lost packet the
    listeners get nothing until the next keyframe (a decoder would show garbage)."""
    encoded = encoded_pattern(45, fps=15, keyframe_every=1.0)
    rendition = Rendition(H264Encoder(300_000, 1.0, 15))
    got: list[int] = []
    rendition.add_listener(lambda f: got.append(f.seq))
    task = asyncio.create_task(rendition.run())
    try:
        for f in encoded:
            if f.seq == 5:
                continue  # lost on the way
            rendition.receive(Frame(f.seq, f.time, f.wall, f.width, f.height, f.payload, f.payload))
            await asyncio.sleep(0.005)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        rendition.close()
    keyframes = [f.seq for f in encoded if f.payload.keyframe]  # type: ignore[union-attr]
    assert keyframes[:2] == [1, 16]
    assert got == [1, 2, 3, 4, *range(16, 46)]
    assert rendition.frames_encoded == 0


#: A camera with a rendition for phones; each at its bitrate whatever the scene (the pattern costs
#: little at a held quality, and the test's slow link must be too slow for the full one).
PHONES = ("--source", "pattern", "--size", "1280x720", "--fps", "15", "--video-crf", "off",
          "--renditions", "1280x720", "--renditions", "640x360@400k")  # fmt: skip


async def test_a_small_rendition_for_phones_encoded_while_watched() -> None:
    """``renditions = ["1280x720", "640x360@400k"]``: index.m3u8 names both; the small one is encoded
    only once a player asks for it; hls.js in a 390 px wide page picks the small one, in a wide page
    the full one, and in a wide page on a slow link the small one again; ffprobe reads the small one
    at its size."""
    async with camcast_server(*PHONES) as server, aiohttp.ClientSession() as http, chromium() as browser:

        async def video() -> list[dict[str, object]]:
            async with http.get(server.url + "/status.json") as resp:
                return list((await resp.json())["video"])

        async with http.get(server.url + "/hls/index.m3u8") as resp:
            listed = await resp.text()
        assert listed.count("#EXT-X-STREAM-INF:") == 2, listed
        assert "RESOLUTION=1280x720" in listed and "RESOLUTION=640x360" in listed, listed
        assert "AVERAGE-BANDWIDTH=400000" in listed, listed
        assert [v["watched"] for v in await video()] == [False, False]  # a list starts no encoder
        async with http.get(server.url + "/hls/seg-abc123-0.m4s") as resp:  # no rendition's: a 404
            assert resp.status == 404
        assert [v["watched"] for v in await video()] == [False, False]  # and no encoder woken for it

        width = "() => document.getElementById('camcast-video').videoWidth"
        phone = await browser.new_page(viewport={"width": 390, "height": 844})
        await phone.add_init_script("delete window.RTCPeerConnection;")
        await phone.goto(server.url + "/view/stream")
        await phone.wait_for_function(f"() => ({width})() === 640", timeout=20000)
        await plays_steadily(phone, 3)
        assert await phone.evaluate(width) == 640
        small = (await video())[1]
        assert small["watched"] and small["width"] == 640 and small["height"] == 360, small
        await phone.close()

        wide = await browser.new_page(viewport={"width": 1400, "height": 900})
        await wide.add_init_script("delete window.RTCPeerConnection;")
        await wide.goto(server.url + "/view/stream")
        await wide.wait_for_function(f"() => ({width})() === 1280", timeout=20000)
        await wide.close()

        # A wide page on a link too slow for the full one (Chromium throttles it to 400 kbit/s).
        slow = await browser.new_page(viewport={"width": 1400, "height": 900})
        cdp = await slow.context.new_cdp_session(slow)
        await cdp.send("Network.enable")
        link = {"offline": False, "latency": 20, "downloadThroughput": 50_000, "uploadThroughput": 50_000}
        await cdp.send("Network.emulateNetworkConditions", link)
        await slow.add_init_script("delete window.RTCPeerConnection;")
        await slow.goto(server.url + "/view/stream")
        await slow.wait_for_function(f"() => ({width})() === 640", timeout=30000)

        assert ffprobe_json(server.url + "/hls/v1.m3u8")["streams"] == [
            {"codec_name": "h264", "width": 640, "height": 360}
        ]
