"""The aiohttp application over a set of cameras: the route table registered, deny-by-default policy,
security headers, and an orderly end for streams and the viewer log."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import web, web_response

from camcast.audio.talk import Speaker
from camcast.camera import Camera
from camcast.security.viewers import ViewerLog
from camcast.server.auth import Gate, check, same_origin
from camcast.server.hls import HlsOutput
from camcast.server.mjpeg import Fanout
from camcast.server.proxy import PROXY, TrustedProxies
from camcast.server.routes import BOUND
from camcast.server.state import ENDED, PRINCIPAL, STATE, Handler, Served, ServerState, read_form, state
from camcast.server.urls import CAMERA_PREFIX, ROUTES, Route, path_for
from camcast.server.webrtc import ice as webrtc_ice
from camcast.server.webrtc import talk
from camcast.server.webrtc.ice import IceSettings
from camcast.server.webrtc.sessions import WebRtc
from camcast.server.webrtc.track import SoundOutput, WebRtcOutput

log = logging.getLogger(__name__)

#: Seconds between sweeps that end idle snapshot/page sessions in the viewer log.
SWEEP_EVERY = 10.0
#: Suffix of the resource names of routes under /cam/NAME/.
_PER_CAMERA = ".camera"
_BY_RESOURCE = {r.name: r for r in ROUTES} | {r.name + _PER_CAMERA: r for r in ROUTES if r.camera}


def _route_camera(request: web.Request, route: Route) -> str | None:
    """The camera whose access rules apply: None for server-wide routes and the top-level camera grid."""
    if not route.camera:
        return None
    named = request.match_info.get("camera") or request.query.get("camera")
    if named:
        return named
    st = state(request)
    if len(st.cameras) > 1 and route.name in ("index", "pause", "resume") and "action" not in request.query:
        return None  # the grid shows only what the principal may see; the shutter acts on all
    return st.default


def _effective_name(route: Route, request: web.Request) -> str:
    """The route a request really uses: mjpg-streamer's ``/?action=`` aliases count as what they serve."""
    if route.name == "index":
        return {"stream": "stream", "snapshot": "snapshot"}.get(request.query.get("action", ""), "index")
    return route.name


