"""Routes of the camera server.

One table (:data:`ROUTES`) lists every path the server answers, with the least role each needs (see
:mod:`camcast.server.auth`); anything else is a 404, and a route cannot be registered without a role.
Query values are validated and a bad one is a 400 naming the parameter; neither affects other viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web, web_response

from camcast import viewer
from camcast.errors import CamcastError
from camcast.hub import Hub, Output
from camcast.server.auth import Gate, Principal, same_origin
from camcast.server.mjpeg import Fanout, stream
from camcast.server.viewers import ViewerLog

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ServerState:
    hub: Hub
    output: Output  # the pictures this server shows (its own overlays, if configured)
    fanout: Fanout
    gate: Gate
    viewers: ViewerLog
    frame_ancestors: str = "'self'"
    started: float = 0.0


STATE: web.AppKey[ServerState] = web.AppKey("camcast", ServerState)

#: Default refresh interval of the viewer pages, in seconds.
DEFAULT_EVERY = 2.0
#: Page URLs, shared by handlers and the navigation.
PAGE_LINKS = {"index": "/", "refresh": "/view/refresh", "script": "/view/script", "stream": "/view/stream"}
#: Seconds between sweeps that end idle snapshot/page sessions in the viewer log.
SWEEP_EVERY = 10.0


def state(request: web.Request) -> ServerState:
    return request.app[STATE]


def principal(request: web.Request) -> Principal | None:
    p: Principal | None = request.get("principal")
    return p


def query_number(request: web.Request, name: str, low: float, high: float, default: float | None) -> Any:
    """The query parameter ``name`` as a number in [low, high]; a 400 naming it when it is not."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also false for NaN
        raise web.HTTPBadRequest(text=f"{name} must be a number from {low:g} to {high:g}\n")
    return value


def _watcher(request: web.Request) -> tuple[str, str]:
    p = principal(request)
    return (p.name, p.via) if p else ("anonymous", "anonymous")


async def snapshot(request: web.Request) -> web.StreamResponse:
    st = state(request)
    try:
        frame = await st.output.snapshot()
    except CamcastError as exc:
        raise web.HTTPServiceUnavailable(text=f"{exc}\n") from exc
    who, via = _watcher(request)
    st.viewers.touch(request.remote or "?", who, via, "snapshot", 1)
    return web.Response(
        body=frame.data,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store, max-age=0", "X-Timestamp": f"{frame.wall:.6f}"},
    )


async def mjpeg(request: web.Request) -> web.StreamResponse:
    fps = query_number(request, "fps", 0.1, 120, None)
    st = state(request)
    who, via = _watcher(request)
    session = st.viewers.start(request.remote or "?", who, via, "stream")
    try:
        return await stream(request, st.fanout, fps)
    finally:
        viewer_ = request.get("viewer")
        session.frames = viewer_.frames_sent if viewer_ is not None else 0
        st.viewers.end(session)


async def index(request: web.Request) -> web.StreamResponse:
    action = request.query.get("action")
    if action == "stream":  # mjpg-streamer's URLs, which many tools expect
        return await mjpeg(request)
    if action == "snapshot":
        return await snapshot(request)
    if action is not None:
        raise web.HTTPBadRequest(text="action must be stream or snapshot\n")
    return page(request, "index")


def page(request: web.Request, name: str) -> web.Response:
    every = query_number(request, "every", 0.2, 3600, DEFAULT_EVERY)
    st = state(request)
    p = principal(request)
    # A share link's pages carry its token into the picture and link URLs, since the browser has no
    # other credentials to send.
    token = f"token={quote(p.token, safe='')}" if p is not None and p.via == "share" else ""

    def url(path: str, *params: str) -> str:
        query = "&".join(x for x in (*params, token) if x)
        return f"{path}?{query}" if query else path

    links = {key: url(path) for key, path in PAGE_LINKS.items()}
    links["refresh"] = url(PAGE_LINKS["refresh"], f"every={every:g}")
    links["script"] = url(PAGE_LINKS["script"], f"every={every:g}")
    who, via = _watcher(request)
    st.viewers.touch(request.remote or "?", who, via, f"page {name}", 0)
    body = viewer.render(
        name,
        title=f"camcast · {st.hub.source.describe()}",
        links=links,
        every=every,
        asset_base="/static",
        snapshot=url("/snapshot.jpg"),
        stream=url("/stream.mjpg"),
    )
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


def view(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return page(request, name)

    return handler


async def static_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in viewer.ASSETS:  # a fixed set of names, never a path on disk
        raise web.HTTPNotFound()
    return web.Response(
        body=viewer.asset(name),
        content_type=viewer.ASSETS[name],
        headers={"Cache-Control": "public, max-age=300"},
    )


def status_document(st: ServerState) -> dict[str, object]:
    hub = st.hub
    latest = hub.latest
    now = time.monotonic()
    viewers = len(st.viewers.open)
    return {
        "source": hub.source.describe(),
        "live": hub.live,
        "paused": hub.paused,
        "paused_since": hub.paused_since,
        "on_air": viewers > 0 and not hub.paused,
        "width": latest.width if latest else None,
        "height": latest.height if latest else None,
        "fps_in": round(hub.rate_in.per_second(now), 2),
        "fps_out": round(st.output.rate_out.per_second(now), 2),
        "encodes_per_second": round(hub.rate_encode.per_second(now), 2),
        "frames_in": hub.frames_in,
        "frames_encoded": hub.frames_encoded,
        "same_frames_dropped": st.output.same_frames_dropped,
        "viewers": viewers,
        "streams": len(st.fanout.viewers),
        "uptime": round(now - st.started, 1),
    }


async def status(request: web.Request) -> web.StreamResponse:
    return web.json_response(status_document(state(request)), headers={"Cache-Control": "no-store"})


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})


