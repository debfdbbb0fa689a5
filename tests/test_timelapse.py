"""The timelapse (issue 34): the window from the clock or the sun (against almanac values, the Arctic
too), no flicker, and a day made in seconds by a running server: the film's length, the shutter's gap,
the film published with its page (nginx and Chromium), copied to S3 (SeaweedFS), watched through the
server and a share link, and made again on demand by ``camcast timelapse --make``."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import pwd
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from camcast.daylight import parse_window, span
from camcast.timelapse.deflicker import Deflicker, brightness
from tests.browser import chromium
from tests.conftest import camcast_server, free_port, run_cli
from tests.media import make_video
from tests.peers import S3_KEY, S3_SECRET, FtpPeer, S3Peer, nginx_running, vsftpd_server
from tests.scenes import Light, Scene
from tests.test_full_disk import Filler, small_disk  # noqa: F401 - the fixture
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)

SUN = parse_window("sunrise..sunset")


@pytest.mark.parametrize(
    ("place", "where", "day", "utc_offset", "rise", "fall"),
    [  # timeanddate.com's almanac, to the minute
        ("London", (51.5074, -0.1278), datetime.date(2026, 6, 21), 1, "04:43", "21:21"),
        ("Sydney", (-33.8688, 151.2093), datetime.date(2026, 12, 21), 11, "05:41", "20:05"),
        ("Reykjavik", (64.1466, -21.9426), datetime.date(2026, 12, 21), 0, "11:22", "15:29"),
    ],
)
def test_sunrise_and_sunset_match_the_almanac(
    place: str, where: tuple[float, float], day: datetime.date, utc_offset: int, rise: str, fall: str
) -> None:
    """Within two minutes of the almanac's (which rounds, and models refraction its own way)."""
    zone = datetime.timezone(datetime.timedelta(hours=utc_offset))
    found = span(SUN, day, where, zone)
    assert found.start is not None and found.end is not None, found
    for got, want in ((found.start, rise), (found.end, fall)):
        expected = datetime.datetime.combine(day, datetime.time.fromisoformat(want), zone)
        assert abs((got - expected).total_seconds()) <= 120, (place, got, want)


def test_inside_the_arctic_circle_a_day_is_all_sun_or_none() -> None:
    """Tromsø: polar night in December (no window, said), midnight sun in June (the whole day)."""
    tromso = (69.6496, 18.9560)
    night = span(parse_window("sunrise-30m..sunset+30m"), datetime.date(2026, 12, 4), tromso, datetime.UTC)
    assert night.start is None and "never rises" in night.note
    day = span(parse_window("sunrise..sunset"), datetime.date(2026, 6, 21), tromso, datetime.UTC)
    assert day.start is not None and day.end is not None and (day.end - day.start).days == 1
    assert "never sets" in day.note


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--timelapse-every", "10s", "--timelapse-window", "19:00..07:00"), "must end after it starts"),
        (("--timelapse-every", "10s", "--timelapse-window", "dawn..dusk"), "is not a time"),
        (
            ("--timelapse-every", "10s", "--timelapse-window", "sunrise..sunset"),
            "needs the camera's location",
        ),
        (
            (
                "--timelapse-every",
                "0s",
            ),
            "from 0.1 to 3600 seconds",
        ),
        (("--timelapse-location", "91,0"), "latitude must be"),
    ],
)
def test_bad_timelapse_settings_are_one_line(args: tuple[str, ...], said: str) -> None:
    result = run_cli("serve", "--source", "pattern", "--listen", f"127.0.0.1:{free_port()}", *args)
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_deflicker_smooths_a_jump_and_follows_a_slow_change() -> None:
    """Pictures whose exposure jumps now and then (+-30% for one picture) over a light fading slowly:
    the picture-to-picture jitter of brightness falls to under a third, and the fade is still there."""
    rng = np.random.default_rng(3)
    base = rng.integers(40, 200, (90, 160)).astype(np.float32)
    fading = np.linspace(1.0, 0.6, 60)
    jumps = np.where(rng.random(60) < 0.2, rng.choice([0.7, 1.3], 60), 1.0)
    pictures = [np.clip(base * f * j, 0, 255).astype(np.uint8) for f, j in zip(fading, jumps, strict=True)]
    smoother = Deflicker()
    before = [brightness(p) for p in pictures]
    after = [brightness(smoother.apply(p)) for p in pictures]
    jitter = lambda levels: float(np.abs(np.diff(levels)).mean())  # noqa: E731
    assert jitter(after) < jitter(before) / 3, (jitter(before), jitter(after))
    assert after[-1] < after[0] * 0.75  # the light still fades


