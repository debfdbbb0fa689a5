"""The composition root: cameras built from the configuration, and the runners (server, publisher,
status line) over them, run until SIGINT or SIGTERM. Every resource is closed by one exit stack."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from camcast import logs, paths
from camcast import reload as reloading
from camcast.camera import Camera
from camcast.config import DEFAULT_CAMERA, CameraSettings, Config
from camcast.config.edit import ConfigFile
from camcast.config.reloader import Reloader
from camcast.console import StatusLine
from camcast.errors import ConfigError, SourceError
from camcast.motion.events import EventLog
from camcast.motion.runner import Motion
from camcast.publish import store_for
from camcast.publish.check import check_store
from camcast.publish.hls import HlsPublisher
from camcast.publish.publisher import Publisher, PublishOptions
from camcast.publish.target import parse_target
from camcast.record.runner import Recorders
from camcast.rtsp.push import Pusher, shown
from camcast.runtime.supervisor import Supervisor
from camcast.security.accounts import Accounts
from camcast.security.files import write_atomic
from camcast.server.listen import access_policy
from camcast.server.runner import serving
from camcast.server.state import ServerState
from camcast.timelapse.runner import Timelapses

log = logging.getLogger(__name__)


async def open_cameras(
    settings: Sequence[CameraSettings], stack: contextlib.AsyncExitStack, wait: bool = False
) -> list[Camera]:
    """Every camera, its source opened (in a thread), closed with ``stack``. A bad setting fails
    start-up. A source that cannot be opened does too, unless ``wait``: then that camera starts
    offline, with one warning naming it, and is tried again as a lost source is (a USB camera still
    enumerating at boot, an RTSP camera rebooting), and the others run."""
    cameras = []
    for one in settings:
        try:
            camera = await asyncio.to_thread(Camera.open, one)
        except ConfigError as exc:
            exc.camera = exc.camera or one.id
            raise
        except SourceError as exc:
            if not wait:
                raise
            where = "the camera" if one.id == DEFAULT_CAMERA else f"[cameras.{one.id}]"
            log.warning("%s: %s; it starts offline and is tried again until it answers", where, exc.detail)
            camera = Camera.offline(one)
        stack.push_async_callback(camera.aclose)
        cameras.append(camera)
    return cameras


async def start_publisher(camera: Camera, stack: contextlib.AsyncExitStack) -> Publisher:
    """The camera's publisher, prepared (connected, folders made, pages uploaded)."""
    s = camera.settings
    store = store_for(s)
    stack.push_async_callback(store.aclose)
    options = PublishOptions.of(s, camera.describe())

    def paused() -> bool:
        return camera.hub.paused

    video = None
    if s.hls:
        video = HlsPublisher(
            camera.rendition("publish", codec="h264"), store, segment_seconds=s.hls_segment,
            window=s.hls_window, paused=paused,
            sound=camera.sound.rendition("aac") if camera.sound is not None else None,
        )  # fmt: skip
    publisher = Publisher(camera.rendition("publish"), store, options, paused=paused, video=video)
    await publisher.prepare()
    return publisher


def _check_targets(settings: Sequence[CameraSettings]) -> None:
    """A bad destination fails before any camera is opened."""
    for one in settings:
        if one.publish_to:
            try:
                parse_target(one.publish_to, one.upload_password)
            except ConfigError as exc:
                exc.camera = one.id
                raise


def camera_line(camera: Camera, state: ServerState | None, now: float, alone: bool) -> str:
    """One camera's part of the status line (named by its source when it is the only one)."""
    hub = camera.hub
    label = hub.state.upper() if hub.state != "live" else "live"
    line = (
        f"{camera.describe() if alone else camera.name} [{label}] in {hub.rate_in.per_second(now):4.1f} fps"
    )
    if state is not None:
        served = state.cameras[camera.name]
        line += (
            f" · out {served.rendition.rate_out.per_second(now):4.1f} fps"
            f" · viewers {state.viewers.watching(camera.name)}"
        )
    line += f" · encodes {camera.encodes_per_second(now):4.1f}/s"
    mic = camera.sound
    if mic is not None:
        line += f" · mic {mic.state}" + (f" {mic.level:.0f} dBFS" if mic.level is not None else "")
    return line


