"""Motion detection: scenes with known truth through the detector and tracker (the JPEG path a camera
takes), and the whole thing in a running server: events in the log, the API, the page, the CLI, a
webhook receiver, a command, the shutter and privacy masks."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import simplejpeg

from camcast.frames import Encoded, Frame
from camcast.motion.detector import Detector
from camcast.motion.events import Event, EventLog, Tracker
from camcast.motion.grey import small_grey
from camcast.picture.regions import parse_region, watched
from tests.conftest import camcast_server, run_cli, web_site
from tests.media import make_video
from tests.peers import webhook_receiver
from tests.scenes import Light, Mover, Scene, matched
from tests.waiting import until

FPS = 5.0
#: Changes of the whole picture each detector reported, by id(detector).
LIGHTS: dict[int, int] = {}


def detect(
    scene: Scene, sensitivity: float = 0.5, watch: np.ndarray | None = None
) -> tuple[list[tuple[float, float]], Detector]:
    """Every event the detector and tracker find in ``scene``, analysed as a camera's JPEGs at FPS."""
    detector = Detector(sensitivity, watch)
    tracker = Tracker("test", min_seconds=0.3, gap_seconds=2.0)
    found = []
    for t, luma in scene.frames(FPS):
        data = simplejpeg.encode_jpeg(np.repeat(luma[:, :, None], 3, axis=2), 85)
        grey = small_grey(Frame(0, t, t, scene.width, scene.height, Encoded("jpeg", data)))
        assert grey is not None
        analysis = detector.analyse(grey)
        LIGHTS[id(detector)] = LIGHTS.get(id(detector), 0) + analysis.light
        for kind, event in tracker.update(t, analysis):
            if kind == "end":
                assert event.end is not None
                found.append((event.start, event.end))
    for _kind, event in tracker.close():
        assert event.end is not None
        found.append((event.start, event.end))
    return found, detector


def test_things_crossing_are_found_within_half_a_second_and_lights_are_not() -> None:
    """A person-sized thing and a small one (48x48 in 1280x720) crossing, with lights dimming, going up
    at once, and a lamp on one side: both crossings found, start and end within 0.5 s; nothing else."""
    scene = Scene(
        seconds=40,
        movers=(Mover(5, 9, 120, 240, 0.3, 30), Mover(15, 18, 48, 48, 0.6, 200)),
        lights=(Light(24, 25, 1.0, 0.55), Light(30, 30.5, 1.0, 1.6), Light(34, 35, 1.0, 1.0, slope=0.6)),
    )
    found, _ = detect(scene)
    assert matched(found, scene.truth, within=0.5) == (2, 0, 0), (found, scene.truth)


def test_noise_light_switches_and_a_knocked_camera_raise_nothing() -> None:
    """A still scene with sensor noise, the light switched off and on at once, a lamp on one side
    switched, and the camera knocked twice: no event; the knocks are taken for a change of the whole
    picture."""
    scene = Scene(
        seconds=34,
        lights=(Light(5, 5, 1.0, 0.6), Light(12, 12, 1.0, 1.5), Light(20, 20.2, 1.0, 0.8, slope=1.0)),
        noise=6.0,
        shakes=(26.0, 30.0),
    )
    found, detector = detect(scene)
    assert found == []
    assert LIGHTS[id(detector)] >= 2  # each knock resets the background


def test_constant_motion_backs_off_and_a_person_is_still_seen() -> None:
    """Leaves moving all the time in a corner fire at first, then raise the threshold there (shown as
    ``raised``); someone crossing elsewhere a minute later is still found."""
    leaves = (0.65, 0.05, 0.95, 0.45)
    scene = Scene(seconds=90, leaves=leaves, movers=(Mover(70, 74, 120, 240, 0.5, 30),))
    found, detector = detect(scene)
    late = [(s, e) for s, e in found if s > 30]
    assert matched(late, scene.truth, within=0.5) == (1, 0, 0), found
    assert all(e < 30 for s, e in found if (s, e) not in late)
    raised = detector.raised
    assert raised is not None
    h, w = raised.shape
    corner = raised[int(leaves[1] * h) : int(leaves[3] * h), int(leaves[0] * w) : int(leaves[2] * w)]
    assert corner.mean() > 0.8 and raised.mean() < 0.2


