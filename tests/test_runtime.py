"""The runtime: every part a child of one supervisor, so that one part failing never stops another."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from camcast import app, cli, paths
from camcast.clock import iso
from camcast.errors import UploadError
from camcast.runtime import supervisor as supervising
from camcast.runtime.supervisor import Supervisor
from tests.conftest import free_port
from tests.mjpeg import read_parts
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervising, "BACKOFF_FIRST", 0.05)
    monkeypatch.setattr(supervising, "BACKOFF_MAX", 0.2)


async def test_a_failing_child_is_restarted_with_backoff_and_the_others_go_on(
    quick_backoff: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A child that raises is logged with its traceback, counted and started again, each wait double the
    last up to the maximum; a sibling keeps running throughout."""
    starts: list[float] = []
    ticks = 0

    async def flaky() -> None:
        starts.append(time.monotonic())
        raise RuntimeError("boom")

    async def steady() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    sup = Supervisor()
    child = sup.add("flaky", flaky)
    sup.add("steady", steady)
    running = asyncio.create_task(sup.run())
    await until(lambda: len(starts) >= 5)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    waits = [b - a for a, b in itertools.pairwise(starts)]
    assert waits[0] >= 0.05 and waits[1] >= 0.1 and waits[2] >= 0.2 and waits[3] < 0.4, waits
    assert child.failures == len(starts) and child.last_error == "RuntimeError: boom"
    assert child.state == "stopped" and ticks > 10
    failed = [r for r in caplog.records if "flaky failed" in r.getMessage()]
    assert len(failed) == len(starts) and all(r.exc_info for r in failed)


