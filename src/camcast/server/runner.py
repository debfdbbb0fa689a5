"""The server runner: the cameras served over HTTP on the configured address, and on the owner's
control socket, for as long as the context is open."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import web

from camcast import paths
from camcast.camera import Camera
from camcast.config import ServerSettings
from camcast.errors import CamcastError, ServeError
from camcast.motion.runner import Motion
from camcast.net import bracket, shown_host
from camcast.onvif.context import identity
from camcast.onvif.service import Onvif
from camcast.record.runner import Recorders
from camcast.rtsp.server import RtspServer
from camcast.rtsp.stream import RtpStream
from camcast.security.accounts import Accounts
from camcast.security.files import private_dir
from camcast.security.links import ShareLinks
from camcast.security.tokens import MetricsToken, ShareKeys
from camcast.security.viewers import ViewerLog
from camcast.server.app import build_app
from camcast.server.auth import Gate
from camcast.server.guard import Limits
from camcast.server.listen import Access, listen
from camcast.server.onvif import announce
from camcast.server.proxy import TrustedProxies
from camcast.server.state import STATE, ServerState
from camcast.server.urls import path_for, rtsp_url, scope_routes
from camcast.server.webrtc.ice import IceSettings, host_addresses, ice_servers
from camcast.timelapse.runner import Timelapses

log = logging.getLogger("camcast")

#: Where the TURN password may come from instead of the config file.
TURN_PASSWORD_ENV = "CAMCAST_TURN_PASSWORD"

#: The longest path a Unix socket may have (sun_path is 108 bytes with its terminating NUL).
MAX_SOCKET_PATH = 107
#: Seconds streams get to end when the server stops, before their connections are closed.
SHUTDOWN_TIMEOUT = 2.0


def served_urls(base: str, cameras: Sequence[str]) -> list[tuple[str, str]]:
    """What to print at start: the pages and streams, for every camera when there are several."""
    urls = [(f"{base}{path_for('index')}", "the camera" if len(cameras) == 1 else "every camera")]
    for camera in cameras if len(cameras) > 1 else [None]:
        label = f"{camera}: " if camera else ""
        urls += [
            (f"{base}{path_for('snapshot', camera)}", f"{label}snapshot"),
            (f"{base}{path_for('stream', camera)}", f"{label}MJPEG stream"),
        ]
        if camera is None:
            urls += [
                (f"{base}{path_for('view_refresh')}", "viewer: page refresh"),
                (f"{base}{path_for('view_script')}", "viewer: image refresh"),
                (f"{base}{path_for('view_stream')}", "viewer: live stream (best the browser plays)"),
                (f"{base}{path_for('view_live')}", "viewer: WebRTC, under a second"),
            ]
    urls.append((f"{base}{path_for('status')}", "status"))
    urls.append((f"{base}{path_for('settings_page')}", "settings (the owner's)"))
    return urls


@contextlib.asynccontextmanager
async def serving(
    cameras: Sequence[Camera],
    settings: ServerSettings,
    access: Access,
    accounts: Accounts,
    motion: Motion,
    recording: Recorders,
    timelapse: Timelapses,
) -> AsyncIterator[ServerState]:
    """Serve ``cameras`` (their ``motion``, ``recording``, ``timelapse`` too) until the context exits;
    yields the
    server's state (viewers, streams)."""
    links = ShareLinks(ShareKeys(paths.share_key()), paths.share_links())
    gate = Gate(
        accounts, links, loopback_only=access.loopback, public=settings.public, tls=access.tls is not None,
        scopes=scope_routes, metrics=MetricsToken(paths.metrics_token()),
    )  # fmt: skip
    await asyncio.to_thread(gate.hold)  # from now on, requests read the registries from memory
    private_dir(paths.state_dir())
    host, port = settings.listen
    turn_password = os.environ.get(TURN_PASSWORD_ENV) or settings.turn_password
    hosts = await asyncio.to_thread(host_addresses, host)
    ice = IceSettings(hosts, ice_servers(settings.ice_server, turn_password))
    proxies = TrustedProxies(settings.trusted_proxy, settings.max_connections_per_address)
    app = build_app(
        cameras, gate, paths.viewer_log(), settings.frame_ancestors, ice, proxies, settings.base_path
    )
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, keepalive_timeout=settings.idle_timeout,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )  # fmt: skip
    app[STATE].settings = settings
    app[STATE].motion = motion
    app[STATE].recording = recording
    app[STATE].timelapse = timelapse
    if settings.onvif:
        app[STATE].onvif = Onvif(
            await asyncio.to_thread(identity, paths.state_dir()), settings.onvif_discovery
        )
        await asyncio.to_thread(accounts.device.ensure)  # the key device URLs are signed with
    await runner.setup()
    limits = Limits(
        settings.max_connections, settings.max_connections_per_address, settings.header_timeout,
        exempt=proxies.trusts,
    )  # fmt: skip
    socket = paths.control_socket(port)
    control: Path | None = None  # the socket, once it listens
    server = None
    try:
        if settings.rtsp is not None:  # first: once /healthz answers, every door is open
            app[STATE].rtsp = await start_rtsp(cameras, settings, gate, app[STATE].viewers, access.tls)
        server = await listen(runner, host, port, access.tls, limits)
        if app[STATE].onvif is not None and settings.onvif_discovery:
            await announce(app[STATE], "https" if access.tls else "http", host, port)
        if await open_control(runner, socket):
            control = socket
        shown = await asyncio.to_thread(shown_host, host)  # may ask the resolver
        base = f"{'https' if access.tls else 'http'}://{bracket(shown)}:{port}{settings.base_path}"
        app[STATE].base_url = base
        urls = served_urls(base, [c.name for c in cameras])
        rtsp = app[STATE].rtsp
        if rtsp is not None and settings.rtsp is not None:
            urls += rtsp_urls(rtsp, settings.rtsp, await asyncio.to_thread(shown_host, settings.rtsp[0]))
        for url, what in urls:
            print(f"  {url:<48} {what}", flush=True)
        for note in access.notes:
            print(f"camcast: {note}", flush=True)
        yield app[STATE]
    finally:
        onvif = app[STATE].onvif
        if onvif is not None:
            await onvif.aclose()
        rtsp_server = app[STATE].rtsp
        if rtsp_server is not None:
            await rtsp_server.close()
        if server is not None:
            server.close()
        await runner.cleanup()
        if control is not None:
            with contextlib.suppress(OSError):
                control.unlink()


