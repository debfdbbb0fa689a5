"""Builds the source, hub and outputs from a :class:`Config` and runs them until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from camcast.config import Config, config_dir, state_dir
from camcast.errors import ConfigError, ServeError, UploadError
from camcast.geometry import transforms
from camcast.hub import Hub, Output
from camcast.overlay import LogoOverlay, TextOverlay
from camcast.privacy import Step, live_badge_step, mask_step
from camcast.publish import RemoteStore, open_store
from camcast.publish.publisher import Publisher, PublishOptions
from camcast.publish.target import parse_target
from camcast.security.accounts import Accounts
from camcast.security.files import private_dir, write_atomic
from camcast.security.tokens import ShareKeys
from camcast.server import build_app
from camcast.server.auth import Gate, is_loopback_host
from camcast.server.guard import Limits, guarded
from camcast.server.routes import STATE
from camcast.sources import Source, ThreadedSource, open_source

log = logging.getLogger(__name__)

#: Seconds between status lines when stdout is not a terminal (a terminal gets a live line every second).
LOG_STATUS_EVERY = 30.0


def make_source(config: Config) -> Source:
    """The configured source, opened so that a bad device or file fails now, not after start-up.

    Processing (geometry, masks, overlays) needs pixels, so a camera's own MJPEG is then decoded.
    """
    passthrough = config.passthrough and not needs_pixels(config)
    source = open_source(config.source, config.size, config.fps, passthrough, warmup=config.warmup)
    if isinstance(source, ThreadedSource):
        source.start()
    box = config.crop
    width, height = getattr(source, "width", 0), getattr(source, "height", 0)
    if box is not None and width and (box.x + box.w > width or box.y + box.h > height):
        raise ConfigError(
            f"--crop {box.x},{box.y},{box.w},{box.h} does not fit the {width}x{height} picture of "
            f"{source.describe()}: x+w must be at most {width} and y+h at most {height}"
        )
    return source


def needs_pixels(config: Config) -> bool:
    """Whether any output draws on or reshapes the picture (then a camera's JPEG must be decoded)."""
    outputs = [config, *(config.for_output(name) for name in config.sections)]
    return bool(config.mask or config.crop or config.rotate or config.flip != "none" or config.scale) or any(
        c.live_badge or c.text or c.logo for c in outputs
    )


#: Live values a caption can show, filled in by whoever knows them (the server knows its viewers).
Info = dict[str, Callable[[], object]]


def processing(config: Config) -> list[Step]:
    """The steps applied to every frame before any output sees it: geometry (so text is never rotated),
    then privacy masks."""
    steps: list[Step] = [
        (lambda image, wall, t=t: t(image))  # type: ignore[misc]
        for t in transforms(config.crop, config.rotate, config.flip, config.scale)
    ]
    if config.mask:
        steps.append(mask_step(config.mask))
    return steps


def overlays(config: Config, info: Info) -> list[Step]:
    """What is drawn on an output's pictures, after the shared processing: caption, logo, LIVE badge."""
    steps: list[Step] = []
    if config.text:
        caption = TextOverlay(
            config.text, config.text_position, config.text_size, config.text_color, config.text_font,
            stats=lambda: {key: value() for key, value in info.items()},
        )  # fmt: skip
        steps.append(caption)
    if config.logo:
        steps.append(LogoOverlay(config.logo, config.logo_position, config.logo_width))
    if config.live_badge:
        steps.append(live_badge_step())
    return steps


def make_hub(config: Config, source: Source) -> tuple[Hub, Info]:
    """The hub, with the shared processing and the main output's overlays folded in (outputs with
    overlays of their own get an extra output from :func:`output_for`)."""
    info: Info = {"name": lambda: config.camera_name, "viewers": lambda: 0}
    hub = Hub(
        source,
        config.quality,
        reopen=lambda: make_source(config),
        # Without per-output tables, every output draws the same: draw it once, in the hub.
        process=processing(config) + ([] if config.sections else overlays(config, info)),
        drop_same_frames=config.drop_same_frames,
    )
    info["fps"] = lambda: f"{hub.rate_in.per_second():.0f}"
    return hub, info


def output_for(config: Config, hub: Hub, info: Info, name: str) -> Output:
    """The hub output for ``name`` (serve, publish, snapshot): the main one when the config file has no
    per-output tables; else one drawing that output's own overlays (the hub then draws none)."""
    if not config.sections:
        return hub.main
    return hub.output(overlays(config.for_output(name), info))


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def served_urls(host: str, port: int, tls: bool = False) -> list[tuple[str, str]]:
    base = f"{'https' if tls else 'http'}://{format_host(host)}:{port}"
    return [
        (f"{base}/", "index of the viewer pages"),
        (f"{base}/snapshot.jpg", "snapshot"),
        (f"{base}/stream.mjpg", "MJPEG stream"),
        (f"{base}/view/refresh", "viewer: page refresh"),
        (f"{base}/view/script", "viewer: image refresh"),
        (f"{base}/view/stream", "viewer: live stream"),
        (f"{base}/status.json", "status"),
    ]


def free_port_near(host: str, port: int) -> int | None:
    """A port after ``port`` that can be bound on ``host`` now, to suggest in an error message."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in range(port + 1, min(port + 50, 65536)):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return None


async def listen(
    runner: web.AppRunner, host: str, port: int, tls: ssl.SSLContext | None, limits: Limits
) -> asyncio.Server:
    """Listen on ``host``:``port`` with every connection behind the :class:`Guard`."""
    loop = asyncio.get_running_loop()
    assert runner.server is not None
    try:
        return await loop.create_server(
            guarded(runner.server, limits), host, port, ssl=tls, backlog=1024, reuse_address=True
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            alt = free_port_near(host, port)
            hint = f"; pass --listen {format_host(host)}:{alt}" if alt else ""
            raise ServeError(f"port {port} is in use on {host}{hint}") from exc
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
            raise ServeError(f"cannot listen on {host}: no such address on this machine") from exc
        if exc.errno == errno.EACCES:
            raise ServeError(f"port {port} needs privileges; pass --listen {format_host(host)}:8080") from exc
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def tls_context(config: Config) -> ssl.SSLContext | None:
    if not config.tls_cert and not config.tls_key:
        return None
    if not (config.tls_cert and config.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together; `camcast tls self-signed` makes a pair")
    for flag, path in (("--tls-cert", config.tls_cert), ("--tls-key", config.tls_key)):
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{flag} {path}: {'cannot read it' if Path(path).exists() else 'no such file'}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot use {config.tls_cert} / {config.tls_key} for TLS: {getattr(exc, 'reason', None) or exc}"
        ) from exc
    return context


def access_policy(config: Config, accounts: Accounts, tls: bool) -> tuple[bool, list[str]]:
    """Whether the server listens on loopback only, and the warnings to print; raises ConfigError when
    the configuration would let someone watch who was not let in."""
    host = config.listen[0]
    loopback = is_loopback_host(host)
    notes: list[str] = []
    if config.public and accounts:
        notes.append("--public has no effect while accounts exist: everyone must sign in")
    elif config.public:
        notes.append("PUBLIC: anyone who can reach this server may watch, without an account")
    if not loopback and not accounts and not config.public:
        raise ConfigError(
            f"refusing to serve on {host} with no viewer accounts: add one with `camcast users add NAME`, "
            "or pass --public to let anyone who can reach it watch"
        )
    if not loopback and accounts and not tls:
        raise ConfigError(
            f"refusing to take passwords over plain HTTP on {host}: pass --tls-cert and --tls-key "
            "(`camcast tls self-signed` makes a pair)"
        )
    return loopback, notes


def store_for(config: Config) -> RemoteStore:
    """The remote store ``config.to`` names (not connected yet)."""
    assert config.to is not None
    target = parse_target(config.to, config.upload_password)
    return open_store(
        target,
        ca_file=config.ca_file,
        fingerprint=config.fingerprint,
        active=config.active,
        identity=config.identity,
    )


def make_publisher(config: Config, hub: Hub, info: Info) -> Publisher:
    """The publisher for ``config.to`` (not started)."""
    store = store_for(config)
    options = PublishOptions(
        every=config.every,
        name=config.name,
        archive=config.archive_pattern if config.archive else None,
        keep_days=config.keep_days,
        keep=config.keep,
        stream_fps=config.stream_fps,
        title=f"camcast · {hub.source.describe()}",
    )
    return Publisher(hub, store, options, output_for(config, hub, info, "publish"))


async def start_publisher(config: Config, hub: Hub, info: Info) -> Publisher:
    """The publisher, prepared (connected, folders made, pages uploaded); on failure the source and
    the connection are closed before the error goes up."""
    publisher = make_publisher(config, hub, info)
    try:
        await publisher.prepare()
    except BaseException:
        await hub.source.aclose()
        await publisher.store.aclose()
        raise
    return publisher


async def check_target(config: Config) -> str:
    """Connect to ``config.to``, write a file, rename it, list it and delete it; a one-line report."""
    if config.to is None:
        raise ConfigError("--check needs --to")
    store = store_for(config)
    times = []
    try:
        t0 = time.monotonic()
        await store.makedirs("")
        times.append(("connect", time.monotonic() - t0))
        t0 = time.monotonic()
        await store.put_atomic("camcast-check.txt", b"camcast can write here\n")
        times.append(("write+rename", time.monotonic() - t0))
        names = [e.name for e in await store.list("")]
        if "camcast-check.txt" not in names:
            raise UploadError(f"{store.describe()} accepted the file but does not list it")
        t0 = time.monotonic()
        await store.delete("camcast-check.txt")
        times.append(("delete", time.monotonic() - t0))
    finally:
        await store.aclose()
    report = ", ".join(f"{what} {seconds * 1000:.0f} ms" for what, seconds in times)
    return f"{store.describe()} works: {report}"


async def publish(config: Config, quiet: bool = False) -> None:
    """Publish pictures to ``config.to`` until SIGINT or SIGTERM."""
    if config.to is None:
        raise ConfigError("publish needs --to: a folder, or an ftp://, ftps:// or sftp:// URL")
    parse_target(config.to, config.upload_password)  # a bad --to fails before the camera is opened
    source = await asyncio.to_thread(make_source, config)
    hub, info = make_hub(config, source)
    publisher = await start_publisher(config, hub, info)
    print(
        f"camcast: publishing {source.describe()} to {publisher.store.describe()} every {config.every:g} s",
        flush=True,
    )
    try:
        await run_until_signalled(hub, publisher.run(), StatusLine(publisher.stats.line, quiet))
    finally:
        await publisher.store.aclose()


async def run_until_signalled(hub: Hub, *jobs: Any) -> None:
    """Run the hub and ``jobs`` (coroutines, or StatusLines) until SIGINT/SIGTERM or the hub ends."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with asyncio.TaskGroup() as tg:
            capture = tg.create_task(hub.run(), name="camcast-hub")
            others = [tg.create_task(job.run() if isinstance(job, StatusLine) else job) for job in jobs]
            stopper = tg.create_task(stop.wait())
            await asyncio.wait({capture, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (*others, capture, stopper):
                task.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def control_socket(port: int) -> Path:
    """The owner's local control socket for the server on ``port`` (in the private state folder)."""
    return state_dir() / f"control-{port}.sock"


class StatusLine:
    """A one-line live status on a terminal, or a plain log line every LOG_STATUS_EVERY seconds."""

    def __init__(self, render: Callable[[], str], quiet: bool) -> None:
        self.render = render
        self.tty = sys.stdout.isatty() and not quiet
        self.quiet = quiet

    async def run(self) -> None:
        if self.quiet:
            return
        period = 1.0 if self.tty else LOG_STATUS_EVERY
        try:
            while True:
                await asyncio.sleep(period)
                if self.tty:
                    sys.stdout.write("\r\x1b[2K" + self.render())
                    sys.stdout.flush()
                else:
                    log.info("%s", self.render())
        finally:
            if self.tty:
                sys.stdout.write("\n")


async def serve(config: Config, quiet: bool = False) -> None:
    """Run the camera server until SIGINT or SIGTERM."""
    accounts = Accounts(config_dir() / "users.json")
    tls = tls_context(config)
    loopback, notes = access_policy(config, accounts, tls is not None)
    if config.to:
        parse_target(config.to, config.upload_password)  # a bad --publish-to fails before the camera opens
    source = await asyncio.to_thread(make_source, config)
    hub, info = make_hub(config, source)
    publisher = await start_publisher(config, hub, info) if config.to else None
    gate = Gate(
        accounts,
        ShareKeys(config_dir() / "share.key"),
        loopback_only=loopback,
        public=config.public,
        tls=tls is not None,
    )
    private_dir(state_dir())
    app = build_app(
        hub,
        gate,
        state_dir() / "viewers.jsonl",
        config.frame_ancestors,
        output_for(config, hub, info, "serve"),
    )
    info["viewers"] = lambda: len(app[STATE].viewers.open)
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=config.idle_timeout,
        shutdown_timeout=2.0,
    )
    await runner.setup()
    host, port = config.listen
    limits = Limits(config.max_connections, config.max_connections_per_address, config.header_timeout)
    try:
        server = await listen(runner, host, port, tls, limits)
        control = web.UnixSite(runner, str(control_socket(port)))
        await control.start()
        os.chmod(control_socket(port), 0o600)
    except BaseException:
        await runner.cleanup()
        await source.aclose()
        raise
    print(f"camcast: serving {source.describe()}", flush=True)
    for url, what in served_urls(host, port, tls is not None):
        print(f"  {url:<40} {what}", flush=True)
    for note in notes:
        print(f"camcast: {note}", flush=True)

    def render() -> str:
        now = time.monotonic()
        state = "PAUSED" if hub.paused else "live" if hub.live else "OFFLINE"
        watching = len(app[STATE].viewers.open)
        return (
            f"{source.describe()} [{state}] · in {hub.rate_in.per_second(now):4.1f} fps · "
            f"out {app[STATE].output.rate_out.per_second(now):4.1f} fps · viewers {watching} · "
            f"encodes {hub.rate_encode.per_second(now):4.1f}/s"
        )

    jobs: list[Any] = []
    if publisher is not None:
        jobs.append(publisher.run())
        print(
            f"camcast: also publishing to {publisher.store.describe()} every {config.every:g} s", flush=True
        )

        def with_uploads() -> str:
            return f"{render()} · {publisher.stats.line()}"

        jobs.append(StatusLine(with_uploads, quiet))
    else:
        jobs.append(StatusLine(render, quiet))
    try:
        await run_until_signalled(hub, *jobs)
    finally:
        if publisher is not None:
            await publisher.store.aclose()
        server.close()
        await runner.cleanup()
        with contextlib.suppress(OSError):
            control_socket(port).unlink()
    log.info("stopped")


async def snapshot(config: Config, out: str) -> int:
    """Capture one frame to ``out`` (``-`` for stdout), atomically; returns the bytes written."""
    source = await asyncio.to_thread(make_source, config)
    hub, info = make_hub(config, source)
    output = output_for(config, hub, info, "snapshot")
    capture = asyncio.create_task(hub.run())
    try:
        frame = await output.snapshot()
    finally:
        capture.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await capture
    if out == "-":
        sys.stdout.buffer.write(frame.data)
        sys.stdout.buffer.flush()
    else:
        write_atomic(Path(out), frame.data, mode=0o644)
    return len(frame.data)
