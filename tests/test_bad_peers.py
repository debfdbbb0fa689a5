"""Peers that misbehave, for real: a webhook receiver that takes the connection and never answers, an
MQTT broker that stops reading (Mosquitto, stopped with SIGSTOP), an S3 store that answers 500 and then
503 with Retry-After (SeaweedFS behind a proxy that fails on cue), an SFTP server whose sessions are
killed mid-upload (OpenSSH). Each costs the camera nothing (its viewers keep the rate), is retried a
bounded number of times, shows in the owner's status and in /metrics, and recovers by itself."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from camcast.motion.notify.webhook import ATTEMPTS
from tests.conftest import Server, camcast_server, web_site
from tests.mjpeg import read_parts
from tests.peers import S3Peer, mosquitto_server, mqtt_listen, sshd_server
from tests.test_publish import captured
from tests.test_recording import crossing  # noqa: F401 - the fixture
from tests.test_s3 import aws_credentials, fetch  # noqa: F401 - the fixture
from tests.waiting import until

pytestmark = pytest.mark.timeout(180)

FPS = 10  # the crossing's, and the pattern's here


class Viewer:
    """An MJPEG viewer, counting the pictures it gets from the moment :meth:`mark` is called."""

    def __init__(self, server: Server) -> None:
        self.times: list[float] = []
        self.since = 0.0
        self._task = asyncio.ensure_future(self._watch(server.url + "/stream.mjpg"))

    async def _watch(self, url: str) -> None:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            async for _ in read_parts(response):
                self.times.append(time.monotonic())

    def mark(self) -> None:
        self.since = time.monotonic()

    def rate(self) -> float:
        return len([t for t in self.times if t >= self.since]) / (time.monotonic() - self.since)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
            await self._task


@contextlib.asynccontextmanager
async def watched(server: Server) -> AsyncIterator[Viewer]:
    viewer = Viewer(server)
    try:
        await until(lambda: len(viewer.times) >= 3, seconds=20)
        viewer.mark()
        yield viewer
        assert viewer.rate() > FPS * 0.8, f"the viewer got {viewer.rate():.1f} fps while the peer misbehaved"
    finally:
        await viewer.close()


async def failing(server: Server) -> dict[str, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/status.json") as resp:
        return dict((await resp.json())["failing"])


async def metric(server: Server, line_start: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as resp:
        text = await resp.text()
    found = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


async def test_a_webhook_that_never_answers(crossing: Path, tmp_path: Path) -> None:  # noqa: F811
    """The receiver accepts each connection and says nothing: each message is tried ATTEMPTS times at
    most (each try ends at its time limit), the owner sees the webhook failing, memory stays flat; a
    reload that takes the webhook away ends the failure at once."""
    connections = 0
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        held.append(writer)  # never read, never answered, never closed until the end

    mute = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = mute.sockets[0].getsockname()[1]
    try:
        config = tmp_path / "camcast.toml"
        hook = f'on_event = "http://127.0.0.1:{port}/hook"\n'
        config.write_text(
            f"source = {json.dumps(str(crossing))}\n[motion]\nenabled = true\ngap_seconds = 1\n{hook}"
        )
        async with camcast_server("--config", str(config)) as server, watched(server):

            async def webhook_failing() -> bool:
                return "camera: webhook" in await failing(server)

            await until(webhook_failing, seconds=40)
            before = rss_mb(server.proc.pid)
            started = await metric(server, "camcast_motion_events_total")
            await until(lambda: connections >= 2, seconds=40)  # a message tried again
            assert rss_mb(server.proc.pid) - before < 20
            messages = 2 * (await metric(server, "camcast_motion_events_total") - started + 1) + 2
            assert connections <= messages * ATTEMPTS, (connections, messages)
            assert 'camcast_failing{part="camera: webhook"} 1.0' in await _metrics(server)
            config.write_text(config.read_text().replace(hook, ""))
            server.proc.send_signal(signal.SIGHUP)

            async def webhook_gone() -> bool:
                return not await webhook_failing()

            await until(webhook_gone, seconds=3)  # the reload itself, not the next event (10 s apart)
        assert server.stderr.count("camera: webhook: ") == 1, server.stderr  # one line, not one a try
    finally:
        for writer in held:
            writer.close()
        mute.close()


async def _metrics(server: Server) -> str:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as resp:
        return await resp.text()


async def test_an_mqtt_broker_that_stops_reading(crossing: Path, tmp_path: Path) -> None:  # noqa: F811
    """Mosquitto stopped (SIGSTOP): its socket stays open and nothing is read or answered. camcast's
    publishes time out, the broker is shown failing and retried with backoff, the camera goes on; once
    the broker runs again (SIGCONT) camcast reconnects by itself."""
    with mosquitto_server(tmp_path) as broker:
        assert broker.proc is not None
        args = ("--source", str(crossing), "--motion", "--motion-gap-seconds", "1",
                "--motion-mqtt", broker.url)  # fmt: skip
        seen: dict[str, list[bytes]] = {}
        ready = asyncio.Event()
        listener = asyncio.ensure_future(mqtt_listen(broker.port, seen, ready))
        await ready.wait()
        async with camcast_server(*args) as server:
            part = f"MQTT mqtt://127.0.0.1:{broker.port}"
            await until(lambda: seen.get("camcast/camera/motion"), seconds=30)  # connected, and told
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
            os.kill(broker.proc.pid, signal.SIGSTOP)
            try:
                async with watched(server):

                    async def broker_failing() -> bool:
                        return part in await failing(server)

                    await until(broker_failing, seconds=60)
            finally:
                os.kill(broker.proc.pid, signal.SIGCONT)

            async def broker_back() -> bool:
                return part not in await failing(server)

            await until(broker_back, seconds=60)
        assert (
            server.stderr.count(f"{part}: ") == 2 and f"{part}: working again" in server.stderr
        )  # two lines


@contextlib.asynccontextmanager
async def failing_store(upstream: str, plan: dict[str, object]) -> AsyncIterator[str]:
    """An S3 endpoint that answers as ``plan["mode"]`` says: "500", "503" (with Retry-After), or
    "pass" (forwarded to ``upstream`` as it came, so that its signature still holds). Counts the
    requests it failed in ``plan["failed"]``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        mode = plan["mode"]
        if mode in ("500", "503"):
            plan["failed"] = int(plan["failed"]) + 1  # type: ignore[call-overload]
            plan.setdefault("times", []).append(time.monotonic())  # type: ignore[attr-defined]
            await request.read()
            headers = {"Retry-After": "2"} if mode == "503" else {}
            body = f"<Error><Code>{'InternalError' if mode == '500' else 'SlowDown'}</Code></Error>"
            return web.Response(status=int(mode), text=body, content_type="application/xml", headers=headers)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("transfer-encoding",)}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as http,
            http.request(
                request.method, upstream + request.path_qs, headers=headers, data=await request.read()
            ) as answer,
        ):
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items()
                    if k.lower() not in ("transfer-encoding", "content-length", "connection")}  # fmt: skip
            return web.Response(status=answer.status, body=body, headers=kept)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    async with web_site(app) as url:
        yield url