async def serve(
    config: Config, quiet: bool = False, file: ConfigFile | None = None, wait: bool = False
) -> None:
    """Serve every configured camera (and publish those with a destination) until SIGINT or SIGTERM;
    on SIGHUP, or a change on the settings page, load the configuration from ``file`` again and apply
    it (see :mod:`camcast.reload`). Every part runs under one supervisor (:mod:`camcast.runtime`).
    ``wait``: a camera whose source is not there starts offline (see :func:`open_cameras`)."""
    accounts = Accounts(paths.users_file())
    access = access_policy(config.server, accounts)
    _check_targets(config.cameras)
    supervisor = Supervisor()
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(logs.log_file(paths.log_file()))
        cameras = await open_cameras(config.cameras, stack, wait)
        publishers = {c.name: await start_publisher(c, stack) for c in cameras if c.settings.publish_to}
        events = EventLog(paths.events_dir())
        await asyncio.to_thread(events.open)
        motion = Motion(cameras, events)
        recording = Recorders(cameras, paths.recordings_dir(), events)
        timelapse = Timelapses(cameras, paths.timelapse_dir())
        motion.listen(recording.on_event)
        print(f"camcast: serving {', '.join(f'{c.name} ({c.describe()})' for c in cameras)}", flush=True)
        state = await stack.enter_async_context(
            serving(cameras, config.server, access, accounts, motion, recording, timelapse)
        )
        state.supervisor = supervisor
        if state.onvif is not None:
            motion.listen(state.onvif.events.tell)  # motion and sound events to ONVIF's subscribers
        state.viewers.listeners.append(motion.watching)  # the "being watched" state, for the room
        supervisor.add("accounts and links", state.gate.watch)
        watched = {
            c.name: c.settings.motion or (c.settings.audio_events and c.sound is not None) for c in cameras
        }
        for line in motion.describe() + recording.describe(watched) + timelapse.describe():
            print(f"camcast: {line}", flush=True)
        await recording.start(stack)
        await timelapse.start(stack)
        for camera in cameras:
            for url in camera.settings.push:
                sound = camera.sound.rendition("aac") if camera.sound is not None else None
                pusher = Pusher(camera.name, url, camera.rendition("push", codec="h264"), sound)
                pusher.start()
                stack.push_async_callback(pusher.aclose)
                print(f"camcast: {camera.name} pushes its video to {shown(url)}", flush=True)
        state.publishers.update(publishers)
        for name, publisher in publishers.items():
            every = config.camera(name).every
            print(
                f"camcast: {name} also publishes to {publisher.store.describe()} every {every:g} s"
                + (" with HLS video" if publisher.video else ""),
                flush=True,
            )

        def render() -> str:
            now = time.monotonic()
            lines = []
            for camera in cameras:
                line = camera_line(camera, state, now, len(cameras) == 1)
                if camera.name in publishers:
                    line += f" · {publishers[camera.name].line()}"
                lines.append(line)
            return " | ".join(lines)

        for name, publisher in publishers.items():
            supervisor.add(f"{name}: publishing", publisher.run)
        for camera in cameras:
            start_sound(camera, supervisor)
        for name, factory in motion.children() + recording.children() + timelapse.children():
            supervisor.add(name, factory)
        supervisor.add("status line", StatusLine(render, quiet).run)
        if file is not None:
            running = reloading.Running(
                {c.name: c for c in cameras}, publishers, state, motion, recording, timelapse
            )

            async def apply_config(new: Config) -> list[str]:
                return await reloading.apply(new, running)

            state.reloader = Reloader(file, config, apply_config)
            supervisor.add("reload on SIGHUP", functools.partial(reloading.on_sighup, state.reloader))
        settled()
        await run_until_signalled(cameras, supervisor)
    log.info("stopped")


