"""Builds the source, hub and outputs from a :class:`Config` and runs them until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from camcast.config import Config
from camcast.errors import CamcastError, ServeError
from camcast.hub import Hub
from camcast.server import build_app
from camcast.server.routes import FANOUT
from camcast.sources import Source, ThreadedSource, open_source

log = logging.getLogger(__name__)

#: Seconds between status lines when stdout is not a terminal (a terminal gets a live line every second).
LOG_STATUS_EVERY = 30.0


def make_source(config: Config) -> Source:
    """The configured source, opened so that a bad device or file fails now, not after start-up."""
    source = open_source(config.source, config.size, config.fps, config.passthrough)
    if isinstance(source, ThreadedSource):
        source.start()
    return source


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def served_urls(host: str, port: int) -> list[tuple[str, str]]:
    base = f"http://{format_host(host)}:{port}"
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


async def start_site(runner: web.AppRunner, host: str, port: int) -> web.TCPSite:
    site = web.TCPSite(runner, host, port, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            alt = free_port_near(host, port)
            hint = f"; pass --listen {format_host(host)}:{alt}" if alt else ""
            raise ServeError(f"port {port} is in use on {host}{hint}") from exc
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
            raise ServeError(f"cannot listen on {host}: no such address on this machine") from exc
        if exc.errno == errno.EACCES:
            raise ServeError(f"port {port} needs privileges; pass --listen {host}:8080") from exc
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return site


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
    source = await asyncio.to_thread(make_source, config)
    hub = Hub(source, config.quality)
    app = build_app(hub, config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = config.listen
    try:
        await start_site(runner, host, port)
    except BaseException:
        await runner.cleanup()
        await source.aclose()
        raise
    print(f"camcast: serving {source.describe()}", flush=True)
    for url, what in served_urls(host, port):
        print(f"  {url:<40} {what}", flush=True)

    def render() -> str:
        now = time.monotonic()
        live = "live" if getattr(source, "live", True) else "OFFLINE"
        return (
            f"{source.describe()} [{live}] · in {hub.rate_in.per_second(now):4.1f} fps · "
            f"out {hub.rate_out.per_second(now):4.1f} fps · viewers {len(app[FANOUT].viewers)} · "
            f"encodes {hub.rate_encode.per_second(now):4.1f}/s"
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with asyncio.TaskGroup() as tg:
            capture = tg.create_task(hub.run(), name="camcast-capture")
            status = tg.create_task(StatusLine(render, quiet).run(), name="camcast-status")
            stopper = tg.create_task(stop.wait())
            await asyncio.wait({capture, stopper}, return_when=asyncio.FIRST_COMPLETED)
            status.cancel()
            capture.cancel()
            stopper.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    log.info("stopped")


async def snapshot(config: Config, out: str) -> int:
    """Capture one frame to ``out`` (``-`` for stdout), atomically; returns the bytes written."""
    source = await asyncio.to_thread(make_source, config)
    hub = Hub(source, config.quality)
    capture = asyncio.create_task(hub.run())
    try:
        frame = await hub.snapshot()
    finally:
        capture.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await capture
    if out == "-":
        sys.stdout.buffer.write(frame.data)
        sys.stdout.buffer.flush()
    else:
        write_atomic(Path(out), frame.data)
    return len(frame.data)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, and rename it over ``path``."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CamcastError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise CamcastError(f"cannot write {path}: {exc.strerror}") from exc
        raise