async def test_a_known_condition_is_one_line_and_an_ended_child_stays_ended(
    quick_backoff: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A CamcastError is a warning without a traceback, counted apart from bugs; a child that returns
    is not started again."""
    calls = {"refused": 0, "done": 0}

    async def refused() -> None:
        calls["refused"] += 1
        raise UploadError("the server refused the login")

    async def done() -> None:
        calls["done"] += 1

    sup = Supervisor()
    first = sup.add("refused", refused)
    second = sup.add("done", done)
    running = asyncio.create_task(sup.run())
    await until(lambda: calls["refused"] >= 2 and second.ended.is_set())
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert calls["done"] == 1 and second.state == "ended"
    assert first.refusals >= 2 and first.failures == 0
    lines = [r for r in caplog.records if r.name == "camcast" and "refused stopped" in r.getMessage()]
    assert lines and not any(r.exc_info for r in lines) and lines[0].levelno == logging.WARNING


# --- the whole server, in this process, with a failure injected into each kind of part --------------------
INJECTED = ("camera a", "motion a", "a: command", "a: publishing", "recordings: limits")


def fail_once(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, armed: asyncio.Event, label: str,
              when: Callable[..., bool] = lambda *a: True) -> None:  # fmt: skip
    """Make ``target.name`` raise RuntimeError("injected: LABEL") the first time it is called (with
    arguments ``when`` accepts) after ``armed`` is set."""
    original = getattr(target, name)
    fired = False

    def check(args: tuple[Any, ...]) -> None:
        nonlocal fired
        if armed.is_set() and not fired and when(*args):
            fired = True
            raise RuntimeError(f"injected: {label}")

    if asyncio.iscoroutinefunction(original):

        async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
            check(args)
            return await original(*args, **kwargs)

        monkeypatch.setattr(target, name, wrapped_async)
    else:

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            check(args)
            return original(*args, **kwargs)

        monkeypatch.setattr(target, name, wrapped)


@contextlib.asynccontextmanager
async def serving_here(config_text: str, tmp_path: Path) -> AsyncIterator[str]:
    """``camcast serve`` in this process (so that parts can be made to fail); yields its URL."""
    file = tmp_path / "camcast.toml"
    file.write_text(config_text)
    port = free_port()
    args = cli.parse(cli.build_parser(), ["serve", "--config", str(file), "--listen", f"127.0.0.1:{port}",
                                          "--quiet"])  # fmt: skip
    task = asyncio.create_task(app.serve(cli.load_config(args), quiet=True, file=cli.config_file(args)))
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                assert not task.done(), task
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url + "/healthz") as resp:
                        return resp.status == 200
                return False

            await until(healthy, 30)
        yield url
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_each_kind_of_part_fails_once_and_comes_back_while_a_stream_keeps_its_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera's capture, its motion watcher, its command notifier, its publisher and the recordings'
    sweeps each raise once: each failure is logged once with its traceback (in the log file), counted
    in /status.json and /metrics, and the part runs again; the other camera's stream keeps 15 fps."""
    from camcast.hub import Hub
    from camcast.motion.notify.command import Command
    from camcast.motion.watcher import MotionWatcher
    from camcast.publish.publisher import Publisher
    from camcast.record.runner import Recorders

    armed = asyncio.Event()
    fail_once(monkeypatch, Hub, "publish", armed, "camera a", lambda hub, *_: hub.name == "a")
    fail_once(monkeypatch, MotionWatcher, "_analyse", armed, "motion a", lambda w, *_: w.hub.name == "a")
    fail_once(monkeypatch, Command, "_run", armed, "a: command", lambda c, *_: c.name == "a")
    fail_once(monkeypatch, Publisher, "_publish", armed, "a: publishing")
    fail_once(monkeypatch, Recorders, "sweep", armed, "recordings: limits")
    monkeypatch.setattr("camcast.record.runner.SWEEP_EVERY", 0.5)
    site = tmp_path / "site"
    config = (
        'size = "320x240"\nfps = 15\n'
        f'[cameras.a]\nsource = "pattern"\npublish_to = "{site}"\nevery = 0.5\n'
        '[cameras.a.motion]\nenabled = true\nsensitivity = 1.0\non_event_command = ["true"]\n'
        '[cameras.a.record]\nmode = "continuous"\n'
        '[cameras.b]\nsource = "pattern"\n'
    )
    async with serving_here(config, tmp_path) as url, aiohttp.ClientSession() as http:

        async def runners() -> dict[str, Any]:
            async with http.get(url + "/status.json") as resp:
                doc: dict[str, Any] = await resp.json()
                return doc["runners"]

        await until(lambda: (site / "webcam.jpg").exists(), 20)
        async with http.get(url + "/cam/b/stream.mjpg") as stream:
            parts = read_parts(stream)
            await anext(parts)
            armed.set()
            started, frames = time.monotonic(), 0
            healed = False
            while not healed or time.monotonic() - started < 4:
                await anext(parts)
                frames += 1
                if frames % 15 == 0:
                    now = await runners()
                    healed = all(now[n]["failures"] == 1 and now[n]["state"] == "running" for n in INJECTED)
                assert time.monotonic() - started < 60, await runners()
            rate = frames / (time.monotonic() - started)
        assert rate > 15 * 0.8, rate  # camera b never noticed
        assert all(n["failures"] == 0 for name, n in (await runners()).items() if name not in INJECTED)
        async with http.get(url + "/metrics") as resp:
            metrics = await resp.text()
        assert 'camcast_runner_failures_total{runner="a: publishing"} 1.0' in metrics
        assert 'camcast_runner_up{runner="camera a"} 1.0' in metrics
        await until(lambda: (site / "webcam.json").stat().st_mtime > time.time() - 2)  # publishing again
    log = paths.log_file().read_text()
    for label in INJECTED:
        assert log.count(f"RuntimeError: injected: {label}\n") == 1, (label, log)
        assert f"{label} failed (RuntimeError: injected: {label}); starting it again in 1 s" in log
    assert log.count(" failed (") == len(INJECTED), log


def test_health_says_a_failure_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    """However many times a part fails, one warning when it starts failing and one when it works
    again; meanwhile it is listed with its count and last reason, and counted after it recovers."""
    from camcast.runtime.health import Health

    health = Health()
    with caplog.at_level(logging.WARNING, logger="camcast.runtime.health"):
        health.worked("viewer log")  # never failed: nothing said
        for n in range(1000):
            health.failed("viewer log", f"cannot write it ({n})")
        trouble = health.failing()["viewer log"]
        assert trouble.count == 1000 and trouble.error == "cannot write it (999)"
        assert health.describe()["viewer log"]["failures"] == 1000
        health.worked("viewer log")
        health.worked("viewer log")
    assert [r.getMessage() for r in caplog.records] == [
        "viewer log: cannot write it (0)",
        f"viewer log: working again, after 1000 failures since {iso(trouble.since)}",
    ]
    assert health.failing() == {} and health.failures["viewer log"] == 1000
    health.failed("camera: webhook", "no answer")
    health.forget("camera: webhook")  # a reload took the webhook away
    assert health.failing() == {} and len(caplog.records) == 3