async def pause(request: web.Request) -> web.StreamResponse:
    state(request).hub.pause()
    return web.json_response(status_document(state(request)))


async def resume(request: web.Request) -> web.StreamResponse:
    state(request).hub.resume()
    return web.json_response(status_document(state(request)))


async def viewers(request: web.Request) -> web.StreamResponse:
    return web.json_response({"watching": state(request).viewers.snapshot()})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    name: str
    role: str  # public, viewer or owner


#: Every route the server answers. Viewers may watch; only owners may control; nothing else is served.
ROUTES: tuple[Route, ...] = (
    Route("GET", "/", index, "index", "viewer"),
    Route("GET", "/snapshot.jpg", snapshot, "snapshot", "viewer"),
    Route("GET", "/stream.mjpg", mjpeg, "stream", "viewer"),
    Route("GET", "/view/refresh", view("refresh"), "view_refresh", "viewer"),
    Route("GET", "/view/script", view("script"), "view_script", "viewer"),
    Route("GET", "/view/stream", view("stream"), "view_stream", "viewer"),
    Route("GET", "/static/{name}", static_asset, "static", "public"),
    Route("GET", "/status.json", status, "status", "viewer"),
    Route("GET", "/healthz", healthz, "healthz", "public"),
    Route("POST", "/api/pause", pause, "pause", "owner"),
    Route("POST", "/api/resume", resume, "resume", "owner"),
    Route("GET", "/api/viewers", viewers, "viewers", "owner"),
)
_ROLES = {r.name: r.role for r in ROUTES}


def _effective_name(name: str, request: web.Request) -> str:
    """The route a request really uses: mjpg-streamer's ``/?action=`` aliases count as what they serve."""
    if name == "index":
        return {"stream": "stream", "snapshot": "snapshot"}.get(request.query.get("action", ""), "index")
    return name


@web.middleware
async def _policy(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Deny by default: a request reaches a handler only if its route's role allows its principal."""
    resource = request.match_info.route.resource
    name = resource.name if resource is not None else None
    if name is None:  # no such route: aiohttp's own 404/405 handler
        return await handler(request)
    needed = _ROLES[name]
    request["principal"] = await state(request).gate.check(request, _effective_name(name, request), needed)
    if request.method == "POST" and not same_origin(request):
        raise web.HTTPForbidden(text="cross-origin requests may not change anything\n")
    return await handler(request)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unexpected failures become a bare 500 (details go to the log, never to the client)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (ConnectionError, TimeoutError):
        raise
    except Exception:
        log.exception("error serving %s %s", request.method, request.path)
        raise web.HTTPInternalServerError(text="internal error\n") from None


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(
        {
            "Content-Security-Policy": (
                "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; "
                "connect-src 'self'; base-uri 'none'; form-action 'self'; "
                f"frame-ancestors {request.app[STATE].frame_ancestors}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Server": "camcast",
        }
    )


def _hide_server_version() -> None:
    """Responses aiohttp makes itself (to requests it cannot parse, before any route or signal runs)
    carry ``Server: Python/3.x aiohttp/3.y``; name no versions there either."""
    web_response.SERVER_SOFTWARE = "camcast"  # type: ignore[attr-defined]  # read per response; no public setting


def build_app(
    hub: Hub,
    gate: Gate,
    viewer_log: Path | None,
    frame_ancestors: str = "'self'",
    output: Output | None = None,
) -> web.Application:
    """The aiohttp application serving ``hub``; run :meth:`Hub.run` alongside it."""
    _hide_server_version()
    app = web.Application(middlewares=[_errors, _policy], client_max_size=64 * 1024)
    output = output or hub.main
    app[STATE] = ServerState(
        hub, output, Fanout(output), gate, ViewerLog(viewer_log), frame_ancestors, time.monotonic()
    )
    for route in ROUTES:
        if route.method == "GET":
            app.router.add_get(route.path, route.handler, name=route.name)  # and HEAD
        else:
            app.router.add_route(route.method, route.path, route.handler, name=route.name)
    app.on_response_prepare.append(_headers)

    async def sweeper(app: web.Application) -> Any:
        async def sweep() -> None:
            while True:
                await asyncio.sleep(SWEEP_EVERY)
                app[STATE].viewers.sweep()

        task = asyncio.create_task(sweep())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        app[STATE].viewers.close()

    async def close_streams(app: web.Application) -> None:
        app[STATE].fanout.close_all()

    app.cleanup_ctx.append(sweeper)
    app.on_shutdown.append(close_streams)
    return app