def test_zones_and_ignored_areas() -> None:
    """Motion only inside an ignored area raises nothing; inside a zone it does, naming the zone."""
    scene = Scene(seconds=12, movers=(Mover(3, 7, 80, 120, 0.1, 30, x0=0.0, x1=0.3),))
    ignore = (parse_region("0,0,0.5,0.5"),)
    found, _ = detect(scene, watch=watched((), ignore, 160, 90))
    assert found == []
    zones = (parse_region("0.5,0.5,1,1"), parse_region("0,0 0.5,0 0.5,0.5 0,0.5"))
    tracker = Tracker("test", 0.3, 2.0, zones=tuple(z.raster(160, 90) for z in zones))
    detector = Detector(0.5, watched(zones, (), 160, 90))
    events = []
    for t, luma in scene.frames(FPS):
        from camcast.motion.grey import block_mean

        events += [e for kind, e in tracker.update(t, detector.analyse(block_mean(luma, 8))) if kind == "end"]
    assert len(events) == 1 and events[0].zones == (1,)


def test_the_log_survives_a_crash_and_stays_bounded(tmp_path: Path) -> None:
    """An event left open by a crash is closed (``interrupted``) when the log is opened again; a line
    cut short is skipped; past the limit the oldest go, with their pictures."""
    now = time.time()
    log = EventLog(tmp_path, max_events=3)
    log.open()
    log.write(Event("a", "cam", now - 10))
    with log.file.open("a") as fh:
        fh.write('{"id": "b", "camera": "ca')  # the crash
    again = EventLog(tmp_path, max_events=3)
    again.open()
    (event,) = again.read()
    assert event.interrupted and event.end == event.start
    assert again.file.read_bytes().endswith(b"\n")  # the cut line is gone: the next one stands alone
    for i in range(5):
        again.write_picture(f"n{i}", b"\xff\xd8\xff\xd9")
        again.write(Event(f"n{i}", "cam", now + i, now + i + 1))
    again.open()
    assert [e.id for e in again.read()] == ["n2", "n3", "n4"]
    assert sorted(p.name for p in again.pictures.iterdir()) == ["n2.jpg", "n3.jpg", "n4.jpg"]


# --- in a running server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crossing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MJPEG file, 640x360 at 10 fps: 2 s still, a block crossing for 2 s, 4 s still (looped)."""
    scene = Scene(width=640, height=360, seconds=8, noise=3, movers=(Mover(2, 4, 80, 120, 0.3, 30),))
    return make_video(
        tmp_path_factory.mktemp("motion") / "crossing.mkv", codec="mjpeg", frames=80, fps=10, size=(640, 360),
        picture=lambda i: scene.luma(i / 10, i),
    )  # fmt: skip


async def test_events_reach_the_log_api_page_webhook_and_command(crossing: Path, tmp_path: Path) -> None:
    """With --motion: each crossing is an event; the webhook receiver gets its start and end as JSON,
    the command runs with CAMCAST_* variables, /api/events and `camcast events --json` list it with a
    picture, status and metrics say motion is on, and the page shows the "watching" badge."""
    app, posts = webhook_receiver()
    out = tmp_path / "command.txt"
    script = (
        f"import os; open({str(out)!r}, 'a')"
        ".write(os.environ['CAMCAST_EVENT'] + ' ' + os.environ['CAMCAST_PICTURE'] + chr(10))"
    )
    command = f"{sys.executable} -c {json.dumps(script)}"
    async with web_site(app) as hook:  # noqa: SIM117 - the receiver outlives the server's last message
        async with camcast_server(
            "--source", str(crossing), "--motion", "--motion-gap-seconds", "1",
            "--motion-on-event", hook + "/hook", "--motion-on-event-command", command,
        ) as server, aiohttp.ClientSession() as session:  # fmt: skip
            await until(lambda: [p["type"] for p in posts][:2] == ["start", "end"], seconds=30)
            event = posts[1]["event"]
            assert isinstance(event, dict) and event["end"] is not None and event["peak"] > 0
            async with session.get(server.url + "/api/events") as resp:
                listed = (await resp.json())["events"]
            assert listed[0]["id"] == event["id"] and listed[0]["start"].endswith(("+00:00", "Z")) is not None
            async with session.get(server.url + listed[0]["picture_url"]) as resp:
                assert resp.status == 200 and (await resp.read())[:2] == b"\xff\xd8"
            async with session.get(server.url + "/status.json") as resp:
                status = await resp.json()
            assert status["motion"] is True and status["events_total"] >= 1
            async with session.get(server.url + "/metrics") as resp:
                assert 'camcast_motion_events_total{camera="camera"}' in await resp.text()
            async with session.get(server.url + "/") as resp:
                page = await resp.text()
            assert 'id="camcast-motion"' in page and 'data-events="/api/events"' in page
            await until(lambda: out.exists() and out.read_text().count("\n") >= 2, seconds=30)
            kind, picture = out.read_text().splitlines()[0].split(" ", 1)
            assert kind == "start" and Path(picture).read_bytes()[:2] == b"\xff\xd8"
    result = run_cli("events", "--json")
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert docs[0]["id"] == event["id"] and {"id", "camera", "start", "end", "peak"} <= set(docs[0])
    table = run_cli("events")
    assert event["id"] in table.stdout


