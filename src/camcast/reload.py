"""SIGHUP and the settings page: read the configuration again and apply what can change while camcast
runs, completely or not at all.

What is drawn (caption, logo, badge), the geometry and privacy masks, who may watch (``public``,
``trusted_proxy``, ``frame_ancestors``; accounts and share keys are reread on their own) and the
publishing interval, file name, archive and retention, motion (on or off, its thresholds,
zones, webhook and command), recording (its mode and limits) and a camera's controls change at once,
and nobody watching is disconnected. Settings declared restart-only (where to listen, TLS, the
source and its mode, encoding, the destination, the set of cameras: see
:func:`camcast.config.fields.setting`) are named in one warning line and keep their running values
until then. A configuration that does not load, or that any part refuses, is reported in one line and
the running one stays, whole (see :mod:`camcast.runtime.plan`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass

from camcast.camera import Camera
from camcast.config import Config, ServerSettings
from camcast.config.reloader import Reloader
from camcast.errors import CamcastError, ConfigError
from camcast.motion.runner import Motion
from camcast.publish.publisher import Publisher, PublishOptions
from camcast.record.runner import Recorders
from camcast.runtime.plan import Plan
from camcast.server.proxy import parse_network
from camcast.server.state import ServerState
from camcast.timelapse.runner import Timelapses

log = logging.getLogger("camcast")


@dataclass
class Running:
    """The parts a reload reaches."""

    cameras: Mapping[str, Camera]
    publishers: Mapping[str, Publisher]
    state: ServerState | None = None
    motion: Motion | None = None
    recording: Recorders | None = None
    timelapse: Timelapses | None = None


def check(config: Config, running: Running) -> list[Plan]:
    """Every part's plan for ``config`` (restart-only settings at their running values); a
    ConfigError, naming the camera, when any part refuses. Changes nothing."""
    plans = []
    if running.state is not None:
        plans.append(_check_server(running.state, config.server))
    chosen = {c.id: c for c in config.cameras if c.id in running.cameras}
    for name, settings in chosen.items():
        camera = running.cameras[name]
        try:
            plans.append(camera.check(settings))
        except ConfigError as exc:
            exc.camera = exc.camera or name
            raise
        publisher = running.publishers.get(name)
        if publisher is not None:
            plans.append(publisher.check(PublishOptions.of(settings, camera.describe())))
    if running.motion is not None:
        plans.append(running.motion.check(chosen))
    if running.recording is not None:
        plans.append(running.recording.check(chosen))
    if running.timelapse is not None:
        plans.append(running.timelapse.check(chosen))
    return plans


def _check_server(state: ServerState, settings: ServerSettings) -> Plan:
    networks = [parse_network(n) for n in settings.trusted_proxy]

    def commit() -> None:
        public_before = state.gate.public
        state.gate.public = settings.public
        if public_before and not settings.public:
            state.gate.changed()  # anonymous viewers let in while it was public are let go
        state.frame_ancestors = settings.frame_ancestors
        state.proxies.networks = networks
        state.settings = settings

    return Plan(commit)


async def apply(config: Config, running: Running) -> list[str]:
    """Apply ``config`` to what runs, all or nothing; returns what else waits for a restart. Raises
    the CamcastError of the part that refused (nothing changed), or of the device step that failed
    (every device step done is undone)."""
    plans = check(config, running)
    done: list[Plan] = []
    try:
        for plan in plans:
            if plan.device is not None:
                done.append(plan)  # a step that fails half way is undone too
                await asyncio.to_thread(plan.device)
    except CamcastError as refused:
        for plan in reversed(done):
            try:
                undone = await asyncio.to_thread(plan.undo)
            except CamcastError as exc:
                log.error(
                    "%s: the controls could not be put back after the reload failed: %s", plan.part, exc
                )
            else:
                if undone:
                    log.warning("%s: the controls are put back as they were (%s)", plan.part, refused)
        raise
    for plan in plans:
        plan.commit()
    return [note for plan in plans for note in plan.restart]


async def on_sighup(reloader: Reloader) -> None:
    """Until cancelled: on each SIGHUP, load the configuration again and apply it."""
    hup = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, hup.set)
    try:
        while True:
            await hup.wait()
            hup.clear()
            try:
                restart = await reloader.reload()
            except CamcastError as exc:
                log.error("the configuration was not reloaded: %s", exc)
                continue
            log.warning("configuration reloaded")
            if restart:
                log.warning("restart camcast to apply: %s", ", ".join(restart))
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
