"""Sound (issue 33): encoded once per codec on the pictures' clock, carried by every output that
carries sound, and heard only by those allowed: the test pattern's beep, in step with its flash, as the
source; aiortc and Chromium as WebRTC listeners."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from camcast.audio.beep import beep_samples
from camcast.audio.encode import REANCHOR, AudioEncoder, AudioRendition
from camcast.frames import FLOOR, RATE, AudioFormat, AudioPacket, Chunk, dbfs
from camcast.paths import config_dir
from camcast.security.tokens import ShareKeys
from camcast.server.webrtc import ice
from camcast.sources.pattern import FLASH_SECONDS, PatternSource
from camcast.sources.soundtrack import SOUND_HOLD, SoundTrack
from tests.avsync import offsets, onsets
from tests.browser import chromium
from tests.conftest import Server, camcast_server, free_port, home_env, run_cli, sync_server
from tests.media import rtsp_receiver
from tests.test_access import OWNER, VIEWER, accounts  # noqa: F401 - the fixture
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)

BEEP = ("--source", "pattern", "--size", "320x240", "--fps", "15", "--audio", "source")
#: Seconds of a stream copied to measure its sync: at least three beeps, each whole.
COPY = "3.5"

#: An ALSA configuration with a playback device that writes what it plays to a file (ALSA's own file
#: plugin): the speaker the tests talk on, with no sound card.
SPEAKER_CONF = """</usr/share/alsa/alsa.conf>
pcm.speaker {{
    type file
    slave.pcm "null"
    file "{path}"
    format "raw"
}}
"""


@dataclass
class Beeping:
    """The server the tests that only watch and listen share: the beep, RTSP, continuous recording in
    3 s files, and a speaker (ALSA's file plugin writing to ``played``) for talk back."""

    server: Server
    home: Path
    rtsp: int
    played: Path


@pytest.fixture(scope="module")
def beeping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Beeping]:
    home = tmp_path_factory.mktemp("beeping")
    played, conf = home / "played.raw", home / "asound.conf"
    conf.write_text(SPEAKER_CONF.format(path=played))
    rtsp = free_port()
    recording = ("--record", "continuous", "--record-file-minutes", "0.05", "--record-min-free", "0")
    args = (*BEEP, "--rtsp", f"127.0.0.1:{rtsp}", "--audio-out", "speaker", *recording)
    with sync_server(*args, home=home, env={"ALSA_CONFIG_PATH": str(conf)}) as server:
        yield Beeping(server, home, rtsp, played)
    print(f"--- the shared server\n{server.stdout}{server.stderr}")