async def test_masks_come_before_detection_and_the_shutter_stops_it(crossing: Path) -> None:
    """A privacy mask over the crossing: the detector analyses pictures but finds nothing. Without the
    mask, closing the shutter ends the open event at once."""
    masked = ("--source", str(crossing), "--motion", "--mask", "0,0,640,360")
    async with camcast_server(*masked) as server, aiohttp.ClientSession() as session:

        async def analysed() -> bool:
            async with session.get(server.url + "/metrics") as resp:
                text = await resp.text()
            line = next(x for x in text.splitlines() if x.startswith("camcast_motion_analyses_total"))
            return float(line.split()[-1]) >= 60  # past two loops of the file

        await until(analysed, seconds=40)
        async with session.get(server.url + "/api/events") as resp:
            assert (await resp.json())["events"] == []
    long_gap = ("--source", str(crossing), "--motion", "--motion-gap-seconds", "30")
    async with camcast_server(*long_gap) as server, aiohttp.ClientSession() as session:

        async def active() -> bool:
            async with session.get(server.url + "/status.json") as resp:
                return bool((await resp.json())["motion_active"])

        await until(active, seconds=30)
        async with session.post(server.url + "/api/pause") as resp:
            assert resp.status == 200

        async def ended() -> bool:
            async with session.get(server.url + "/api/events") as resp:
                events = (await resp.json())["events"]
            return bool(events) and events[-1]["end"] is not None

        await until(ended, seconds=5)
        assert not await active()


async def test_events_are_the_owners(crossing: Path) -> None:
    """A viewer's status says motion is on but not what it sees, and /api/events needs the owner or an
    events link: a viewer and a watch link are refused, an events link opens nothing else."""
    added = run_cli("users", "add", "visitor", "--password-stdin", stdin="a long visitor password\n")
    assert added.returncode == 0, added.stderr
    viewer = {"Authorization": "Basic " + base64.b64encode(b"visitor:a long visitor password").decode()}
    async with (
        camcast_server("--source", str(crossing), "--motion") as server,
        aiohttp.ClientSession() as session,
    ):
        listen = ("--listen", f"127.0.0.1:{server.port}")
        watch = run_cli("share", "--scope", "watch", *listen).stdout.split("token=", 1)[1].split()[0]
        events = run_cli("share", "--scope", "events", *listen).stdout.split("token=", 1)[1].split()[0]
        async with session.get(server.url + f"/api/events?token={watch}") as resp:
            assert resp.status == 403
        async with session.get(server.url + "/api/events", headers=viewer) as resp:
            assert resp.status == 403
        async with session.get(server.url + f"/api/events?token={events}") as resp:
            assert resp.status == 200
        async with session.get(server.url + f"/snapshot.jpg?token={events}") as resp:
            assert resp.status == 403
        async with session.get(server.url + "/status.json", headers=viewer) as resp:
            status = await resp.json()
        assert status["motion"] is True and "motion_active" not in status and "events_total" not in status


