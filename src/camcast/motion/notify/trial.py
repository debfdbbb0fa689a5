"""The settings page's Test button for notifications: one message of type ``test`` through each
notifier a camera's settings name, sent now, each reported in one line.

The webhook gets ``{"type": "test", "event": {...}}`` (an event of the camera that starts and ends
now); the command runs with ``CAMCAST_EVENT=test``; MQTT gets ``test`` on ``camcast/NAME/test`` (not
retained, so Home Assistant's motion sensor does not change). Nothing is retried: the owner sees at
once what works.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import aiomqtt

from camcast.config import CameraSettings
from camcast.motion.events import Event
from camcast.motion.notify import NotifyFailed, webhook
from camcast.motion.notify.command import environment, run_command
from camcast.motion.notify.mqtt import Broker, node_id

log = logging.getLogger(__name__)

#: Seconds each notifier's test may take.
TIME_LIMIT = 10.0


def test_event(camera: str) -> Event:
    now = time.time()
    return Event(f"test-{int(now)}", camera, now, now, 0.0)


async def try_webhook(url: str, event: Event) -> str:
    async with webhook.session() as http:
        status = await webhook.deliver(http, url, {"type": "test", "event": event.to_json()})
    return f"webhook {webhook.shown_url(url)} answered HTTP {status}"


async def try_command(argv: tuple[str, ...], event: Event, pictures: Path) -> str:
    await run_command(argv, environment("test", event, pictures), TIME_LIMIT)
    return f"{argv[0]} ran and exited with status 0"


async def try_mqtt(url: str, password: str | None, camera: str) -> str:
    broker = Broker.of(url)
    client = broker.client(password, f"{node_id()}-test-{os.getpid()}", timeout=TIME_LIMIT)
    try:
        async with asyncio.timeout(TIME_LIMIT), client:
            await client.publish(f"camcast/{camera}/test", b"test", qos=1)
    except (aiomqtt.MqttError, TimeoutError) as exc:
        raise NotifyFailed(f"MQTT {broker.describe()}: {exc or 'no answer'}") from None
    return f"MQTT {broker.describe()} took camcast/{camera}/test"


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
