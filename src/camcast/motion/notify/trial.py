"""The settings page's Test button for notifications: one message of type ``test`` through each
notifier a camera's settings name, sent now, each reported in one line.

The webhook gets ``{"type": "test", "event": {...}}`` (an event of the camera that starts and ends
now); the command runs with ``CAMCAST_EVENT=test``; MQTT gets ``test`` on ``camcast/NAME/test`` (not
retained, so Home Assistant's motion sensor does not change). Nothing is retried: the owner sees at
once what works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from pathlib import Path

import aiohttp
import aiomqtt

from camcast import __version__
from camcast.config import CameraSettings
from camcast.motion.events import Event
from camcast.motion.notify.command import environment
from camcast.motion.notify.mqtt import PASSWORD_ENV, Broker, node_id
from camcast.motion.notify.webhook import shown_url

log = logging.getLogger(__name__)

#: Seconds each notifier's test may take.
TIME_LIMIT = 10.0


def test_event(camera: str) -> Event:
    now = time.time()
    return Event(f"test-{int(now)}", camera, now, now, 0.0)


async def try_webhook(url: str, event: Event) -> str:
    body = {"type": "test", "event": event.to_json()}
    timeout = aiohttp.ClientTimeout(total=TIME_LIMIT)
    try:
        async with (
            aiohttp.ClientSession(headers={"User-Agent": f"camcast/{__version__}"}, timeout=timeout) as http,
            http.post(url, json=body) as response,
        ):
            if response.status >= 300:
                raise NotifyFailed(f"webhook {shown_url(url)} answered HTTP {response.status}")
            return f"webhook {shown_url(url)} answered HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise NotifyFailed(f"webhook {shown_url(url)}: {exc or type(exc).__name__}") from None


async def try_command(argv: tuple[str, ...], event: Event, pictures: Path) -> str:
    env = {**os.environ, **environment("test", event, pictures)}
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        raise NotifyFailed(f"cannot run {argv[0]}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        async with asyncio.timeout(TIME_LIMIT):
            _, err = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        await process.wait()
        raise NotifyFailed(f"{argv[0]} ran past {TIME_LIMIT:g} s and was stopped") from None
    if process.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        said = f": {last[0][:200]}" if last[0] else ""
        raise NotifyFailed(f"{argv[0]} exited with status {process.returncode}{said}")
    return f"{argv[0]} ran and exited with status 0"


async def try_mqtt(url: str, password: str | None, camera: str) -> str:
    broker = Broker.of(url)
    client = aiomqtt.Client(
        broker.host, broker.port, username=broker.user, password=os.environ.get(PASSWORD_ENV) or password,
        identifier=f"{node_id()}-test-{os.getpid()}", timeout=TIME_LIMIT,
        tls_context=ssl.create_default_context() if broker.tls else None,
    )  # fmt: skip
    try:
        async with asyncio.timeout(TIME_LIMIT), client:
            await client.publish(f"camcast/{camera}/test", b"test", qos=1)
    except (aiomqtt.MqttError, TimeoutError) as exc:
        raise NotifyFailed(f"MQTT {broker.describe()}: {exc or 'no answer'}") from None
    return f"MQTT {broker.describe()} took camcast/{camera}/test"


class NotifyFailed(Exception):
    """One notifier's test failed: the message says how, in one line."""


async def try_all(settings: CameraSettings, pictures: Path) -> list[tuple[bool, str]]:
    """Each notifier ``settings`` names, tried once: (worked, what happened). Empty when none is set."""
    event = test_event(settings.id)
    trials = []
    if settings.motion_on_event:
        trials.append(try_webhook(settings.motion_on_event, event))
    if settings.motion_on_event_command:
        trials.append(try_command(settings.motion_on_event_command, event, pictures))
    if settings.motion_mqtt:
        trials.append(try_mqtt(settings.motion_mqtt, settings.motion_mqtt_password, settings.id))
    results = []
    for outcome in await asyncio.gather(*trials, return_exceptions=True):
        if isinstance(outcome, NotifyFailed):
            results.append((False, str(outcome)))
        elif isinstance(outcome, Exception):  # a library's own failure (TLS, a resolver): one line too
            log.info("notifier test failed", exc_info=outcome)
            results.append((False, f"{type(outcome).__name__}: {outcome}"))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            results.append((True, outcome))
    return results