@pytest.fixture
def beep(beeping: Beeping, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Beeping:
    """The shared server, this test's camcast commands and config in its world (its share key)."""
    for name, value in home_env(beeping.home).items():
        monkeypatch.setenv(name, value)
    return beeping


async def opened_since(session: aiohttp.ClientSession, url: str, before: set[int]) -> list[dict[str, object]]:
    """The viewer sessions open on the server at ``url`` that were not among the ids ``before``."""
    async with session.get(url + "/api/viewers") as resp:
        return [s for s in (await resp.json())["watching"] if s["id"] not in before]


async def open_ids(session: aiohttp.ClientSession, url: str) -> set[int]:
    return {int(s["id"]) for s in await opened_since(session, url, set())}  # type: ignore[call-overload]


def test_the_beep_sounds_with_the_flash() -> None:
    """The tone fills the first 100 ms of each second of the monotonic clock and nothing else; the
    pattern's frames due in those 100 ms show the white block, the others a black one."""
    samples = beep_samples(1000.0, RATE * 2).reshape(-1, RATE // 1000)  # by the millisecond
    loud = [ms for ms, block in enumerate(samples) if np.abs(block.astype(np.int32)).max() > 1000]
    wanted = int(FLASH_SECONDS * 1000)
    assert loud == [*range(wanted), *range(1000, 1000 + wanted)]
    pattern = PatternSource(320, 240, 30)
    pattern.flash = True
    corner = [pattern.draw(1, 0.0, 1000.0 + i / 30).y[-8:, -8:].mean() for i in range(31)]
    assert [round(c) for c in corner[:4]] == [235, 235, 235, 16] and corner[30] == 235


@pytest.mark.parametrize("codec", ["opus", "aac"])
def test_packets_are_stamped_on_the_chunks_clock(codec: str) -> None:
    """Packets follow the chunks' times to the sample; a chunk that arrives after a gap (the input was
    reopened) starts a new anchor, and so does one whose time strays past REANCHOR."""
    encoder = AudioEncoder(codec)
    packets = []
    for i in range(100):
        packets += encoder.encode(Chunk(beep_samples(50.0 + i * 0.02, 960), 50.0 + i * 0.02))
    # The first packet carries the encoder's priming, stamped earlier by as much.
    spans = [(p.time, p.samples) for p in packets]
    for (t0, n0), (t1, _) in itertools.pairwise(spans):
        assert abs(t1 - (t0 + n0 / RATE)) < 1e-6
    assert packets[0].time <= 50.0 and packets[1].time > 50.0 - 0.03
    gap = encoder.encode(Chunk(np.zeros(960 * 4, np.int16), 60.0))
    gap += encoder.encode(Chunk(np.zeros(960 * 4, np.int16), 60.08 + REANCHOR * 2))
    assert any(abs(p.time - 60.0) < 0.03 for p in gap)
    assert any(p.time >= 60.08 + REANCHOR for p in gap)


def test_a_passed_through_sound_that_changes_format_is_encoded_in_the_first() -> None:
    """A rendition passing a source's AAC at 44.1 kHz stereo on: its packets go to the listeners as
    they are; when the source comes back at 48 kHz mono, the chunks are encoded at 44.1 kHz stereo
    instead (what the outputs were set up with: FFmpeg decodes them as such, the tone in them), and when the
    source's format comes back its packets go on again."""
    own = AudioFormat("aac", 44100, 2, bytes.fromhex("1210"))
    rendition = AudioRendition("aac", "door-aac", own)
    heard: list[AudioPacket] = []
    rendition.add_listener(heard.append)
    passed = AudioPacket("aac", b"as it came", 10.0, 1024)
    rendition.forward(passed, own)
    rendition.receive(Chunk(beep_samples(10.0, 960), 10.0))  # while passing, the chunks are not encoded
    assert heard == [passed] and rendition.passing
    other = AudioFormat("aac", 48000, 1, bytes.fromhex("1188"))
    rendition.forward(AudioPacket("aac", b"another format", 11.0, 1024), other)
    assert heard == [passed] and not rendition.passing
    tone = (np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE) * 8000).astype(np.int16)
    for i in range(50):
        rendition.receive(Chunk(tone[i * 960 : (i + 1) * 960], 12.0 + i * 0.02))
    encoded = heard[1:]
    assert len(encoded) >= 30 and rendition.format == own
    decoder = av.CodecContext.create("aac", "r")
    decoder.extradata = rendition.encoder.format.config  # type: ignore[attr-defined]
    pcm = [f for p in encoded for f in decoder.decode(av.Packet(p.data))]  # type: ignore[attr-defined]
    assert {(f.sample_rate, f.layout.nb_channels) for f in pcm} == {(44100, 2)}
    left = (np.concatenate([f.to_ndarray()[0] for f in pcm[5:]]) * 32768).astype(np.int16)
    assert abs(dbfs(left) - (dbfs(tone) - 3.0)) < 1  # the tone, in each channel 3 dB down (FFmpeg's upmix)
    assert abs(encoded[1].time - encoded[0].time - 1024 / 44100) < 1e-6
    rendition.forward(passed, own)
    assert heard[-1] is passed and rendition.passing


@dataclass
class Taker:
    """What a source's sound track hands its sound to (a MediaSource's side of it)."""

    sound_format: AudioFormat | None = None
    on_sound: object = None
    on_sound_packet: object = None


def test_sound_held_for_its_pictures_is_bounded_when_the_times_jump_back(tmp_path: Path) -> None:
    """A source's sound is held until its picture is placed, at most SOUND_HOLD seconds of it: also
    when the source's times jump back (a camera restarting its clock), where the pictures' times no
    longer reach what is held: the old sound goes on and the new is held in its place (before, the
    new waited behind the old until its times passed them: a camera an hour in that restarted its
    clock had an hour of sound held, never heard; here 2 s were held)."""
    path = tmp_path / "tone.mp4"
    tone = ["-f", "lavfi", "-i", "sine=f=440:r=48000", "-t", "3", "-c:a", "aac"]
    subprocess.run(["ffmpeg", "-v", "error", *tone, str(path)], check=True, timeout=60)
    chunks: list[Chunk] = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        track = SoundTrack(stream, Taker(on_sound=chunks.append), lambda t: t)
        packets = list(container.demux(stream))
        for packet in packets[len(packets) // 2 :]:  # 1.5 s to 3 s heard; no picture placed yet
            track.hear(packet)
        for packet in packets[: len(packets) // 3]:  # then the times start again from 0
            track.hear(packet)
    held = sum(len(c.samples) for _, c in track._held if isinstance(c, Chunk)) / RATE
    assert held <= SOUND_HOLD + 0.1, held
    assert chunks and max(c.time for c in chunks) >= 2.0  # the sound from before the jump went on


@contextlib.asynccontextmanager
async def listener(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[dict[str, MediaStreamTrack]]:
    """A WHEP peer asking for video and sound: yields the tracks that came, by kind, once the video has."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    tracks: dict[str, MediaStreamTrack] = {}
    video = asyncio.Event()

    @pc.on("track")
    def got(track: MediaStreamTrack) -> None:
        tracks[track.kind] = track
        if track.kind == "video":
            video.set()

    with ice.gathering_on(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createOffer())
    async with session.post(
        url, data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp", **(headers or {})}
    ) as resp:
        assert resp.status == 201, await resp.text()
        resource = str(resp.url.join(aiohttp.client.URL(resp.headers["Location"])))
        await pc.setRemoteDescription(RTCSessionDescription(await resp.text(), "answer"))
    try:
        await asyncio.wait_for(video.wait(), 10)
        yield tracks
    finally:
        async with session.delete(resource, headers=headers):
            pass
        await pc.close()


async def heard(track: MediaStreamTrack, seconds: float) -> list[float]:
    """The level (dBFS) of each 20 ms of sound received in ``seconds``."""
    levels = []
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        frame = await asyncio.wait_for(track.recv(), 5)
        samples = frame.to_ndarray().reshape(-1)[:: len(frame.layout.channels)]  # type: ignore[attr-defined]
        levels.append(dbfs(samples.astype(np.int16)))
    return levels


async def test_webrtc_carries_the_beep_to_a_listener(beep: Beeping) -> None:
    """aiortc asks for video and sound: the sound track plays the beep (loud about a tenth of the time,
    silent otherwise); the status says the microphone is on, and the viewer log that the peer listens."""
    url = beep.server.url
    async with aiohttp.ClientSession() as session:
        before = await open_ids(session, url)
        async with listener(session, url + "/whep") as tracks:
            assert "audio" in tracks, tracks
            levels = await heard(tracks["audio"], 3)
            loud = sum(level > -25 for level in levels)
            assert 0.05 * len(levels) <= loud <= 0.2 * len(levels), levels
            async with session.get(url + "/status.json") as resp:
                assert (await resp.json())["microphone"] == "on"
            opened = await opened_since(session, url, before)
        assert [s["sound"] for s in opened if s["route"] == "webrtc"] == [True], opened


#: In the page: the loudest level (dBFS) a WebAudio analyser measures on the video's sound over 2 s.
PAGE_LEVEL = """async () => {
  const video = document.getElementById('camcast-video');
  const ctx = new AudioContext();
  await ctx.resume();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  const source = video.srcObject
    ? ctx.createMediaStreamSource(video.srcObject) : ctx.createMediaElementSource(video);
  source.connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  let loudest = 0;
  for (let i = 0; i < 40; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    loudest = Math.max(loudest, Math.sqrt(sum / data.length));
  }
  return loudest > 0 ? 20 * Math.log10(loudest) : -200;
}"""


async def test_chromium_plays_the_sound_muted_until_the_viewer_asks(beep: Beeping) -> None:
    """Chromium's live page plays WebRTC with the sound muted and a sound button shown; pressed, the
    video is unmuted, and a WebAudio analyser on its stream measures the beep."""
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(beep.server.url + "/view/live")
        await page.wait_for_function(
            "() => document.getElementById('camcast-player').dataset.mode === 'webrtc'", timeout=10000
        )
        button = page.locator("#camcast-sound")
        await button.wait_for(state="visible", timeout=5000)
        assert await page.locator("#camcast-mic").is_visible()  # every page says the microphone is on
        assert await page.evaluate("() => document.getElementById('camcast-video').muted")
        assert await button.text_content() == "Sound off: listen"
        await button.click()
        assert not await page.evaluate("() => document.getElementById('camcast-video').muted")
        assert await button.get_attribute("aria-pressed") == "true"
        level = await page.evaluate(PAGE_LEVEL)
        assert level > -30, level


async def test_only_links_made_with_audio_carry_sound(accounts: object) -> None:  # noqa: F811
    """An account hears the camera; a share link made without ``--audio`` gets the pictures alone
    (its offer's audio section is answered, but nothing is sent on it), one made with it hears."""
    keys = ShareKeys(config_dir() / "share.key")
    silent, with_sound = keys.issue("tv", 3600, "stream"), keys.issue("radio", 3600, "stream", audio=True)
    async with camcast_server(*BEEP) as server, aiohttp.ClientSession() as session:
        url = server.url + "/whep"
        async with listener(session, url, VIEWER.header) as tracks:
            assert "audio" in tracks
        async with listener(session, f"{url}?token={silent}") as tracks:
            assert "audio" not in tracks
        async with listener(session, f"{url}?token={with_sound}") as tracks:
            assert max(await heard(tracks["audio"], 1.5)) > -25


def streams_of(url: str, *options: str) -> list[str]:
    """The codecs ffprobe finds in ``url``."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", *options, "-show_entries", "stream=codec_name", "-of", "csv=p=0", url],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return sorted(set(probe.stdout.split()))  # each stream is listed in its program too


async def test_hls_carries_the_sound_in_step_with_the_pictures(beep: Beeping, tmp_path: Path) -> None:
    """The HLS segments carry AAC beside the H.264 (ffprobe sees both; the playlist names both codecs);
    FFmpeg's copy of 3.5 s of it plays each beep within 40 ms of its flash. A share link made without
    --audio gets the pictures alone, and the files with sound are refused to it; the viewer log says
    which link listens."""
    keys = ShareKeys(config_dir() / "share.key")
    silent, with_sound = keys.issue("tv", 3600, "stream"), keys.issue("radio", 3600, "stream", audio=True)
    server = beep.server
    async with aiohttp.ClientSession() as session:
        url = server.url + "/hls/index.m3u8"
        async with session.get(url) as resp:
            heard = await resp.text()
            assert resp.headers["Cache-Control"].startswith("private")  # it differs by who asks
        assert await asyncio.to_thread(streams_of, url) == ["aac", "h264"]
        copy = tmp_path / "copy.mp4"
        ffmpeg = ["ffmpeg", "-v", "error", "-i", url, "-t", COPY, "-c", "copy", str(copy)]
        await asyncio.to_thread(subprocess.run, ffmpeg, check=True, timeout=60)
        found = offsets(copy)
        assert len(found) >= 3 and max(abs(o) for o in found) <= 0.04, found
        async with session.get(f"{url}?token={silent}") as resp:
            pictures = await resp.text()
        assert await asyncio.to_thread(streams_of, f"{url}?token={silent}") == ["h264"]
        assert pictures != heard
        sound_file = next(line for line in heard.splitlines() if line.endswith(".m4s"))
        async with session.get(f"{server.url}/hls/{sound_file}?token={silent}") as resp:
            assert resp.status == 403
        assert await asyncio.to_thread(streams_of, f"{url}?token={with_sound}") == ["aac", "h264"]
        opened = await opened_since(session, server.url, set())
        listening = {s["who"]: s["sound"] for s in opened if s["via"] == "share" and s["route"] == "hls"}
        assert listening == {"tv": False, "radio": True}, json.dumps(opened)


async def test_hlsjs_plays_the_sound_when_asked(beep: Beeping) -> None:
    """Chromium with WHEP refused plays HLS by hls.js: the sound button shows, and once pressed a
    WebAudio analyser on the video measures the beep."""
    async with chromium() as browser:
        page = await browser.new_page()
        await page.route("**/whep", lambda route: route.fulfill(status=503, body="no WebRTC here"))
        await page.goto(beep.server.url + "/view/stream")
        await page.wait_for_function(
            "() => document.getElementById('camcast-player').dataset.mode === 'hls.js'", timeout=15000
        )
        button = page.locator("#camcast-sound")
        await button.wait_for(state="visible", timeout=15000)
        await button.click()
        await page.wait_for_function("() => document.getElementById('camcast-video').currentTime > 1")
        assert await page.evaluate(PAGE_LEVEL) > -30


async def test_rtsp_sends_opus_as_a_second_track_in_step(beep: Beeping, tmp_path: Path) -> None:
    """RTSP's description has an Opus track beside the H.264 (RFC 7587): ffmpeg over TCP and over UDP
    each record 3.5 s in which every beep is within 40 ms of its flash (sender reports line them up),
    and so does GStreamer's rtspsrc decoding the sound with its opusdec (at the beep's level);
    a link made without --audio is described and played without it, one made with it hears."""
    url = f"rtsp://127.0.0.1:{beep.rtsp}/camera"

    async def record(transport: str) -> list[float]:
        out = tmp_path / f"{transport}.mkv"
        command = ["ffmpeg", "-v", "error", "-rtsp_transport", transport, "-i", url, "-t", COPY,
                   "-c", "copy", str(out)]  # fmt: skip
        await asyncio.to_thread(subprocess.run, command, check=True, timeout=60)
        return offsets(out)

    async def described(made: tuple[str, ...]) -> tuple[str, list[str]]:
        listen = ("--listen", f"127.0.0.1:{beep.server.port}", "--rtsp", f"127.0.0.1:{beep.rtsp}")
        share = (await asyncio.to_thread(run_cli, "share", "--scope", "stream", *made, *listen)).stdout
        link = next(word for word in share.split() if word.startswith("rtsp://"))
        return share, await asyncio.to_thread(streams_of, link, "-rtsp_transport", "tcp")

    probed, tcp, udp, silent, with_sound, gst = await asyncio.gather(
        asyncio.to_thread(streams_of, url, "-rtsp_transport", "tcp"), record("tcp"), record("udp"),
        described(()), described(("--audio",)), asyncio.to_thread(gstreamer_hears, url, tmp_path / "gst.mkv"),
    )  # fmt: skip
    assert probed == ["h264", "opus"]
    found, level = gst
    assert len(found) >= 3 and max(abs(o) for o in found) <= 0.04, ("gstreamer", found)
    assert abs(level - BEEP_DBFS) < 1, level
    for transport, found in (("tcp", tcp), ("udp", udp)):
        assert len(found) >= 3 and max(abs(o) for o in found) <= 0.04, (transport, found)
    assert "with sound" not in silent[0] and silent[1] == ["h264"], silent
    assert "with sound" in with_sound[0] and with_sound[1] == ["h264", "opus"], with_sound


#: The beep's level while it sounds (dBFS): its 100 ms of tone.
BEEP_DBFS = dbfs(beep_samples(0.0, RATE // 10))


def gstreamer_hears(url: str, out: Path) -> tuple[list[float], float]:
    """GStreamer's rtspsrc plays ``url`` until 4 s of its sound are decoded (tests/gst_listen.py): each
    beep's offset from its flash in what it wrote, and the beeps' level."""
    script = Path(__file__).with_name("gst_listen.py")
    subprocess.run(["/usr/bin/python3", str(script), url, str(out), "4"], check=True, timeout=120)
    _flashes, beeps = onsets(out)
    with av.open(str(out)) as container:
        rate = container.streams.audio[0].sample_rate
        start = container.streams.audio[0].start_time * container.streams.audio[0].time_base
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    at = [round((b - float(start)) * rate) for b in beeps]
    heard = [samples[a + rate // 100 : a + rate // 100 * 9] for a in at]  # inside each beep
    return offsets(out), dbfs(np.concatenate(heard)) if heard else FLOOR


async def test_recordings_carry_the_sound_in_step(beep: Beeping) -> None:
    """--record continuous with the beep: each finished file (a normal MP4, indexed) has AAC beside
    the H.264, and in it every beep is within 40 ms of its flash."""
    folder = Path(os.environ["XDG_STATE_HOME"]) / "camcast" / "recordings"

    def finished() -> list[Path]:
        return sorted(p.with_suffix(".mp4") for p in folder.rglob("*.json"))

    await until(lambda: len(finished()) >= 1, seconds=40)
    first = finished()[0]
    assert json.loads(first.with_suffix(".json").read_text())["complete"]
    assert await asyncio.to_thread(streams_of, str(first)) == ["aac", "h264"]
    found = offsets(first)
    assert len(found) >= 2 and max(abs(o) for o in found) <= 0.04, found


async def test_the_pushes_carry_the_sound_in_step(tmp_path: Path) -> None:
    """--push to nginx's RTMP ingest and to FFmpeg listening as an RTSP server, at once, with the beep:
    ffprobe reads AAC beside the H.264 back from nginx, and FFmpeg receives both from the RTSP push; in
    the 5 s FFmpeg records from each (a live RTMP or RTSP stream read from its start may begin before
    its sound does: 3.5 s held two beeps in 1 run of 4), every beep is within 40 ms of its flash."""
    from tests.peers import nginx_rtmp

    rtsp = free_port()
    received = tmp_path / "received.mkv"
    listener = await rtsp_receiver(rtsp, "door", 5, received)
    with nginx_rtmp(tmp_path) as port:
        url = f"rtmp://127.0.0.1:{port}/live/door"
        async with camcast_server(*BEEP, "--push", url, "--push", f"rtsp://127.0.0.1:{rtsp}/door"):

            async def both() -> bool:
                try:
                    return await asyncio.to_thread(streams_of, url) == ["aac", "h264"]
                except subprocess.CalledProcessError:
                    return False  # not pushed yet

            await until(both, seconds=40, every=1)
            out = tmp_path / "pushed.mkv"
            command = ["ffmpeg", "-v", "error", "-i", url, "-t", "5", "-c", "copy", str(out)]
            await asyncio.to_thread(subprocess.run, command, check=True, timeout=60)
            assert await asyncio.wait_for(listener.wait(), 60) == 0
    assert await asyncio.to_thread(streams_of, str(received)) == ["aac", "h264"]
    for name, path in (("RTMP", out), ("RTSP push", received)):
        # FFmpeg receiving the RTSP push lines its tracks up by the sender reports, the first of which
        # comes within the push's first second: before it, its own arrival times (-66 ms in 1 CI run).
        found = offsets(path)[1:] if name == "RTSP push" else offsets(path)
        assert len(found) >= 3 and max(abs(o) for o in found) <= 0.04, (name, found, streams_of(str(path)))


async def test_published_hls_carries_the_sound_in_step(tmp_path: Path) -> None:
    """`publish --hls` to a folder with the beep: the published playlist plays AAC beside the H.264
    (ffprobe), every beep within 40 ms of its flash in FFmpeg's copy of it."""
    from tests.test_publish import publishing

    site = tmp_path / "site"
    playlist = site / "hls" / "index.m3u8"
    args = ("--to", str(site), "--hls", "--hls-segment", "1", "--hls-window", "6", "--every", "5")
    async with publishing(*BEEP, *args):
        await until(lambda: playlist.exists() and playlist.read_text().count(".m4s") >= 5, seconds=40)
    assert await asyncio.to_thread(streams_of, str(playlist)) == ["aac", "h264"]
    out = tmp_path / "copy.mkv"
    # From the first segment listed, and no more than it has (the live playlist is never ended).
    command = ["ffmpeg", "-v", "error", "-live_start_index", "0", "-i", str(playlist), "-t", "4.5",
               "-c", "copy", str(out)]  # fmt: skip
    await asyncio.to_thread(subprocess.run, command, check=True, timeout=60)
    found = offsets(out)
    assert len(found) >= 3 and max(abs(o) for o in found) <= 0.04, found


#: A file whose picture flashes and whose sound beeps in the first 100 ms of each second, in step to
#: the sample (H.264 without B-frames; AAC-LC at 44.1 kHz in stereo, or Opus in Matroska: formats
#: camcast's own encoders do not make, so what comes out in them was passed through).
FLASHING = (
    "color=black:s=320x240:r=15,drawbox=x=iw-60:y=ih-60:w=60:h=60:color=white:t=fill:"
    "enable='lt(mod(t\\,1)\\,0.1)'"
)
BEEPING = "aevalsrc='0.25*sin(2*PI*1000*t)*lt(mod(t\\,1)\\,0.1)':s=44100"
SOUND_CODECS = {".mp4": ["-c:a", "aac", "-ac", "2"], ".mkv": ["-c:a", "libopus", "-ac", "2", "-ar", "48000"]}


def flashing_file(path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", FLASHING, "-f", "lavfi", "-i", BEEPING, "-t", "30",
         "-c:v", "libx264", "-g", "15", "-bf", "0", "-pix_fmt", "yuv420p", *SOUND_CODECS[path.suffix],
         str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def flashing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return flashing_file(tmp_path_factory.mktemp("av") / "flashing.mp4")


@contextlib.contextmanager
def gst_camera(path: Path) -> Iterator[str]:
    """GStreamer's RTSP server serving ``path`` as a camera with a microphone; yields its URL."""
    port = free_port()
    script = Path(__file__).with_name("gst_camera.py")
    command = ["/usr/bin/python3", str(script), str(port), str(path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            yield f"rtsp://127.0.0.1:{port}/cam"
        finally:
            proc.terminate()
            proc.wait(10)


def sound_packets(path: Path | str) -> list[str]:
    """The MD5 of each packet of the first sound track in ``path``, as FFmpeg reads it (copied)."""
    command = ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-c", "copy", "-f",
               "framemd5", "-"]  # fmt: skip
    listed = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.rsplit(",", 1)[1].strip() for line in listed.splitlines() if not line.startswith("#")]


def probed_sound(path: Path | str) -> tuple[str, str, str]:
    """The first sound track's codec, sample rate and channels, as ffprobe reads them."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    codec, rate, channels = probe.stdout.split()[0].split(",")
    return codec, rate, channels


def assert_passed_through(copy: Path, source: Path, codec: str) -> None:
    """``copy``'s sound is ``source``'s own packets, byte for byte (an encoder makes other bytes), in
    its format (44.1 kHz stereo for AAC: camcast's encoders make 48 kHz mono)."""
    own, copied = set(sound_packets(source)), sound_packets(copy)
    assert len(copied) >= 50 and set(copied) <= own, (len(copied), len(set(copied) - own))
    assert probed_sound(copy) == (codec, "44100" if codec == "aac" else "48000", "2")


@pytest.mark.parametrize("kind", ["file", "rtsp camera"])
async def test_a_sources_own_sound_is_passed_through_in_step(
    kind: str, flashing: Path, tmp_path: Path
) -> None:
    """audio = "source": a file's AAC track, and an RTSP camera's (GStreamer's RTSP server sending the
    same file's AAC), come out of camcast's HLS and its recordings beside the pictures as they came
    (the source's packets, byte for byte, at 44.1 kHz stereo), every beep within 40 ms of its flash,
    as in the source."""
    recording = ("--record", "continuous", "--record-file-minutes", "0.05", "--record-min-free", "0")
    with contextlib.ExitStack() as stack:
        source = str(flashing) if kind == "file" else stack.enter_context(gst_camera(flashing))
        async with camcast_server("--source", source, "--audio", "source", *recording) as server:
            out = tmp_path / "copy.mp4"
            hls = server.url + "/hls/index.m3u8"
            command = ["ffmpeg", "-v", "error", "-i", hls, "-t", COPY, "-c", "copy", str(out)]
            await asyncio.to_thread(subprocess.run, command, check=True, timeout=60)
            folder = Path(os.environ["XDG_STATE_HOME"]) / "camcast" / "recordings"
            await until(lambda: any(folder.rglob("*.json")), seconds=30)
            recorded = next(folder.rglob("*.json")).with_suffix(".mp4")
    for copy in (out, recorded):
        found = offsets(copy)
        assert len(found) >= 2 and max(abs(o) for o in found) <= 0.04, (copy.name, found)
        assert_passed_through(copy, flashing, "aac")


async def test_a_sources_own_opus_is_passed_through_in_step(tmp_path: Path) -> None:
    """A file whose sound is Opus: camcast's RTSP carries its packets as they came (stereo, as the
    description says), in step; HLS, which needs AAC, carries the same sound encoded, in step too."""
    source = await asyncio.to_thread(flashing_file, tmp_path / "flashing.mkv")
    rtsp = free_port()
    served = ("--source", str(source), "--audio", "source", "--rtsp", f"127.0.0.1:{rtsp}")
    async with camcast_server(*served) as server:
        url, hls = f"rtsp://127.0.0.1:{rtsp}/camera", server.url + "/hls/index.m3u8"
        copies = {"rtsp": tmp_path / "rtsp.mkv", "hls": tmp_path / "hls.mp4"}
        await asyncio.gather(*(
            asyncio.to_thread(subprocess.run, ["ffmpeg", "-v", "error", *options, "-i", given, "-t", COPY,
                                               "-c", "copy", str(copies[name])], check=True, timeout=60)
            for name, given, options in (("rtsp", url, ["-rtsp_transport", "tcp"]), ("hls", hls, []))
        ))  # fmt: skip
    for copy in copies.values():
        found = offsets(copy)
        assert len(found) >= 2 and max(abs(o) for o in found) <= 0.04, (copy.name, found)
    assert_passed_through(copies["rtsp"], source, "opus")
    assert probed_sound(copies["hls"]) == ("aac", "48000", "1")


def test_a_source_without_sound_is_refused_in_one_line(tmp_path: Path) -> None:
    """audio = "source" for a file with no sound track: one line, exit 2, nothing started."""
    silent = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", FLASHING, "-t", "1", str(silent)],
                   check=True, timeout=60)  # fmt: skip
    result = run_cli(
        "serve", "--source", str(silent), "--audio", "source", "--listen", f"127.0.0.1:{free_port()}"
    )
    assert result.returncode == 2, result
    assert "carries no sound" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


async def test_sound_events_are_kept_told_and_recorded(tmp_path: Path) -> None:
    """--audio-events with the beep (louder than -30 dBFS for 100 ms each second): a sound event starts;
    the webhook gets it (kind sound), MQTT says sound ON with Home Assistant's discovery of the sound,
    its level and the microphone, and the events API lists it. The shutter ends it (webhook, MQTT OFF),
    and --record events has a clip naming it."""
    from tests.conftest import web_site
    from tests.peers import mosquitto_server, mqtt_listen, webhook_receiver

    app, posts = webhook_receiver()
    with mosquitto_server(tmp_path) as broker:
        seen: dict[str, list[bytes]] = {}
        ready = asyncio.Event()
        listening = asyncio.create_task(mqtt_listen(broker.port, seen, ready))
        await ready.wait()
        async with web_site(app) as hook:  # noqa: SIM117 - the receiver outlives the server's last message
            async with camcast_server(
                *BEEP, "--audio-events", "--audio-min-seconds", "0.05", "--motion-on-event", hook + "/hook",
                "--motion-mqtt", broker.url, "--record", "events", "--record-pre-seconds", "1",
                "--record-post-seconds", "0", "--record-min-free", "0",
            ) as server, aiohttp.ClientSession() as session:  # fmt: skip
                await until(lambda: [p["type"] for p in posts][:1] == ["start"], seconds=30)
                started = posts[0]["event"]
                assert isinstance(started, dict) and started["kind"] == "sound" and started["level"] > -30
                await until(lambda: seen.get("camcast/camera/sound", [])[-1:] == [b"ON"], seconds=20)
                await until(lambda: seen.get("camcast/camera/microphone", [])[-1:] == [b"on"], seconds=20)
                level = float(seen["camcast/camera/sound_level"][-1])
                assert -96 <= level <= 0
                sensors = {
                    t.split("/")[-2]: json.loads(v[-1]) for t, v in seen.items() if t.endswith("/config")
                }
                assert sensors["sound"]["device_class"] == "sound"
                assert sensors["sound_level"]["state_topic"] == "camcast/camera/sound_level"
                assert sensors["microphone"]["state_topic"] == "camcast/camera/microphone"
                async with session.get(server.url + "/api/events") as resp:
                    listed = (await resp.json())["events"]
                assert [e["kind"] for e in listed if e["id"] == started["id"]] == ["sound"]
                await asyncio.sleep(1.5)  # a second or so of the event in its clip
                async with session.post(server.url + "/api/pause") as resp:
                    assert resp.status == 200
                await until(lambda: [p["type"] for p in posts][:2] == ["start", "end"], seconds=20)
                await until(lambda: seen.get("camcast/camera/sound", [])[-1:] == [b"OFF"], seconds=20)
                await until(
                    lambda: seen.get("camcast/camera/microphone", [])[-1:] == [b"silenced"], seconds=20
                )

                def clips() -> list[dict[str, object]]:
                    result = run_cli("recordings", "--json")
                    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

                await until(lambda: any(started["id"] in c["events"] for c in clips()), seconds=30)  # type: ignore[operator]
        listening.cancel()
    assert "sound" in run_cli("events").stdout


async def test_push_to_talk_plays_the_owners_voice_on_the_speaker(beep: Beeping, tmp_path: Path) -> None:
    """audio_out: the owner's home page has a push-to-talk button; held, Chromium's (fake) microphone,
    a 1 kHz tone, goes over WebRTC to the speaker (ALSA, here its file plugin) and every page and the
    status say "talking"; let go, the talk ends and the speaker is closed. A second talker meanwhile
    is refused (409)."""
    server, played = beep.server, beep.played
    voice = tmp_path / "voice.wav"
    # Bursts, like speech: a steady tone is what a browser's noise suppression takes away first.
    tone = ["-f", "lavfi", "-i", "aevalsrc='0.5*sin(2*PI*700*t)*lt(mod(t\\,0.6)\\,0.3)':s=48000", "-t", "10"]
    subprocess.run(["ffmpeg", "-v", "error", *tone, str(voice)], check=True, timeout=60)
    fake = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={voice}")  # fmt: skip
    async with chromium(*fake) as browser, aiohttp.ClientSession() as session:
        page = await browser.new_page()
        await page.goto(server.url + "/")
        button = page.locator("#camcast-talk")
        await button.wait_for(state="visible", timeout=10000)
        # Pressed once the video plays: until then the page's layout still moves under the pointer.
        await page.wait_for_function(
            "() => document.getElementById('camcast-player').dataset.mode === 'webrtc'", timeout=10000
        )

        async def talking() -> bool:
            async with session.get(server.url + "/status.json") as resp:
                return bool((await resp.json())["talking"])

        await button.hover()
        await page.mouse.down()
        await until(talking, seconds=20)
        live = await browser.new_page()
        await live.goto(server.url + "/view/live")
        assert await live.locator("#camcast-talking").is_visible()  # every page says so
        sdp = {"Content-Type": "application/sdp"}
        async with session.post(server.url + "/api/talk", data=b"v=0", headers=sdp) as resp:
            assert resp.status == 400  # not an offer with a voice in it
        other = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        other.addTransceiver("audio", direction="sendonly")
        with ice.gathering_on(("127.0.0.1",)):
            await other.setLocalDescription(await other.createOffer())
        async with session.post(
            server.url + "/api/talk", data=other.localDescription.sdp, headers=sdp
        ) as resp:
            assert resp.status == 409, await resp.text()  # one talks at a time
        await other.close()
        await until(lambda: played.exists() and played.stat().st_size > RATE * 2, seconds=20)  # a second

        async def quiet() -> bool:
            return not await talking()

        await page.mouse.up()
        await until(quiet, seconds=20)
        assert await button.get_attribute("aria-pressed") == "false"
    samples = np.frombuffer(played.read_bytes(), np.int16)
    loudest = max(dbfs(samples[i : i + RATE // 10]) for i in range(0, len(samples), RATE // 10))
    assert len(samples) >= RATE and loudest > -30, loudest


async def test_only_owners_talk(accounts: object) -> None:  # noqa: F811
    """With accounts: a viewer's talk offer is refused (403), an owner's reaches the checks (a body
    that is no offer: 400); a camera without a speaker has no talk (404) and no button."""
    sdp = {"Content-Type": "application/sdp"}
    async with camcast_server(*BEEP, "--audio-out", "speaker") as server, aiohttp.ClientSession() as session:
        async with session.post(
            server.url + "/api/talk", data=b"v=0", headers={**sdp, **VIEWER.header}
        ) as resp:
            assert resp.status == 403
        async with session.post(
            server.url + "/api/talk", data=b"v=0", headers={**sdp, **OWNER.header}
        ) as resp:
            assert resp.status == 400
    async with camcast_server(*BEEP) as server, aiohttp.ClientSession() as session:
        async with session.post(
            server.url + "/api/talk", data=b"v=0", headers={**sdp, **OWNER.header}
        ) as resp:
            assert resp.status == 404
        async with session.get(server.url + "/", headers=OWNER.header) as resp:
            assert 'id="camcast-talk"' not in await resp.text()


def test_the_live_badge_says_mic_while_the_microphone_is_on() -> None:
    """The LIVE badge (--live-badge) reads LIVE MIC while the camera's microphone is on: wider, and
    its text differs; LIVE again once it is off."""
    from camcast.frames import Yuv420
    from camcast.picture.masks import live_badge_step

    on = [True]
    step = live_badge_step(lambda: on[0])
    with_mic = step(Yuv420.blank(640, 360), 0.0).v
    on[0] = False
    without = step(Yuv420.blank(640, 360), 0.0).v
    red = lambda plane: int((plane[:40] == 255).sum())  # noqa: E731 - red's Cr
    assert red(with_mic) > red(without) * 1.5 > 0