@web.middleware
async def _policy(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Deny by default: a request reaches a handler only if its route's role allows its principal."""
    resource = request.match_info.route.resource
    name = resource.name if resource is not None else None
    if name is None:  # no such route: aiohttp's own 404/405 handler
        return await handler(request)
    route = _BY_RESOURCE[name]
    st = state(request)
    try:
        request[PRINCIPAL] = await check(
            st.gate, request, _effective_name(route, request), route.role, _route_camera(request, route)
        )
    except web.HTTPUnauthorized:
        if route.name != "settings_page" or "text/html" not in request.headers.get("Accept", ""):
            raise
        # A person opening the settings page in a browser without credentials: the sign-in form.
        raise web.HTTPSeeOther(st.base_path + path_for("login_page", next=request.path)) from None
    if request.method not in ("GET", "HEAD"):
        if not same_origin(request):
            raise web.HTTPForbidden(text="cross-origin requests may not change anything\n")
        await _check_changes(request, route)
    # Until it is answered (a stream: until it ends), the request is a delivery of its principal's.
    what = f"{route.name} for {request.remote}"
    with st.gate.deliveries.holding(request[PRINCIPAL], functools.partial(_cut, request), what):
        return await handler(request)


def _cut(request: web.Request, why: str) -> None:
    """End ``request`` now (its principal no longer holds): its connection is closed, whatever it was
    sending; the handler's viewer log line says ``why``."""
    request[ENDED] = why
    if request.transport is not None:
        request.transport.close()


async def _check_changes(request: web.Request, route: Route) -> None:
    """A browser session's change carries its CSRF token (header ``X-CSRF-Token``, or a form's
    ``csrf`` field); the settings' changes come only from a session."""
    p = request[PRINCIPAL]
    if route.changes == "session" and (p is None or p.via != "session"):
        raise web.HTTPForbidden(text="changes to the settings come from the settings page (open /settings)\n")
    if route.changes and p is not None and p.via == "session":
        sent = request.headers.get("X-CSRF-Token")
        if sent is None and request.content_type == "application/x-www-form-urlencoded":
            sent = str((await read_form(request)).get("csrf", ""))
        if not sent or not hmac.compare_digest(sent.encode(), p.csrf.encode()):
            raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the page\n")


@web.middleware
async def _forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request from a trusted proxy becomes the request of the client the proxy names (see
    :mod:`camcast.server.proxy`), held to the per-address cap the proxy's own address is spared."""
    proxies = state(request).proxies
    peer = request.remote
    if peer is None or not proxies.trusts(peer):
        return await handler(request)
    client, scheme, host = proxies.resolve(peer, request.headers)
    request = request.clone(remote=client, scheme=scheme or request.scheme, host=host or request.host)
    request[PROXY] = peer
    if proxies.open[client] >= proxies.max_per_client:
        raise web.HTTPServiceUnavailable(text="too many connections; retry.\n", headers={"Retry-After": "5"})
    proxies.open[client] += 1
    try:
        return await handler(request)
    finally:
        proxies.open[client] -= 1
        if proxies.open[client] <= 0:
            del proxies.open[client]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unexpected failures become a bare 500 (details go to the log, never to the client)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ConnectionError:
        # The client left while its response was being written: the end of a visit, not a fault.
        # aiohttp would log it as an "Error handling request" with a traceback; nothing can reach the
        # client any more, so the response only names the case in the access log (nginx's 499).
        log.info("%s %s: client %s left", request.method, request.path, request.remote)
        return web.Response(status=499, reason="Client Closed Request")
    except TimeoutError:
        raise
    except Exception:
        log.exception("error serving %s %s", request.method, request.path)
        raise web.HTTPInternalServerError(text="internal error\n") from None


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(
        {
            "Content-Security-Policy": (
                "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; "
                # video: HLS natively from the server, or hls.js's Media Source (a blob: URL)
                "media-src 'self' blob:; "
                "connect-src 'self'; base-uri 'none'; form-action 'self'; "
                f"frame-ancestors {request.app[STATE].frame_ancestors}"
            ),
            "X-Content-Type-Options": "nosniff",
            # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with a
            # form's POST, which the Origin check refuses; no other site gets a Referer either way.
            "Referrer-Policy": "same-origin",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Server": "camcast",
        }
    )


def _hide_server_version() -> None:
    """Responses aiohttp makes itself (to requests it cannot parse, before any route or signal runs)
    carry ``Server: Python/3.x aiohttp/3.y``; name no versions there either."""
    web_response.SERVER_SOFTWARE = "camcast"  # type: ignore[attr-defined]  # read per response; no public setting


def build_app(
    cameras: Sequence[Camera],
    gate: Gate,
    viewer_log: Path | None,
    frame_ancestors: str = "'self'",
    ice: IceSettings | None = None,
    proxies: TrustedProxies | None = None,
    base_path: str = "",
) -> web.Application:
    """The application serving ``cameras`` (each shows its ``serve`` rendition); run the cameras
    alongside it. ``ice`` says where WebRTC peers connect (by default: loopback, no STUN/TURN);
    ``proxies`` are the reverse proxies believed about the client; every route answers under
    ``base_path`` (``/cam``, or empty)."""
    _hide_server_version()
    webrtc_ice.install()
    app = web.Application(middlewares=[_forwarded, _errors, _policy], client_max_size=64 * 1024)
    shown = {}
    for camera in cameras:
        rendition = camera.rendition("serve")
        video = camera.rendition("serve", "h264")  # one encode for HLS and WebRTC
        variants = [HlsOutput(video, camera.settings.hls_window, "v0.m3u8")]
        for variant in range(1, len(camera.video_sizes)):  # smaller ones, for phones: HLS only
            smaller = camera.rendition("serve", "h264", variant)
            variants.append(HlsOutput(smaller, camera.settings.hls_window, f"v{variant}.m3u8"))
        fanout, webrtc_out = Fanout(rendition), WebRtcOutput(video)
        sound, heard = None, []
        if camera.sound is not None:
            sound = SoundOutput(camera.sound.rendition("opus"))
            aac = camera.sound.rendition("aac")
            heard = [HlsOutput(v.rendition, v.segmenter.window, v.uri, aac) for v in variants]
        speaker = Speaker(camera.name, camera.settings.audio_out) if camera.settings.audio_out else None
        shown[camera.name] = Served(
            camera, rendition, fanout, tuple(variants), webrtc_out, sound, tuple(heard), speaker
        )
    webrtc = WebRtc(ice or IceSettings())
    app[STATE] = ServerState(
        shown, gate, ViewerLog(viewer_log), webrtc, proxies or TrustedProxies(()), base_path, frame_ancestors,
        time.monotonic(),
    )  # fmt: skip
    for camera in cameras:
        camera.info["viewers"] = lambda name=camera.name: app[STATE].viewers.watching(name)  # type: ignore[misc]
    for route, handler in BOUND:
        paths = [(route.path, route.name)]
        if route.camera:
            paths.append((CAMERA_PREFIX + route.path, route.name + _PER_CAMERA))
        for path, name in paths:
            path = base_path + path
            if route.method == "GET":
                app.router.add_get(path, handler, name=name)  # and HEAD
            else:
                app.router.add_route(route.method, path, handler, name=name)
    app.on_response_prepare.append(_headers)
    app.cleanup_ctx.append(_sweeper)
    app.on_shutdown.append(_close_streams)
    return app


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            app[STATE].viewers.sweep()
            now = time.monotonic()
            for cam in app[STATE].cameras.values():
                for hls in (*cam.variants, *cam.heard):
                    hls.sweep(now)
            onvif = app[STATE].onvif
            if onvif is not None:
                onvif.events.sweep(time.time())

    task = asyncio.create_task(sweep())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await app[STATE].viewers.aclose()


async def _close_streams(app: web.Application) -> None:
    for cam in app[STATE].cameras.values():
        cam.fanout.close_all()
    await app[STATE].webrtc.close_all()
    await talk.end_all(app[STATE].talks)