async def test_an_s3_store_answering_500_then_503(s3_peer: S3Peer) -> None:
    """The store fails every request, 500 then 503 with Retry-After: the publisher backs off (a bounded
    number of requests), the owner sees it failing, the camera goes on; when the store answers again the
    newest picture goes up at once, and the failure ends."""
    s3_peer.create_bucket("flaky")
    plan: dict[str, object] = {"mode": "pass", "failed": 0}
    async with failing_store(s3_peer.endpoint, plan) as endpoint:
        url = f"s3://flaky/cam/?endpoint={endpoint}"
        args = ("--source", "pattern", "--size", "320x240", "--fps", str(FPS),
                "--publish-to", url, "--every", "0.5")  # fmt: skip
        async with camcast_server(*args) as server, watched(server):
            await until(lambda: fetch(s3_peer.public("flaky", "cam/webcam.jpg"))[0] == 200, seconds=30)
            plan["mode"] = "500"

            async def store_failing() -> bool:
                return any(p.startswith("publishing to s3://flaky") for p in await failing(server))

            await until(store_failing, seconds=30)
            plan["mode"] = "503"
            await until(lambda: len(_tries(plan)) >= 4, seconds=60)
            # Backing off (1, 2, 5, 10 s...): the pauses between tries grow, to 2 s by the fourth (each
            # try is a request and perhaps the client's one quick retry), where a picture every 0.5 s
            # tried without a pause would come every half second.
            gaps = [b - a for a, b in itertools.pairwise(_tries(plan))]
            assert gaps == sorted(gaps) and gaps[-1] >= 1.9, gaps
            assert await metric(server, "camcast_failures_total") > 0
            plan["mode"] = "pass"
            recovered_at = time.time()
            await until(lambda: _uploaded_after(s3_peer, recovered_at), seconds=60)

            async def store_back() -> bool:
                return not any(p.startswith("publishing to s3://flaky") for p in await failing(server))

            await until(store_back, seconds=20)
        assert server.stderr.count("; retrying") == 1, server.stderr


