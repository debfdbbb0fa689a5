"""A full disk, for real: a small tmpfs holding the state folder (events, their pictures, the viewer
log, recordings, links) and the config, filled while a camera records continuously, detects motion and
is watched. The camera keeps its rate, every write that fails is the owner's to see (status and
metrics) and says why in one line, nothing written before is lost, and everything resumes once there
is room again. Tests mount the tmpfs themselves (they run as root in CI); elsewhere they are skipped,
saying why."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import camcast_server, run_cli, web_site
from tests.mjpeg import read_parts
from tests.peers import webhook_receiver
from tests.test_recording import crossing, probe  # noqa: F401 - the fixture
from tests.waiting import until

pytestmark = pytest.mark.timeout(240)

FPS = 10  # the crossing's


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs, mounted for the test."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (it needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


class Filler:
    """Another program filling the disk: it takes every byte there is, and whatever is freed later
    (a recording deleted), until :meth:`stop` gives it all back."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "filler"
        self.full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _top_up(self) -> None:
        chunk = b"\0" * 65536
        with self.path.open("ab") as fh:
            while True:
                try:
                    fh.write(chunk)
                    fh.flush()
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    with contextlib.suppress(OSError):
                        fh.truncate(fh.tell())  # what got in stays; nothing buffered is left to flush
                    return

    async def _run(self) -> None:
        while True:
            await asyncio.to_thread(self._top_up)
            self.full.set()
            await asyncio.sleep(0.05)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.path.unlink()


async def test_a_full_disk_never_stops_the_camera(
    small_disk: Path,
    crossing: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Filled under continuous recording and motion: the stream keeps its rate; motion notifications
    still go out; the events journal, the event pictures, the viewer log and recording say so in
    status and metrics; once the room is back, recording resumes within a minute and the journal is
    written again; every recording decodes, and every event stored before the disk filled is kept."""
    monkeypatch.setenv("XDG_STATE_HOME", str(small_disk / "state"))
    config = small_disk / "camcast.toml"
    app, posts = webhook_receiver()
    async with web_site(app) as hook:
        config.write_text(
            f"source = {json.dumps(str(crossing))}\n[motion]\nenabled = true\ngap_seconds = 1\n"
            f'on_event = "{hook}/hook"\n[record]\nmode = "continuous"\nfile_minutes = 0.05\n'
            'min_free = "0"\n'
        )
        async with camcast_server("--config", str(config)) as server, aiohttp.ClientSession() as http:

            async def status() -> dict[str, object]:
                async with http.get(server.url + "/status.json") as resp:
                    return dict(await resp.json())

            frames: list[float] = []

            async def watch() -> None:
                async with http.get(server.url + "/stream.mjpg") as response:
                    async for _ in read_parts(response):
                        frames.append(time.monotonic())

            viewer = asyncio.ensure_future(watch())
            await until(lambda: any(p["type"] == "end" for p in posts), seconds=40)
            await until(lambda: len(_recordings()) >= 2, seconds=30)
            kept = [e["id"] for e in _events()]
            assert kept

            filler = Filler(small_disk)
            filler.start()
            await asyncio.wait_for(filler.full.wait(), 30)
            full_at, told = time.monotonic(), len(posts)
            async with http.get(server.url + "/snapshot.jpg?a=1") as resp:  # a new viewer: a log line
                assert resp.status == 200

            async def failing() -> set[str]:
                return set((await status())["failing"])  # type: ignore[arg-type]

            # A new file always needs room; a line appended may still fit in its file's last block.
            want = {"motion event pictures", "camera: recording"}

            async def all_failing() -> bool:
                return want <= await failing()

            async def back() -> bool:
                return not want & await failing()

            await until(all_failing, seconds=40)
            # The event's picture is written before the owner is told: wait for the telling.
            await until(lambda: any(p["type"] == "start" for p in posts[told:]), seconds=30)
            async with http.get(server.url + "/metrics") as resp:
                metrics = await resp.text()
            assert 'camcast_failing{part="motion event pictures"} 1.0' in metrics
            assert 'camcast_failures_total{part="camera: recording"}' in metrics
            full_frames = [t for t in frames if t >= full_at]
            rate = len(full_frames) / (time.monotonic() - full_at)
            assert rate > FPS * 0.8, f"the stream fell to {rate:.1f} fps on a full disk"
            assert server.proc.poll() is None

            await filler.stop()
            freed = time.time()
            await until(lambda: any(_unix(r["start"]) > freed for r in _recordings()), seconds=60)
            await until(back, seconds=60)
            async with http.get(server.url + "/api/events") as resp:
                acknowledged = [e["id"] for e in (await resp.json())["events"]]
            viewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await viewer
        stopped = server.stderr
    assert stopped.count("motion event pictures: an event") == 1, stopped  # one line, however long it lasted
    assert stopped.count("camera: recording: stopped") == 1, stopped
    assert "Logging error" not in stopped and "internal error" not in stopped
    assert "motion event pictures: working again" in stopped
    ids = {e["id"] for e in _events()}
    assert set(kept) <= ids, "an event stored before the disk filled is lost"
    assert set(acknowledged) <= ids, "an event the server listed as stored is not in the journal"
    for recording in _recordings():
        codec, _, packets = probe(Path(str(recording["path"])))
        assert codec == "h264" and packets > 0, recording


def _events() -> list[dict[str, object]]:
    result = run_cli("events", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _recordings() -> list[dict[str, object]]:
    result = run_cli("recordings", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _unix(text: object) -> float:
    import datetime

    return datetime.datetime.fromisoformat(str(text)).timestamp()


def test_the_files_the_owner_changes_are_refused_whole_on_a_full_disk(small_disk: Path) -> None:
    """A config save, an account and a share link on a full disk: each refused with the reason in one
    line, the file as it was, and no temporary file left behind."""
    from camcast.config.edit import ConfigFile
    from camcast.errors import CamcastError
    from camcast.security.accounts import Accounts
    from camcast.security.links import ShareLinks
    from camcast.security.tokens import ShareKeys

    config = ConfigFile(small_disk / "camcast.toml", explicit=True)
    config.path.write_text("quality = 80\n")
    accounts = Accounts(small_disk / "users.json")
    accounts.add("olive", "owner-password-1", "owner")
    links = ShareLinks(ShareKeys(small_disk / "share.key"), small_disk / "links.json")
    links.issue("before", 3600)
    before = {p.name: p.read_bytes() for p in small_disk.iterdir()}
    with (small_disk / "filler").open("wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    for attempt in (
        lambda: config.write("quality = 90\n" + "# more\n" * 10_000),
        lambda: accounts.add("bob", "viewer-password-1", "viewer"),
        lambda: links.issue("after", 3600, "watch"),
    ):
        with pytest.raises(CamcastError) as refused:
            attempt()
        assert "No space left on device" in str(refused.value) and "\n" not in str(refused.value)
    after = {p.name: p.read_bytes() for p in small_disk.iterdir() if p.name != "filler"}
    assert after == before
