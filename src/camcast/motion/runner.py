"""Motion over the set of cameras: a watcher per camera (and a sound watcher per camera whose audio is
on: sound events), the event log, and the notifiers (a webhook and a command per camera, one MQTT link
per broker), each run as a child of the server's supervisor (:meth:`Motion.children`), so one failing
never stops the others.

Every camera gets a watcher, idle while its motion is off, so that a reload can turn motion on or off
and change its thresholds, zones, webhook and command at once; a new MQTT broker waits for a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from camcast.camera import Camera
from camcast.config import CameraSettings
from camcast.motion.events import Event, EventLog
from camcast.motion.hearing import SoundWatcher
from camcast.motion.notify.command import Command, WatchCommand
from camcast.motion.notify.mqtt import Mqtt
from camcast.motion.notify.webhook import Webhook
from camcast.motion.watcher import MotionWatcher
from camcast.runtime.health import HEALTH
from camcast.runtime.plan import Plan
from camcast.runtime.supervisor import Factory

log = logging.getLogger(__name__)


class Follows(Protocol):
    """A notifier or command that follows a camera setting, read at each use."""

    #: The setting (None: it waits for a restart).
    setting: str | None

    @property
    def part(self) -> str: ...


class Notifier(Follows, Protocol):
    kind: str

    def tell(self, kind: str, event: Event) -> None: ...

    async def run(self) -> None: ...


class Motion:
    """The cameras' motion watchers, their event log and their notifiers."""

    def __init__(self, cameras: Sequence[Camera], events: EventLog) -> None:
        self.events = events
        self.watchers: dict[str, MotionWatcher] = {}
        self.hearing: dict[str, SoundWatcher] = {}
        self.notifiers: dict[str, list[Notifier]] = {}
        self.links: dict[tuple[str, str | None], Mqtt] = {}
        self.watch_commands: dict[str, WatchCommand] = {}
        self._listeners: list[Callable[[str, Event], None]] = []
        for camera in cameras:
            self._add(camera)
        by_broker: dict[tuple[str, str | None], dict[str, str]] = {}
        for camera in cameras:
            s = camera.settings
            if s.motion_mqtt:
                by_broker.setdefault((s.motion_mqtt, s.motion_mqtt_password), {})[camera.name] = s.title
        for (url, password), named in by_broker.items():
            link = Mqtt(
                url, password, named, events.pictures, frozenset(n for n in named if n in self.hearing)
            )
            self.links[(url, password)] = link
            for name in named:
                self.notifiers[name].append(link)
                if name in self.hearing:
                    self.hearing[name].report.append(link.hearing)

    def _add(self, camera: Camera) -> None:
        name = camera.name
        watcher = MotionWatcher(camera.hub, camera.settings, self.events, lambda k, e: self._tell(name, k, e))
        self.watchers[name] = watcher
        camera.pixel_readers.append(watcher.wants_pixels)
        if camera.sound is not None:
            tell = lambda k, e: self._tell(name, k, e)  # noqa: E731
            self.hearing[name] = SoundWatcher(camera.sound, camera.settings, self.events, tell)

        def webhook() -> str | None:  # the current settings, after any reload
            return watcher.settings.motion_on_event

        def command() -> tuple[str, ...]:
            return watcher.settings.motion_on_event_command

        self.notifiers[name] = [Webhook(name, webhook), Command(name, command, self.events.pictures)]

        def on_watch() -> tuple[str, ...]:
            return watcher.settings.on_watch_command

        self.watch_commands[name] = WatchCommand(name, on_watch)

    def listen(self, listener: Callable[[str, Event], None]) -> None:
        """Call ``listener(kind, event)`` on the event loop at every start and end."""
        self._listeners.append(listener)

    def _tell(self, camera: str, kind: str, event: Event) -> None:
        verb = "started" if kind == "start" else "ended"
        seconds = "" if event.end is None else f" after {event.end - event.start:.1f} s"
        if event.kind == "sound":
            log.info(
                "%s: sound %s%s (%s, up to %.0f dBFS)", camera, verb, seconds, event.id, event.level or 0
            )
        else:
            log.info("%s: motion %s%s (%s, peak %.1f%% of the picture)", camera, verb, seconds, event.id,
                     event.peak * 100)  # fmt: skip
        for notifier in self.notifiers.get(camera, ()):
            notifier.tell(kind, event)
        for listener in self._listeners:
            listener(kind, event)

    def describe(self) -> list[str]:
        """A line per camera with motion on, for the start-up banner."""
        lines = []
        for name, watcher in self.watchers.items():
            s = watcher.settings
            if not s.motion:
                continue
            told = [
                what
                for what, on in (("a webhook", s.motion_on_event), ("a command", s.motion_on_event_command),
                                 (f"MQTT {s.motion_mqtt}", s.motion_mqtt))
                if on
            ]  # fmt: skip
            lines.append(
                f"{name} watches for motion (sensitivity {s.motion_sensitivity:g}, up to {s.motion_fps:g} "
                f"pictures a second); events: camcast events" + (f"; tells {', '.join(told)}" if told else "")
            )
        for name, hearing in self.hearing.items():
            s = hearing.settings
            if s.audio_events:
                lines.append(f"{name} listens for sounds over {s.audio_threshold:g} dBFS lasting "
                             f"{s.audio_min_seconds:g} s; events: camcast events")  # fmt: skip
        return lines

    def check(self, settings: Mapping[str, CameraSettings]) -> Plan:
        """Reloaded camera settings: thresholds, zones, webhook and commands apply at once when
        committed (a new broker is a restart-only setting). A notifier whose setting changed is no
        longer listed as failing for what its old one did (:data:`HEALTH`)."""
        changes = [(name, new) for name, new in settings.items() if name in self.watchers]

        def commit() -> None:
            for name, new in changes:
                old = self.watchers[name].settings
                self.watchers[name].change(new)
                if name in self.hearing:
                    self.hearing[name].change(new)
                following: list[Follows] = [*self.notifiers[name], self.watch_commands[name]]
                for notifier in following:
                    setting = notifier.setting
                    if setting is not None and getattr(old, setting) != getattr(new, setting):
                        HEALTH.forget(notifier.part)

        return Plan(commit)

    def watching(self, camera: str, viewers: int) -> None:
        """A camera's count of viewers changed (the viewer log says so): its on_watch_command, and the
        "being watched" state and count in MQTT."""
        command = self.watch_commands.get(camera)
        if command is not None:
            command.watching(viewers)
        for link in self.links.values():
            link.watching(camera, viewers)

    def children(self) -> list[tuple[str, Factory]]:
        """What runs under the supervisor: each camera's watcher, and each notifier once."""
        found: list[tuple[str, Factory]] = [(f"motion {name}", w.run) for name, w in self.watchers.items()]
        found += [(f"sound events {name}", w.run) for name, w in self.hearing.items()]
        for name, notifiers in self.notifiers.items():
            found += [(f"{name}: {n.kind}", n.run) for n in notifiers if not isinstance(n, Mqtt)]
        found += [(f"MQTT {link.broker.describe()}", link.run) for link in self.links.values()]
        found += [(f"{name}: on_watch_command", c.run) for name, c in self.watch_commands.items()]
        return found