def _tries(plan: dict[str, object]) -> list[float]:
    """When each try of the failing store began: its requests, those within half a second of the one
    before taken as one try (the client's own quick retry)."""
    times: list[float] = list(plan.get("times", []))  # type: ignore[call-overload]
    return [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > 0.5]


def _uploaded_after(peer: S3Peer, when: float) -> bool:
    status, _, body = fetch(peer.public("flaky", "cam/webcam.json"))
    return status == 200 and json.loads(body)["captured"] > when


async def test_sftp_sessions_killed_mid_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SFTP session the server has open is killed, again and again, while pictures go up: the
    published picture is always a whole one, the owner sees the failures, and publishing comes back
    once the kills stop."""
    from camcast.encode import jpeg

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with sshd_server(tmp_path) as ssh:
        known = tmp_path / "home" / ".ssh" / "known_hosts"
        known.parent.mkdir(parents=True, exist_ok=True)
        known.write_text(ssh.host_key_line + "\n")
        site = ssh.root / "site"
        url = f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{site}"
        args = ("--source", "pattern", "--size", "1280x720", "--fps", str(FPS), "--quality", "95",
                "--publish-to", url, "--every", "0.2", "--identity", str(ssh.identity))  # fmt: skip
        async with camcast_server(*args) as server, watched(server):
            await until(lambda: captured(site) > 0, seconds=30)

            async def sftp_failing() -> bool:
                return any(p.startswith("publishing to sftp://") for p in await failing(server))

            kills = 0
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline or (kills and not await sftp_failing()):
                assert time.monotonic() < deadline + 20, "the killed sessions were never seen failing"
                kills += _kill_sessions(ssh.pid)
                assert jpeg.is_complete((site / "webcam.jpg").read_bytes()), "a picture published half"
                await asyncio.sleep(0.1)
            stopped = time.time()
            await until(lambda: captured(site) > stopped, seconds=60)

            async def sftp_back() -> bool:
                return not await sftp_failing()

            await until(sftp_back, seconds=20)
    lines = [line for line in server.stderr.splitlines() if "publishing to sftp://" in line]
    assert len(lines) % 2 == 0 and "working again" in lines[-1], lines  # a line as it fails, one as it works


def _kill_sessions(sshd: int) -> int:
    """SIGKILL the processes serving the sessions of the sshd ``sshd`` (its children); how many."""
    children = subprocess.run(["pgrep", "-P", str(sshd)], capture_output=True, text=True).stdout.split()
    killed = 0
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
            killed += 1
    return killed