async def start_rtsp(
    cameras: Sequence[Camera],
    settings: ServerSettings,
    gate: Gate,
    viewers: ViewerLog,
    tls: ssl.SSLContext | None,
) -> RtspServer:
    """The RTSP server of ``cameras`` (RTSPS with ``tls``) on ``settings.rtsp``, listening, with the
    HTTP server's connection limits."""
    assert settings.rtsp is not None
    streams = {
        c.name: RtpStream(c.rendition("rtsp", codec="h264"), c.sound.rendition("opus") if c.sound else None)
        for c in cameras
    }
    rtsp = RtspServer(
        streams, {c.name: c.settings.title for c in cameras}, gate, viewers, tls, settings.max_connections,
        settings.max_connections_per_address,
    )  # fmt: skip
    host, port = settings.rtsp
    try:
        await rtsp.start(host, port)
    except OSError as exc:
        raise ServeError(f"cannot serve RTSP on {bracket(host)}:{port}: {exc.strerror or exc}") from None
    return rtsp


def rtsp_urls(rtsp: RtspServer, listen_on: tuple[str, int], shown: str) -> list[tuple[str, str]]:
    names = list(rtsp.streams)
    urls = {name: rtsp_url(rtsp.tls is not None, shown, listen_on[1], name) for name in names}
    if len(names) == 1:
        return [(urls[names[0]], "RTSP (H.264): NVRs, Home Assistant, Frigate, VLC")]
    return [(urls[name], f"{name}: RTSP (H.264)") for name in names]


async def open_control(runner: web.AppRunner, control: Path) -> bool:
    """Listen on the owner's control socket too (mode 0600, in a private folder); whether it could be
    made. A folder that holds no sockets (9p, some NFS or SMB homes) or a path too long for one is one
    warning, never a stop: the server serves, and the shutter is on the page and the owner's API."""
    if len(os.fsencode(control)) > MAX_SOCKET_PATH:
        why = f"its path is over {MAX_SOCKET_PATH} bytes (set XDG_RUNTIME_DIR or XDG_STATE_HOME shorter)"
    else:
        try:
            await asyncio.to_thread(private_dir, control.parent)
            await asyncio.to_thread(control.unlink, missing_ok=True)  # a crashed server's
            await web.UnixSite(runner, str(control)).start()
            await asyncio.to_thread(os.chmod, control, 0o600)
            return True
        except (OSError, CamcastError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
    log.warning("no control socket %s: %s; `camcast pause`, `resume`, `viewers` and `controls` cannot "
                "reach this server (the settings page and the owner's API can)", control, why)  # fmt: skip
    return False