def start_sound(camera: Camera, supervisor: Supervisor) -> None:
    """Open the camera's microphone (its sound input) as a part of its own, when its audio is on; and
    say so."""
    if camera.sound is not None:
        print(f"camcast: {camera.name}'s microphone is ON ({camera.sound.device}): every page "
              "and the status say so; the shutter closes it", flush=True)  # fmt: skip
        supervisor.add(camera.sound.part, camera.sound.run)


def settled() -> None:
    """What start-up made (the modules, the configuration, the event and recording indexes) stays for
    the process's life: moved out of the garbage collector's sight, so that its full collections walk
    only what changes (a full collection over a month's events held the event loop for tens of ms:
    docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()


async def publish(config: Config, quiet: bool = False, wait: bool = False) -> None:
    """Publish every configured camera that has a destination, until SIGINT or SIGTERM (``wait``: see
    :func:`open_cameras`)."""
    chosen = [c for c in config.cameras if c.publish_to]
    if not chosen:
        raise ConfigError(
            "needs a destination: a folder, or an ftp://, ftps://, sftp:// or s3:// URL", key="publish_to"
        )
    _check_targets(chosen)
    supervisor = Supervisor()
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(logs.log_file(paths.log_file()))
        cameras = await open_cameras(chosen, stack, wait)
        publishers = [await start_publisher(c, stack) for c in cameras]
        for camera, publisher in zip(cameras, publishers, strict=True):
            print(
                f"camcast: publishing {camera.describe()} to {publisher.store.describe()} every "
                f"{camera.settings.every:g} s" + (" with HLS video" if publisher.video else ""),
                flush=True,
            )
            supervisor.add(f"{camera.name}: publishing", publisher.run)
            if publisher.video is not None:  # the only output of publish that carries sound
                start_sound(camera, supervisor)

        def render() -> str:
            now = time.monotonic()
            return " | ".join(
                f"{camera_line(c, None, now, len(cameras) == 1)} · {p.line()}"
                for c, p in zip(cameras, publishers, strict=True)
            )

        supervisor.add("status line", StatusLine(render, quiet).run)
        await run_until_signalled(cameras, supervisor)


async def check(config: Config) -> str:
    """``publish --check``: one report line per camera destination."""
    chosen = [c for c in config.cameras if c.publish_to]
    if not chosen:
        raise ConfigError("--check needs a destination to check: pass --to")
    reports = []
    for one in chosen:
        report = await check_store(store_for(one))
        reports.append(report if len(chosen) == 1 else f"{one.id}: {report}")
    return "\n".join(reports)


async def run_until_signalled(cameras: Sequence[Camera], supervisor: Supervisor) -> None:
    """Run the cameras and every other child of ``supervisor`` until SIGINT/SIGTERM, or until every
    camera's source has ended by itself (a video file that does not loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    captures = [supervisor.add(f"camera {c.name}", c.run) for c in cameras]
    try:
        async with asyncio.TaskGroup() as tg:
            ended = [tg.create_task(c.ended.wait()) for c in captures]
            tasks = {tg.create_task(supervisor.run()), tg.create_task(stop.wait()),
                     tg.create_task(asyncio.wait(ended))}  # fmt: skip
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in (*tasks, *ended):
                task.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def snapshot(config: Config, out: str) -> int:
    """Capture one frame of the (first selected) camera to ``out`` (``-`` for stdout), atomically;
    returns the bytes written."""
    async with contextlib.AsyncExitStack() as stack:
        camera = (await open_cameras(config.cameras[:1], stack))[0]
        rendition = camera.rendition("snapshot")
        capture = asyncio.create_task(camera.run())
        try:
            frame = await rendition.snapshot()
        finally:
            capture.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await capture
    data = frame.payload.data
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_atomic(Path(out), data, mode=0o644)
    return len(data)
