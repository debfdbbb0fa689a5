"""MQTT: each camera's motion as ``camcast/NAME/motion`` ON/OFF, its latest event as JSON on
``camcast/NAME/event`` and its picture on ``camcast/NAME/picture``, all retained, with Home Assistant's
MQTT discovery (a motion binary_sensor and a camera entity showing the event's picture per camera, one
device each). A camera whose audio is on also has its sound events as ``camcast/NAME/sound`` ON/OFF, its
microphone's state (``on``, ``silenced``...) on ``camcast/NAME/microphone`` and its level (dBFS) on
``camcast/NAME/sound_level``, each discovered too. One connection per broker, shared by the cameras that
name it, with a last will that marks them unavailable. A broker that goes away is retried with backoff;
while it is away only the newest value of each topic waits (nothing queues up), and the camera never
waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt

from camcast import __version__
from camcast.motion.events import Event
from camcast.runtime.health import HEALTH

log = logging.getLogger(__name__)

#: Where the broker's password may come from instead of the config file.
PASSWORD_ENV = "CAMCAST_MQTT_PASSWORD"
#: Home Assistant's discovery prefix (its default).
DISCOVERY = "homeassistant"
#: Seconds between reconnection attempts: doubling from the first to the last.
RETRY = (1.0, 30.0)


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    user: str | None
    tls: bool

    @classmethod
    def of(cls, url: str) -> Broker:
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        user = unquote(parts.username) if parts.username else None
        return cls(parts.hostname or "", parts.port or (8883 if tls else 1883), user, tls)

    def describe(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    def client(self, password: str | None, identifier: str, **options: Any) -> aiomqtt.Client:
        """A client of this broker (the password from CAMCAST_MQTT_PASSWORD first; TLS for mqtts://),
        for the link and the settings page's Test button alike."""
        return aiomqtt.Client(
            self.host, self.port, username=self.user, password=os.environ.get(PASSWORD_ENV) or password,
            identifier=identifier, tls_context=ssl.create_default_context() if self.tls else None, **options,
        )  # fmt: skip


def node_id() -> str:
    """This machine's name as MQTT and Home Assistant ids allow it."""
    return "camcast_" + re.sub(r"[^a-zA-Z0-9_]+", "_", socket.gethostname()).strip("_").lower()


class Mqtt:
    """The link to one broker for the cameras (name -> title) that use it."""

    kind = "MQTT"
    #: No camera setting it follows while running: a new broker waits for a restart.
    setting: str | None = None

    def __init__(
        self,
        url: str,
        password: str | None,
        cameras: dict[str, str],
        pictures: Path,
        sounding: frozenset[str] = frozenset(),
    ) -> None:
        self.broker = Broker.of(url)
        self.password = os.environ.get(PASSWORD_ENV) or password
        self.cameras = dict(cameras)
        self.pictures = pictures
        self.sounding = frozenset(sounding)  # the cameras whose audio is on
        self.node = node_id()
        self.availability = f"camcast/{self.node}/availability"
        self._pending: dict[str, bytes] = {name_topic: b"OFF" for name_topic in self._motion_topics()}
        for name in self.cameras:  # nobody watches before the server runs
            self._pending[f"camcast/{name}/viewers"] = b"0"
            self._pending[f"camcast/{name}/watched"] = b"OFF"
        for name in self.sounding:
            self._pending[f"camcast/{name}/sound"] = b"OFF"
        self._changed = asyncio.Event()

    def _motion_topics(self) -> list[str]:
        return [f"camcast/{name}/motion" for name in self.cameras]

    def watching(self, camera: str, viewers: int) -> None:
        """Camera ``camera`` has ``viewers`` now: ``camcast/NAME/watched`` ON or OFF, and the count."""
        if camera not in self.cameras:
            return
        # The count first: whoever reacts to the state finds the count already current.
        self._pending.pop(f"camcast/{camera}/viewers", None)
        self._pending.pop(f"camcast/{camera}/watched", None)
        self._pending[f"camcast/{camera}/viewers"] = str(viewers).encode()
        self._pending[f"camcast/{camera}/watched"] = b"ON" if viewers else b"OFF"
        self._changed.set()

    def hearing(self, camera: str, state: str, level: float | None) -> None:
        """Camera ``camera``'s microphone is ``state`` at ``level`` dBFS (None: no sound now)."""
        if camera not in self.sounding:
            return
        self._pending[f"camcast/{camera}/microphone"] = state.encode()
        self._pending[f"camcast/{camera}/sound_level"] = b"-96" if level is None else f"{level:.0f}".encode()
        self._changed.set()

    def tell(self, kind: str, event: Event) -> None:
        if event.camera not in self.cameras:
            return
        base = f"camcast/{event.camera}"
        what = "sound" if event.kind == "sound" else "motion"
        self._pending[f"{base}/{what}"] = b"ON" if kind == "start" else b"OFF"
        self._pending[f"{base}/event"] = json.dumps({"type": kind, **event.to_json()}).encode()
        if event.picture:
            self._pending[f"{base}/picture"] = str(self.pictures / event.picture).encode()  # read when sent
        self._changed.set()

    @property
    def part(self) -> str:
        """What its failures are listed as (:data:`HEALTH`)."""
        return f"MQTT {self.broker.describe()}"

    async def run(self) -> None:
        try:
            await self._connected(self.part)
        finally:
            HEALTH.forget(self.part)

    async def _connected(self, part: str) -> None:
        """Keep a connection to the broker, made again with backoff whenever it fails (``part``: what
        its failures are listed as)."""
        delay = RETRY[0]
        while True:
            try:
                async with self._client() as client:
                    log.info("MQTT: connected to %s", self.broker.describe())
                    await self._announce(client)
                    delay = RETRY[0]
                    HEALTH.worked(part)
                    await self._publish_changes(client)
            except aiomqtt.MqttError as exc:  # refused, away, or not reading (its answers time out)
                HEALTH.failed(part, f"{exc}; trying again, every {RETRY[1]:g} s at most")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY[1])

    def _client(self) -> aiomqtt.Client:
        return self.broker.client(
            self.password, f"{self.node}-{os.getpid()}", keepalive=30, timeout=10,
            will=aiomqtt.Will(self.availability, b"offline", qos=1, retain=True),
        )  # fmt: skip

    async def _announce(self, client: aiomqtt.Client) -> None:
        """Home Assistant's discovery documents, then "online" (all retained)."""
        for name, title in self.cameras.items():
            for topic, doc in self.discovery(name, title):
                await client.publish(topic, json.dumps(doc), qos=1, retain=True)
        await client.publish(self.availability, b"online", qos=1, retain=True)

    def discovery(self, name: str, title: str) -> list[tuple[str, dict[str, object]]]:
        """The discovery topics and documents of camera ``name``."""
        unique = f"{self.node}_{re.sub(r'[^a-zA-Z0-9_]', '_', name)}"
        common: dict[str, object] = {
            "availability_topic": self.availability,
            "device": {"identifiers": [unique], "name": title, "manufacturer": "camcast", "model": "camcast",
                       "sw_version": __version__},
        }  # fmt: skip
        sensor: dict[str, object] = {
            **common, "name": "Motion", "unique_id": f"{unique}_motion", "device_class": "motion",
            "state_topic": f"camcast/{name}/motion", "payload_on": "ON", "payload_off": "OFF",
            "json_attributes_topic": f"camcast/{name}/event",
        }  # fmt: skip
        camera = {
            **common,
            "name": "Motion picture",
            "unique_id": f"{unique}_picture",
            "topic": f"camcast/{name}/picture",
        }
        watched: dict[str, object] = {
            **common, "name": "Being watched", "unique_id": f"{unique}_watched", "icon": "mdi:eye",
            "state_topic": f"camcast/{name}/watched", "payload_on": "ON", "payload_off": "OFF",
        }  # fmt: skip
        viewers: dict[str, object] = {
            **common, "name": "Viewers", "unique_id": f"{unique}_viewers", "icon": "mdi:account-eye",
            "state_topic": f"camcast/{name}/viewers", "state_class": "measurement",
        }  # fmt: skip
        found: list[tuple[str, dict[str, object]]] = [
            (f"{DISCOVERY}/binary_sensor/{unique}/motion/config", sensor),
            (f"{DISCOVERY}/camera/{unique}/picture/config", camera),
            (f"{DISCOVERY}/binary_sensor/{unique}/watched/config", watched),
            (f"{DISCOVERY}/sensor/{unique}/viewers/config", viewers),
        ]
        if name in self.sounding:
            sound: dict[str, object] = {
                **common, "name": "Sound", "unique_id": f"{unique}_sound", "device_class": "sound",
                "state_topic": f"camcast/{name}/sound", "payload_on": "ON", "payload_off": "OFF",
            }  # fmt: skip
            level: dict[str, object] = {
                **common, "name": "Sound level", "unique_id": f"{unique}_sound_level",
                "icon": "mdi:volume-high", "state_topic": f"camcast/{name}/sound_level",
                "unit_of_measurement": "dB", "state_class": "measurement",
            }  # fmt: skip
            microphone: dict[str, object] = {
                **common, "name": "Microphone", "unique_id": f"{unique}_microphone", "icon": "mdi:microphone",
                "state_topic": f"camcast/{name}/microphone",
            }  # fmt: skip
            found += [
                (f"{DISCOVERY}/binary_sensor/{unique}/sound/config", sound),
                (f"{DISCOVERY}/sensor/{unique}/sound_level/config", level),
                (f"{DISCOVERY}/sensor/{unique}/microphone/config", microphone),
            ]
        return found

    async def _publish_changes(self, client: aiomqtt.Client) -> None:
        try:
            while True:
                while self._pending:
                    topic, value = next(iter(self._pending.items()))
                    payload = value
                    if topic.endswith("/picture"):  # the value is the picture's file
                        payload = await asyncio.to_thread(_read, Path(value.decode()))
                    if payload:  # an empty retained message would delete the topic's value
                        await client.publish(topic, payload, qos=1, retain=True)
                    if self._pending.get(topic) is value:  # not replaced meanwhile
                        del self._pending[topic]
                self._changed.clear()
                await self._changed.wait()
        except asyncio.CancelledError:
            # Stopping: say so now rather than when the broker notices the connection is gone.
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await asyncio.wait_for(client.publish(self.availability, b"offline", qos=1, retain=True), 2)
            raise


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
