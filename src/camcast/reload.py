"""SIGHUP and the settings page: read the configuration again and apply what can change while camcast
runs.

What is drawn (caption, logo, badge), the geometry and privacy masks, who may watch (``public``,
``trusted_proxy``, ``frame_ancestors``; accounts and share keys are reread on their own) and the
publishing interval, file name, archive and retention, motion (on or off, its thresholds,
zones, webhook and command) and recording (its mode and limits) change at once, and nobody watching is
disconnected. Settings that need a restart (where to listen, TLS, the source and its mode, encoding,
the destination, the set of cameras) are named in one warning line and keep their running values
until then. A configuration that does not load is reported in one line and the running one stays.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections.abc import Mapping

from camcast.camera import Camera
from camcast.config import Config
from camcast.config.reloader import Reloader
from camcast.errors import CamcastError
from camcast.motion.runner import Motion
from camcast.publish.publisher import Publisher, PublishOptions
from camcast.record.runner import Recorders
from camcast.server.proxy import parse_network
from camcast.server.state import ServerState

log = logging.getLogger("camcast")

#: Server settings that change only with a restart.
RESTART_SERVER = (
    "listen", "tls_cert", "tls_key", "max_connections", "max_connections_per_address", "header_timeout",
    "idle_timeout", "ice_server", "turn_password", "base_path",
)  # fmt: skip
#: Publishing settings that change only with a restart (a new destination means a new connection).
RESTART_PUBLISH = (
    "publish_to", "hls", "hls_segment", "ca_file", "fingerprint", "active", "identity", "upload_password",
    "s3_access_key", "s3_secret_key",
)  # fmt: skip


async def apply(
    config: Config,
    cameras: Mapping[str, Camera],
    publishers: Mapping[str, Publisher],
    state: ServerState | None,
    motion: Motion | None = None,
    recording: Recorders | None = None,
) -> list[str]:
    """Apply ``config`` to what runs; return the settings that wait for a restart."""
    restart: list[str] = []
    if state is not None:
        old = state.settings
        new = config.server
        state.gate.public = new.public
        state.frame_ancestors = new.frame_ancestors
        state.proxies.networks = [parse_network(n) for n in new.trusted_proxy]
        # What waits for a restart keeps its running value, so the next reload compares with it.
        state.settings = dataclasses.replace(new, **{key: getattr(old, key) for key in RESTART_SERVER})
        restart += [key for key in RESTART_SERVER if getattr(new, key) != getattr(old, key)]
    chosen = {c.id: c for c in config.cameras if c.id in cameras}
    if set(chosen) != set(cameras) or len(config.cameras) != len(cameras):
        restart.append("the set of cameras")
    for name, settings in chosen.items():
        camera = cameras[name]
        before = camera.settings
        if settings.controls != before.controls:
            # Checked against the device before anything is set: a bad one refuses the reload.
            await asyncio.to_thread(camera.apply_controls, dict(settings.controls))
        restart += [f"{name}: {key}" for key in camera.change(settings)]
        if motion is not None:
            restart += motion.change({name: camera.settings})
        if recording is not None:
            restart += recording.change({name: camera.settings})
        publisher = publishers.get(name)
        changed_target = [k for k in RESTART_PUBLISH if getattr(settings, k) != getattr(before, k)]
        restart += [f"{name}: {key}" for key in changed_target]
        if changed_target and camera.settings is not before:
            camera.settings = dataclasses.replace(
                camera.settings, **{key: getattr(before, key) for key in changed_target}
            )
        if publisher is not None and not changed_target:
            options = PublishOptions.of(settings, camera.describe())
            restart += [f"{name}: {key}" for key in await publisher.change(options)]
    return restart


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