def test_motion_settings_are_checked(tmp_path: Path) -> None:
    """Motion keys live in a [motion] table; a bad one is one line naming it."""
    flat = tmp_path / "flat.toml"
    flat.write_text("motion_sensitivity = 0.4\n")
    result = run_cli("config", "--config", str(flat))
    assert result.returncode == 2 and "belongs in a [motion] table, as sensitivity" in result.stderr
    typo = tmp_path / "typo.toml"
    typo.write_text("[cameras.door]\nsource = 'pattern'\n[cameras.door.motion]\nsensitivty = 0.4\n")
    result = run_cli("config", "--config", str(typo))
    assert (
        "unknown key 'sensitivty' in [cameras.door.motion]" in result.stderr
        and "sensitivity" in result.stderr
    )
    zone = tmp_path / "zone.toml"
    zone.write_text("[motion]\nzones = [[0, 0, 1.5, 1]]\n")
    result = run_cli("config", "--config", str(zone))
    assert result.returncode == 2 and "[motion] zones" in result.stderr and "Traceback" not in result.stderr
    good = tmp_path / "good.toml"
    good.write_text('[motion]\nenabled = true\nzones = [[0, 0.4, 1, 1]]\non_event_command = ["true"]\n')
    shown = run_cli("config", "--config", str(good)).stdout
    assert "[motion]\nenabled = true" in shown and "zones = [[0, 0.4, 1, 1]]" in shown
    result = run_cli("events", "--since", "yesterday")
    assert result.returncode == 2 and "not a time" in result.stderr


async def test_mqtt_tells_home_assistant_and_outlives_the_broker(crossing: Path, tmp_path: Path) -> None:
    """Against Mosquitto: Home Assistant's discovery (a motion binary_sensor and a camera), then the
    motion topic ON and OFF and the event's picture. The broker stopped: camcast keeps serving and says
    it retries; the broker back: camcast announces itself again."""

    from tests.peers import mosquitto_server, mqtt_listen

    with mosquitto_server(tmp_path) as broker:
        seen: dict[str, list[bytes]] = {}

        def subscribe(ready: asyncio.Event) -> Coroutine[Any, Any, None]:
            return mqtt_listen(broker.port, seen, ready)

        ready = asyncio.Event()
        listener = asyncio.create_task(subscribe(ready))
        await ready.wait()
        args = (
            "--source",
            str(crossing),
            "--motion",
            "--motion-gap-seconds",
            "1",
            "--motion-mqtt",
            broker.url,
        )
        async with camcast_server(*args) as server, aiohttp.ClientSession() as session:
            await until(lambda: seen.get("camcast/camera/motion", [])[-2:] == [b"ON", b"OFF"], seconds=30)
            sensors = [t for t in seen if t.startswith("homeassistant/binary_sensor/") and "/motion/" in t]
            cameras = [t for t in seen if t.startswith("homeassistant/camera/")]
            assert len(sensors) == 1 and len(cameras) == 1
            config = json.loads(seen[sensors[0]][0])
            assert config["device_class"] == "motion" and config["state_topic"] == "camcast/camera/motion"
            assert json.loads(seen[cameras[0]][0])["topic"] == "camcast/camera/picture"
            await until(lambda: seen.get("camcast/camera/picture", [b""])[-1][:2] == b"\xff\xd8")
            availability = config["availability_topic"]
            assert seen[availability][-1] == b"online"
            listener.cancel()
            broker.stop()
            await until(lambda: "MQTT mqtt://" in server.stderr_so_far(), seconds=15)  # one line
            async with session.get(server.url + "/status.json") as resp:
                failing = (await resp.json())["failing"]
            assert [p for p in failing if p.startswith("MQTT ")], failing  # the owner sees it
            async with session.get(server.url + "/snapshot.jpg") as resp:
                assert resp.status == 200  # the camera does not wait for the broker
            broker.start()
            seen.clear()
            ready = asyncio.Event()
            listener = asyncio.create_task(subscribe(ready))
            await ready.wait()
            await until(lambda: seen.get(availability, [b""])[-1] == b"online", seconds=40)
            assert any(t.startswith("homeassistant/binary_sensor/") for t in seen)
        listener.cancel()