# --- a day in seconds, in a running server ---------------------------------------------------------
@pytest.fixture(scope="module")
def daylight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MJPEG file of 8 s (looped) at 10 fps whose light rises for 4 s, then falls."""
    scene = Scene(width=640, height=360, seconds=8, noise=2,
                  lights=(Light(0, 4, 0.5, 1.5), Light(4, 8, 1.0, 0.33)))  # fmt: skip
    return make_video(tmp_path_factory.mktemp("lapse") / "day.mkv", codec="mjpeg", frames=80, fps=10,
                      size=(640, 360), picture=lambda i: scene.luma(i / 10, i))  # fmt: skip


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@pytest.fixture
def ftp_site(tmp_path: Path) -> Iterator[FtpPeer]:
    """Debian's vsftpd, where the camera publishes: its folder is the site nginx serves."""
    with vsftpd_server(tmp_path) as peer:
        yield peer


async def test_a_day_is_filmed_with_a_gap_for_the_shutter_published_and_copied(
    daylight: Path,
    s3_peer: S3Peer,
    ftp_site: FtpPeer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A window of 8 s, a picture every 0.2 s, a film of 3 s: the shutter closed for a while leaves a
    gap (no picture taken while it was closed); when the window ends the film lasts 3 s (ffprobe,
    within a frame), the owner's status, /api/timelapse and `camcast timelapse` list it; it is
    published over FTP (vsftpd) with a page that Chromium plays from nginx, copied to S3, opened by a
    timelapse share link (a watch link is refused), and `camcast timelapse --make` makes another film
    from its pictures."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    s3_peer.create_bucket("lapse")
    site = ftp_site.root
    begin = datetime.datetime.now() + datetime.timedelta(seconds=3)
    end = begin + datetime.timedelta(seconds=8)
    config = tmp_path / "camcast.toml"
    config.write_text(
        f"source = {json.dumps(str(daylight))}\npublish_to = {json.dumps(ftp_site.url)}\nevery = 60\n"
        f'[record]\ncopy_to = "{s3_peer.url("lapse", "cams/")}"\n'
        f'[timelapse]\nevery = "0.2s"\nwindow = "{begin:%H:%M:%S}..{end:%H:%M:%S}"\nlength = "3s"\n'
        "publish = true\n"
    )
    day = begin.date().isoformat()
    # A film older than keep_days (365) here, and one on the site: both go; a file not named as a day stays.
    folder = Path(os.environ["XDG_STATE_HOME"]) / "camcast" / "timelapse" / "camera"
    folder.mkdir(parents=True)
    old = {"camera": "camera", "day": "2020-01-01", "frames": 1, "length": 1.0, "bytes": 1, "first": 0.0,
           "last": 0.0, "width": 2, "height": 2}  # fmt: skip
    (folder / "2020-01-01.json").write_text(json.dumps(old))
    (folder / "2020-01-01.mp4").write_bytes(b"old")
    (site / "timelapse").mkdir(parents=True)
    (site / "timelapse" / "2020-01-01.mp4").write_bytes(b"old")
    (site / "timelapse" / "notes.mp4").write_bytes(b"mine")
    ftp_user = pwd.getpwnam("ftp")  # the anonymous FTP user's, as if it had put them there
    for path in (site / "timelapse", *(site / "timelapse").iterdir()):
        os.chown(path, ftp_user.pw_uid, ftp_user.pw_gid)
    async with camcast_server("--config", str(config)) as server, aiohttp.ClientSession() as http:

        async def lapse() -> dict[str, object]:
            async with http.get(server.url + "/status.json") as resp:
                return dict((await resp.json())["cameras"][0]["timelapse"])

        await until(lambda: _taken(lapse, 5), seconds=20)
        async with http.post(server.url + "/api/pause") as resp:
            assert resp.status == 200
        paused = time.time()
        await until(lambda: _state(lapse, "paused"), seconds=5)  # a picture was due, and not taken
        await asyncio.sleep(0.5)  # a few more due while closed
        resumed = time.time()
        async with http.post(server.url + "/api/resume") as resp:
            assert resp.status == 200

        async def listed() -> list[dict[str, object]]:
            async with http.get(server.url + "/api/timelapse") as resp:
                return list((await resp.json())["films"])

        await until(listed, seconds=30)
        film = (await listed())[0]
        assert film["day"] == day and film["length"] == 3.0, film
        taken = [float(t) for t in (folder / f"{day}.times").read_text().split()]
        assert not [t for t in taken if paused < t < resumed], (paused, resumed, taken)
        assert any(t > resumed for t in taken) and any(t < paused for t in taken)
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=nb_frames,codec_name",
             "-of", "json", str(folder / f"{day}.mp4")], capture_output=True, text=True, check=True,
        )  # fmt: skip
        doc = json.loads(probe.stdout)
        frames = int(doc["streams"][0]["nb_frames"])
        assert frames == len(taken) == film["frames"] and doc["streams"][0]["codec_name"] == "h264"
        assert abs(float(doc["format"]["duration"]) - 3.0) <= 3.0 / frames + 0.001, doc

        # Watched through the server: a timelapse link opens the page and the film; a watch link does not.
        share = run_cli("share", "--scope", "timelapse", "--listen", f"127.0.0.1:{server.port}").stdout
        token = share.split("token=", 1)[1].split()[0]
        watch = run_cli("share", "--scope", "watch", "--listen", f"127.0.0.1:{server.port}").stdout
        async with http.get(f"{server.url}/view/timelapse?token={token}") as resp:
            assert resp.status == 200 and f"{day}.mp4?token=" in await resp.text()
        async with http.get(
            f"{server.url}/timelapse/{day}.mp4?token={token}", headers={"Range": "bytes=0-99"}
        ) as resp:
            assert resp.status == 206 and len(await resp.read()) == 100
        async with http.get(
            f"{server.url}/api/timelapse?token={watch.split('token=', 1)[1].split()[0]}"
        ) as resp:
            assert resp.status == 403

        # Published with its page, and copied to S3.
        index = site / "timelapse.html"
        await until(lambda: index.exists() and day in index.read_text(), seconds=30)
        assert (site / "timelapse" / f"{day}.mp4").read_bytes() == (folder / f"{day}.mp4").read_bytes()
        assert sorted(p.name for p in (site / "timelapse").iterdir()) == [f"{day}.mp4", "notes.mp4"]
        assert not (folder / "2020-01-01.mp4").exists() and not (folder / "2020-01-01.json").exists()
        await until(lambda: fetch(s3_peer.public("lapse", f"cams/camera/timelapse/{day}.mp4"))[0] == 200,
                    seconds=30)  # fmt: skip

    listing = run_cli("timelapse", "--json").stdout
    assert [json.loads(line)["day"] for line in listing.splitlines()] == [day], listing
    again = tmp_path / "again.mp4"
    made = run_cli("timelapse", "--make", str(again), "--from", begin.isoformat(), "--to", end.isoformat(),
                   "--length", "2s")  # fmt: skip
    assert made.returncode == 0 and "from the timelapse's pictures" in made.stdout, made
    duration = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                               str(again)], capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert abs(float(duration) - 2.0) < 0.1, duration

    def static(root: Path, port: int) -> str:
        return f"server {{ listen 127.0.0.1:{port}; root {site}; access_log {root}/access.log; }}"

    with nginx_running(tmp_path, static) as (_, port):
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/timelapse.html")
            video = page.locator("video").first
            await video.evaluate("v => { v.muted = true; return v.play(); }")
            await page.wait_for_function(
                "() => document.querySelector('video').currentTime > 0.5", timeout=15000
            )
            assert abs(await video.evaluate("v => v.duration") - 3.0) < 0.2


