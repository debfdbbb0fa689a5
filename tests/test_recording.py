"""Recording: clips of motion events with the seconds before and after, a continuous record in files,
kept within limits, cut off and recovered, stopped by the shutter, copied to a store, listed, exported,
played in Chromium and deleted. ffprobe reads every file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from tests.browser import chromium
from tests.conftest import camcast_server, run_cli
from tests.media import make_video
from tests.peers import S3_KEY, S3_SECRET, S3Peer
from tests.scenes import Mover, Scene
from tests.waiting import until

pytestmark = pytest.mark.timeout(180)

#: Nothing here needs the default 2 GiB free (a test machine may have less).
ROOM = ("--record-min-free", "0")


def probe(path: Path) -> tuple[str, float, int]:
    """(codec, seconds, frames) as ffprobe reads them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
         "stream=codec_name,nb_read_packets:format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    doc = json.loads(out)
    stream = doc["streams"][0]
    return stream["codec_name"], float(doc["format"].get("duration", 0)), int(stream["nb_read_packets"])


def listed(*args: str) -> list[dict[str, object]]:
    result = run_cli("recordings", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def crossing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MJPEG file, 640x360 at 10 fps, looped by camcast: 3 s still, a block crossing for 2 s, 5 s
    still."""
    scene = Scene(width=640, height=360, seconds=10, noise=3, movers=(Mover(3, 5, 80, 120, 0.3, 30),))
    return make_video(
        tmp_path_factory.mktemp("rec") / "crossing.mkv", codec="mjpeg", frames=100, fps=10, size=(640, 360),
        picture=lambda i: scene.luma(i / 10, i),
    )  # fmt: skip


async def test_a_clip_per_event_with_the_seconds_before_and_after(crossing: Path, tmp_path: Path) -> None:
    """With --record events: a clip per crossing, from a keyframe 2 s before it to 1 s after, that
    ffprobe reads as H.264 of that length (within a keyframe interval at each end); the clip names its
    event, the API lists it, `recordings --export EVENT` writes it, and Chromium plays it in the
    recordings page."""
    args = ("--source", str(crossing), "--motion", "--motion-gap-seconds", "1", "--record", "events",
            "--record-pre-seconds", "2", "--record-post-seconds", "1", *ROOM)  # fmt: skip
    async with camcast_server(*args) as server, aiohttp.ClientSession() as session:

        async def clips() -> list[dict[str, object]]:
            async with session.get(server.url + "/api/recordings") as resp:
                found: list[dict[str, object]] = (await resp.json())["recordings"]
            return found

        await until(lambda: _len_at_least(clips, 2), seconds=60)  # the first has less than 2 s before it
        clip = (await clips())[1]
        async with session.get(server.url + "/api/events") as resp:
            events = {e["id"]: e for e in (await resp.json())["events"]}
        (event_id,) = clip["events"]  # type: ignore[misc]
        event = events[event_id]
        path = tmp_path / "clip.mp4"
        async with session.get(server.url + str(clip["url"])) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
            path.write_bytes(await resp.read())
        codec, seconds, frames = probe(path)
        assert codec == "h264" and frames >= seconds * 8
        # From the keyframe at or before 2 s ahead of the event to the end of the group of pictures
        # holding 1 s after it: at most a group (1 s here) more at each end.
        expected = event["seconds"] + 2 + 1
        assert expected - 0.3 <= seconds <= expected + 2.3, (seconds, event)
        async with session.get(server.url + str(clip["url"]), headers={"Range": "bytes=0-99"}) as resp:
            assert resp.status == 206 and len(await resp.read()) == 100
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(server.url + "/view/recordings")
            await page.click("button.play")
            await page.wait_for_function(
                "() => document.getElementById('camcast-rec-player').currentTime > 1", timeout=20000
            )
    exported = tmp_path / "event.mp4"
    result = run_cli("recordings", "--export", str(event_id), str(exported))
    assert result.returncode == 0, result.stderr
    assert probe(exported)[0] == "h264" and probe(exported)[1] >= event["seconds"]
    assert any(r["events"] == [event_id] for r in listed())


async def _len_at_least(get: object, n: int) -> bool:
    return len(await get()) >= n  # type: ignore[operator]


async def test_continuous_files_a_cut_off_file_plays_and_the_size_limit_holds(crossing: Path) -> None:
    """--record continuous cuts files of about 3 s on keyframes. A server killed with SIGKILL leaves a
    file that ffprobe still reads to its last fragment; the next start lists it as cut off. With a size
    limit, the oldest files go and the total stays under it."""
    args = ("--source", str(crossing), "--record", "continuous", "--record-file-minutes", "0.05", *ROOM)
    async with camcast_server(*args) as server:
        await until(lambda: len(listed()) >= 2, seconds=40)
        await until(lambda: _writing_for(2.5), seconds=20)  # a file with fragments in it, being written
        server.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(server.proc.wait, 10)
    (cut,) = [p for p in _files() if not p.with_suffix(".json").exists()]
    codec, seconds, frames = probe(cut)
    assert codec == "h264" and frames > 10 and seconds > 1
    # A motion event the crash left open, a second and a half into the cut-off file.
    from camcast.clock import iso
    from camcast.record.names import NAME

    stamp = NAME.fullmatch(cut.name)
    assert stamp is not None
    began = time.mktime(time.strptime(stamp["day"] + stamp["time"], "%Y%m%d%H%M%S")) + 1.5
    journal = Path(os.environ["XDG_STATE_HOME"]) / "camcast" / "events" / "events.jsonl"
    crashed = {"id": "camera-crashed", "camera": "camera", "start": iso(began), "end": None, "peak": 0.1}
    with journal.open("a") as fh:
        fh.write(json.dumps(crashed) + "\n")
    for done in listed():
        assert abs(float(done["seconds"]) - 3.0) <= 1.1, done  # type: ignore[arg-type]
    limit = 3 * max(int(r["bytes"]) for r in listed())  # type: ignore[call-overload]
    async with camcast_server(*args, "--record-max-size", str(limit)) as server:
        before = listed()
        assert any(not r["complete"] for r in before)  # the cut-off file, recovered
        assert json.loads(cut.with_suffix(".json").read_text())["events"] == ["camera-crashed"]
        async with aiohttp.ClientSession() as http, http.get(server.url + "/api/events") as resp:
            (event,) = [e for e in (await resp.json())["events"] if e["id"] == "camera-crashed"]
        assert event["interrupted"] and event["clip_url"].endswith(cut.name), event
        oldest = before[0]["name"]
        # Files keep coming; the oldest goes first, and what is kept stays under the limit.
        await until(lambda: oldest not in {r["name"] for r in listed()}, seconds=60)
        await until(lambda: sum(int(r["bytes"]) for r in listed()) <= limit, seconds=20)  # type: ignore[call-overload]
        names = [r["name"] for r in listed()]
        assert names == sorted(names)  # type: ignore[type-var]


def _files() -> list[Path]:
    folder = Path(os.environ["XDG_STATE_HOME"]) / "camcast" / "recordings"
    return sorted(folder.glob("*/*/*.mp4"))


def _writing_for(seconds: float) -> bool:
    """A file without its sidecar yet (being written) that is at least ``seconds`` old."""
    writing = [p for p in _files() if not p.with_suffix(".json").exists()]
    return bool(writing) and time.time() - _started(writing[-1]) >= seconds


def _started(path: Path) -> float:
    import datetime

    stem = path.stem.split("-", 1)[1]  # YYYYMMDD-HHMMSS-mmm
    moment = datetime.datetime.strptime(stem[:15], "%Y%m%d-%H%M%S")
    return moment.timestamp() + int(stem[-3:]) / 1000


async def test_the_shutter_ends_the_clip_and_a_full_disk_stops_recording(
    crossing: Path, tmp_path: Path
) -> None:
    """Pausing ends the clip at once (none holds the paused card) and resuming starts a new one, after
    the gap. A free-space floor above what the disk has deletes the recordings, oldest first, then
    stops recording with one warning while the camera is still served; a reload that lowers it lets
    recording resume."""
    config = tmp_path / "camcast.toml"
    config.write_text(
        f'source = {json.dumps(str(crossing))}\n[record]\nmode = "continuous"\nfile_minutes = 0.05\n'
        'min_free = "0"\n'
    )
    async with camcast_server("--config", str(config)) as server, aiohttp.ClientSession() as session:

        async def recording() -> bool:
            async with session.get(server.url + "/status.json") as resp:
                return bool((await resp.json())["recording"])

        await until(recording, seconds=20)
        async with session.post(server.url + "/api/pause") as resp:
            paused_at = time.time()
            assert resp.status == 200
        assert not await recording()
        await until(lambda: len(listed()) >= 1, seconds=20)
        assert max(_unix(r["end"]) for r in listed()) <= paused_at + 0.5
        async with session.post(server.url + "/api/resume") as resp:
            resumed_at = time.time()
        await until(lambda: any(_unix(r["start"]) > paused_at for r in listed()), seconds=30)
        after = [r for r in listed() if _unix(r["start"]) > paused_at]
        assert min(_unix(r["start"]) for r in after) >= resumed_at - 0.5  # the paused time is a gap
        free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
        impossible = f"min_free = {free + 2**40}"
        config.write_text(config.read_text().replace('min_free = "0"', impossible))
        server.proc.send_signal(signal.SIGHUP)
        await until(lambda: "recording stops" in server.stderr_so_far(), seconds=20)
        assert not await recording()
        await until(lambda: listed() == [], seconds=20)  # every recording deleted to make room
        async with session.get(server.url + "/snapshot.jpg") as resp:
            assert resp.status == 200  # the camera is still served
        config.write_text(config.read_text().replace(impossible, 'min_free = "0"'))
        server.proc.send_signal(signal.SIGHUP)
        await until(recording, seconds=30)
        assert "recording resumes" in server.stderr_so_far()


def _unix(text: object) -> float:
    import datetime

    return datetime.datetime.fromisoformat(str(text)).timestamp()


async def test_clips_are_copied_to_a_store_and_are_the_owners(
    crossing: Path, s3_peer: S3Peer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """copy_to SeaweedFS's S3: each finished file and its sidecar appear there. /api/recordings needs the
    owner or a recordings link; a link to one recording opens that one only; such links cannot delete;
    the owner's DELETE removes the file and the viewer log says who watched and who deleted."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    s3_peer.create_bucket("archive")
    args = ("--source", str(crossing), "--record", "continuous", "--record-file-minutes", "0.05", *ROOM,
            "--record-copy-to", s3_peer.url("archive", "cams/"))  # fmt: skip
    async with camcast_server(*args) as server, aiohttp.ClientSession() as session:
        await until(lambda: len(listed()) >= 2, seconds=30)
        first, second = listed()[:2]
        day = Path(str(first["path"])).parent.name
        key = f"cams/camera/{day}/{first['name']}"
        await until(lambda: _public(s3_peer.public("archive", key)) == 200, seconds=30)
        sidecar = key.removesuffix(".mp4") + ".json"
        await until(lambda: _public(s3_peer.public("archive", sidecar)) == 200, seconds=10)
        link = run_cli("share", "--scope", "recordings", "--listen", f"127.0.0.1:{server.port}").stdout
        token = link.split("token=", 1)[1].split()[0]
        watch = run_cli("share", "--scope", "watch", "--listen", f"127.0.0.1:{server.port}").stdout
        watch_token = watch.split("token=", 1)[1].split()[0]
        async with session.get(server.url + f"/api/recordings?token={watch_token}") as resp:
            assert resp.status == 403
        async with session.get(server.url + f"/api/recordings?token={token}") as resp:
            doc = await resp.json()
        url = next(r["url"] for r in doc["recordings"] if r["name"] == first["name"])
        async with session.get(server.url + url + f"?token={token}") as resp:
            assert resp.status == 200
        one = run_cli("share", "--scope", "recordings", "--recording", str(second["name"]), "--listen",
                      f"127.0.0.1:{server.port}").stdout  # fmt: skip
        one_token = one.split("token=", 1)[1].split()[0]
        async with session.get(server.url + f"/api/recordings?token={one_token}") as resp:
            assert [r["name"] for r in (await resp.json())["recordings"]] == [second["name"]]
        async with session.get(server.url + url + f"?token={one_token}") as resp:
            assert resp.status == 404  # the first recording: not this link's
        api = url.replace("/recordings/", "/api/recordings/")
        async with session.delete(server.url + api + f"?token={token}") as resp:
            assert resp.status == 403
        async with session.delete(server.url + api, headers={"Origin": "https://elsewhere.example"}) as resp:
            assert resp.status == 403
        async with session.delete(server.url + api) as resp:
            assert resp.status == 204
        assert not await asyncio.to_thread(Path(str(first["path"])).exists)
        async with session.get(server.url + url) as resp:
            assert resp.status == 404
        viewers = run_cli("viewers", "--listen", f"127.0.0.1:{server.port}").stdout
        assert (
            f"watch recording {first['name']}" in viewers and f"delete recording {first['name']}" in viewers
        )


def _public(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def test_recording_settings_are_checked(tmp_path: Path) -> None:
    """Bad values are one line naming the key; nothing is recorded by default and the limits have
    defaults (14 days, 2 GiB free)."""
    result = run_cli("config", "--record", "always")
    assert result.returncode == 2 and "--record must be one of off, events, continuous" in result.stderr
    result = run_cli("config", "--record-max-size", "lots")
    assert result.returncode == 2 and "--record-max-size must be a size in bytes" in result.stderr
    shown = run_cli("config").stdout
    assert '[record]\nmode = "off"' in shown and "max_days = 14.0" in shown and 'min_free = "2G"' in shown
    result = run_cli("serve", "--record-copy-to", "gopher://x/", "--record", "continuous")
    assert result.returncode == 2 and "Traceback" not in result.stderr


async def test_copies_have_their_own_retention(crossing: Path, tmp_path: Path) -> None:
    """copy_to a folder: the first copy prunes that camera's day folders there older than max_days; a
    folder not named as a day is left alone."""
    dest = tmp_path / "archive"
    old = dest / "camera" / "2020-01-01"
    old.mkdir(parents=True)
    (old / "camera-20200101-000000-000.mp4").write_bytes(b"old")
    mine = dest / "camera" / "keep-me"
    mine.mkdir()
    (mine / "notes.txt").write_text("the owner's")
    args = ("--source", str(crossing), "--record", "continuous", "--record-file-minutes", "0.05", *ROOM,
            "--record-copy-to", str(dest))  # fmt: skip
    async with camcast_server(*args):
        await until(lambda: any(dest.glob("camera/20*/*.json")), seconds=30)
        await until(lambda: not any(old.iterdir()), seconds=10)
    assert (mine / "notes.txt").exists()


async def test_a_stalled_disk_holds_a_bounded_queue_then_the_gap_is_marked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Continuous recording onto a disk whose writes block: at most RECORD_QUEUE groups of pictures
    wait (memory stays bounded however long it stalls); the clip ends there, its sidecar says it was
    cut because the disk fell behind, and once the disk answers again the next clip starts."""
    import threading

    from camcast.config import CameraSettings
    from camcast.encode.h264 import H264Encoder
    from camcast.encode.rendition import Rendition
    from camcast.hub import Hub
    from camcast.record import clip, recorder
    from camcast.record.recorder import Recorder
    from camcast.sources.pattern import PatternSource

    monkeypatch.setattr(recorder, "RECORD_QUEUE", 5)
    disk = threading.Event()
    write = clip.Clip.add

    def stalled(self: clip.Clip, gop: object) -> None:
        disk.wait(60)  # a network share that stopped answering
        write(self, gop)  # type: ignore[arg-type]

    monkeypatch.setattr(clip.Clip, "add", stalled)
    hub = Hub(PatternSource(160, 120, 30))
    rendition = Rendition(H264Encoder(200_000, 0.2, 30))  # a group of pictures every 0.2 s
    hub.subscribe(rendition.receive)
    finished: list[clip.Recording] = []
    settings = CameraSettings(id="cam", record="continuous", record_min_free=0)
    rec = Recorder(hub, rendition, settings, tmp_path, finished.append)
    tasks = [asyncio.create_task(hub.run()), asyncio.create_task(rendition.run())]
    rec.start()
    try:
        await until(lambda: rec.gaps == 1)
        most, frames = rec._worker.waiting, hub.frames_in

        def ten_more_groups() -> bool:  # 60 frames at a group every 0.2 s: none of them is kept
            nonlocal most
            most = max(most, rec._worker.waiting)
            return hub.frames_in >= frames + 60

        await until(ten_more_groups, every=0.02)
        assert most <= 5 + 2 and rec.clip is None and rec.gaps == 1
        disk.set()
        await until(lambda: len(finished) == 1 and rec.clip is not None)  # caught up: a new clip
        assert finished[0].cut == recorder.DISK_BEHIND
        doc = json.loads(finished[0].path.with_suffix(".json").read_text())
        assert doc["cut"] == "the disk fell behind" and doc["complete"] is True
        assert probe(finished[0].path)[0] == "h264"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await rec.aclose()
        rendition.close()


async def test_the_recordings_api_and_page_show_the_limits_in_force(tmp_path: Path) -> None:
    """/api/recordings says the limits each camera records within and where it stands (bytes used,
    the disk's free bytes); the recordings page shows them in a line."""
    args = ("--source", "pattern", "--size", "160x120", "--record", "continuous", "--record-max-size", "1G",
            "--record-max-days", "7", *ROOM)  # fmt: skip
    async with camcast_server(*args) as server, aiohttp.ClientSession() as http:

        async def limits() -> dict[str, object]:
            async with http.get(server.url + "/api/recordings") as resp:
                found: dict[str, object] = (await resp.json())["limits"]["camera"]
                return found

        async def free_known() -> bool:
            return isinstance((await limits()).get("free"), int)  # the first sweep has looked

        await until(free_known, 10)
        doc = await limits()
        assert doc["max_size"] == 1024**3 and doc["max_days"] == 7 and doc["used"] == 0
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(server.url + "/view/recordings")
            line = "document.getElementById('camcast-rec-limits').textContent"
            await page.wait_for_function(f"() => /Limits: .*of at most 1\\.00 GiB, kept 7 days/.test({line})")
    assert "at most 1 GiB" in server.stdout