async def test_h264_is_decoded_for_motion(tmp_path: Path) -> None:
    """An H.264 file, passed through untouched for video, is decoded while motion watches it: its
    crossing is an event."""
    scene = Scene(width=640, height=360, seconds=8, noise=3, movers=(Mover(2, 4, 80, 120, 0.3, 30),))
    video = make_video(
        tmp_path / "crossing.mp4", codec="h264", frames=80, fps=10, size=(640, 360),
        picture=lambda i: scene.luma(i / 10, i), options={"g": "10", "bf": "0"},  # passed through
    )  # fmt: skip
    args = ("--source", str(video), "--motion", "--motion-gap-seconds", "1")
    async with camcast_server(*args) as server, aiohttp.ClientSession() as session:

        async def an_event() -> bool:
            async with session.get(server.url + "/api/events") as resp:
                return any(e["end"] for e in (await resp.json())["events"])

        await until(an_event, seconds=30)


async def test_a_reload_turns_motion_on(crossing: Path, tmp_path: Path) -> None:
    """SIGHUP with a [motion] table added: motion starts without a restart and finds the crossing."""
    config = tmp_path / "camcast.toml"
    config.write_text(f"source = {json.dumps(str(crossing))}\n")
    async with camcast_server("--config", str(config)) as server, aiohttp.ClientSession() as session:

        async def status() -> dict[str, object]:
            async with session.get(server.url + "/status.json") as resp:
                doc: dict[str, object] = await resp.json()
                return doc

        assert (await status())["motion"] is False
        config.write_text(config.read_text() + "\n[motion]\nenabled = true\ngap_seconds = 1\n")
        server.proc.send_signal(signal.SIGHUP)
        await until(lambda: status_has(status, "events_total"), seconds=30)


async def status_has(status: Callable[[], Awaitable[dict[str, object]]], key: str) -> bool:
    doc = await status()
    return bool(doc["motion"]) and bool(doc.get(key))


@pytest.mark.timeout(30)  # a follower that never prints would block its readline
def test_events_follow_prints_each_start_and_end(tmp_path: Path) -> None:
    """`camcast events --follow --json` prints a line when an event starts and when it ends."""
    from camcast.paths import events_dir

    log = EventLog(events_dir())
    log.open()
    command = [sys.executable, "-m", "camcast", "events", "--follow", "--json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as follower:
        try:
            assert follower.stdout is not None and follower.stderr is not None
            assert "following" in follower.stderr.readline()  # it has read the log as it is
            now = time.time()
            log.write(Event("door-1", "door", now))
            log.write(Event("door-1", "door", now, now + 2, peak=0.1))
            lines = [json.loads(follower.stdout.readline()) for _ in range(2)]
        finally:
            follower.terminate()
    assert [(d["type"], d["id"], d["end"] is None) for d in lines] == [
        ("start", "door-1", True),
        ("end", "door-1", False),
    ]


async def test_a_command_gets_the_event_and_none_of_camcasts_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The program a command notifier runs (here env(1)) sees the CAMCAST_EVENT* variables and PATH,
    never the passwords and keys camcast was started with; a failing program is one line naming its
    status and its last output."""
    from camcast.motion.events import Event
    from camcast.motion.notify import NotifyFailed
    from camcast.motion.notify.command import environment, run_command

    monkeypatch.setenv("CAMCAST_UPLOAD_PASSWORD", "hunter2-upload")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2-aws")
    monkeypatch.setenv("CAMCAST_TURN_PASSWORD", "hunter2-turn")
    lines: list[str] = []
    event = Event("door-1", "door", time.time(), None, 0.2)
    await run_command(["env"], environment("start", event, tmp_path), 10, lines.append)
    seen = dict(line.split("=", 1) for line in lines if "=" in line)
    assert seen["CAMCAST_EVENT"] == "start" and seen["CAMCAST_CAMERA"] == "door" and "PATH" in seen
    assert not [line for line in lines if "hunter2" in line], lines
    with pytest.raises(NotifyFailed, match=r"sh exited with status 3: nope"):
        await run_command(["sh", "-c", "echo nope; exit 3"], environment("end", event, tmp_path), 10)