async def _taken(lapse: object, count: int) -> bool:
    doc = await lapse()  # type: ignore[operator]
    return bool(doc and doc["pictures"] >= count)


async def _state(lapse: object, state: str) -> bool:
    doc = await lapse()  # type: ignore[operator]
    return bool(doc and doc["state"] == state)


async def test_a_full_disk_stops_the_pictures_with_one_warning_never_the_camera(
    small_disk: Path,  # noqa: F811
    daylight: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a 24 MB disk filled by another program while the timelapse takes pictures all day: one
    warning, the status says "disk full", the camera and its stream go on; with room again the
    pictures start again by themselves."""
    monkeypatch.setenv("XDG_STATE_HOME", str(small_disk / "state"))
    args = ("--source", str(daylight), "--timelapse-every", "0.2s")
    async with camcast_server(*args) as server, aiohttp.ClientSession() as http:

        async def lapse() -> dict[str, object]:
            async with http.get(server.url + "/status.json") as resp:
                return dict((await resp.json())["cameras"][0]["timelapse"])

        await until(lambda: _taken(lapse, 3), seconds=20)
        filler = Filler(small_disk)
        filler.start()
        await filler.full.wait()
        await until(lambda: _state(lapse, "disk full"), seconds=10)
        async with http.get(server.url + "/snapshot.jpg") as resp:
            assert resp.status == 200
        async with http.get(server.url + "/status.json") as resp:
            doc = await resp.json()
        assert doc["cameras"][0]["state"] == "live", doc
        assert any("timelapse" in part for part in doc["failing"]), doc["failing"]
        await filler.stop()
        await until(lambda: _state(lapse, "taking pictures"), seconds=10)
    warned = [line for line in server.stderr.splitlines() if "camera: timelapse: no pictures" in line]
    assert len(warned) == 1, server.stderr
    assert "camera: timelapse: working again" in server.stderr


async def test_a_reload_starts_and_stops_the_timelapse(daylight: Path, tmp_path: Path) -> None:
    """Off at the start (no picture, no status); a reload (SIGHUP) that sets ``every`` starts it at
    once; one that takes it away stops it, and the day's film is made from what was taken; on and off
    again the same day, the film is made again with the new pictures after the old."""
    config = tmp_path / "camcast.toml"
    plain = f"source = {json.dumps(str(daylight))}\n"
    config.write_text(plain)
    async with camcast_server("--config", str(config)) as server, aiohttp.ClientSession() as http:

        async def lapse() -> dict[str, object] | None:
            async with http.get(server.url + "/status.json") as resp:
                return (await resp.json())["cameras"][0]["timelapse"]  # type: ignore[no-any-return]

        assert await lapse() is None
        config.write_text(plain + '[timelapse]\nevery = "0.2s"\nlength = "2s"\n')
        server.proc.send_signal(signal.SIGHUP)
        await until(lambda: _taken(lapse, 3), seconds=10)

        async def films() -> list[dict[str, object]]:
            async with http.get(server.url + "/api/timelapse") as resp:
                return list((await resp.json())["films"])

        assert await films() == []
        config.write_text(plain)
        server.proc.send_signal(signal.SIGHUP)
        await until(films, seconds=10)
        assert await lapse() is None
        film = (await films())[0]
        assert film["frames"] >= 3 and film["length"] == 2.0, film

        # On again the same day, then off: the day's film gains the new pictures, never loses the old.
        config.write_text(plain + '[timelapse]\nevery = "0.2s"\nlength = "2s"\n')
        server.proc.send_signal(signal.SIGHUP)
        await until(lambda: _taken(lapse, 3), seconds=10)
        config.write_text(plain)
        server.proc.send_signal(signal.SIGHUP)

        async def grown() -> bool:
            found = await films()
            return bool(found) and int(found[0]["frames"]) >= int(film["frames"]) + 3  # type: ignore[call-overload]

        await until(grown, seconds=10)
        again = (await films())[0]
        assert again["first"] == film["first"] and again["length"] == 2.0, (film, again)
