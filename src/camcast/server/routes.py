"""Routes of the camera server.

One table (:data:`ROUTES`) lists every path the server answers; anything else is a 404. Query values
are validated and a bad one is a 400 naming the parameter; neither affects other viewers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from camcast import viewer
from camcast.config import Config
from camcast.errors import CamcastError
from camcast.hub import Hub
from camcast.server.mjpeg import Fanout, stream

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)
FANOUT: web.AppKey[Fanout] = web.AppKey("fanout", Fanout)
CONFIG: web.AppKey[Config] = web.AppKey("config", Config)
STARTED: web.AppKey[float] = web.AppKey("started", float)

#: Default refresh interval of the viewer pages, in seconds.
DEFAULT_EVERY = 2.0
#: Page URLs, shared by handlers and the navigation.
PAGE_LINKS = {"index": "/", "refresh": "/view/refresh", "script": "/view/script", "stream": "/view/stream"}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


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


async def snapshot(request: web.Request) -> web.StreamResponse:
    try:
        frame = await request.app[HUB].snapshot()
    except CamcastError as exc:
        raise web.HTTPServiceUnavailable(text=f"{exc}\n") from exc
    return web.Response(
        body=frame.data,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store, max-age=0", "X-Timestamp": f"{frame.wall:.6f}"},
    )


async def mjpeg(request: web.Request) -> web.StreamResponse:
    fps = query_number(request, "fps", 0.1, 120, None)
    return await stream(request, request.app[FANOUT], fps)


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
    source = request.app[HUB].source.describe()
    links = dict(PAGE_LINKS)
    if name in ("refresh", "script"):
        links[name] += f"?every={every:g}"
    body = viewer.render(
        name,
        title=f"camcast · {source}",
        links=links,
        every=every,
        asset_base="/static",
        snapshot="/snapshot.jpg",
        stream="/stream.mjpg",
    )
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


def view(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return page(request, name)

    return handler


async def static_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in viewer.ASSETS:
        raise web.HTTPNotFound()
    return web.Response(
        body=viewer.asset(name),
        content_type=viewer.ASSETS[name],
        headers={"Cache-Control": "public, max-age=300"},
    )


async def status(request: web.Request) -> web.StreamResponse:
    hub, fanout = request.app[HUB], request.app[FANOUT]
    latest = hub.latest
    now = time.monotonic()
    return web.json_response(
        {
            "source": hub.source.describe(),
            "live": getattr(hub.source, "live", True),
            "width": latest.width if latest else None,
            "height": latest.height if latest else None,
            "fps_in": round(hub.rate_in.per_second(now), 2),
            "fps_out": round(hub.rate_out.per_second(now), 2),
            "encodes_per_second": round(hub.rate_encode.per_second(now), 2),
            "frames_in": hub.frames_in,
            "frames_encoded": hub.frames_encoded,
            "viewers": len(fanout.viewers),
            "uptime": round(now - request.app[STARTED], 1),
        },
        headers={"Cache-Control": "no-store"},
    )


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})


#: Every route the server answers: (method, path, handler). Nothing else is served.
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/", index),
    ("GET", "/snapshot.jpg", snapshot),
    ("GET", "/stream.mjpg", mjpeg),
    ("GET", "/view/refresh", view("refresh")),
    ("GET", "/view/script", view("script")),
    ("GET", "/view/stream", view("stream")),
    ("GET", "/static/{name}", static_asset),
    ("GET", "/status.json", status),
    ("GET", "/healthz", healthz),
)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Server"] = "camcast"


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


def build_app(hub: Hub, config: Config) -> web.Application:
    """The aiohttp application serving ``hub``; run :meth:`Hub.run` alongside it."""
    app = web.Application(middlewares=[_errors], client_max_size=64 * 1024)
    app[HUB] = hub
    app[FANOUT] = Fanout(hub)
    app[CONFIG] = config
    app[STARTED] = time.monotonic()
    for method, path, handler in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler)  # and HEAD
        else:
            app.router.add_route(method, path, handler)
    app.on_response_prepare.append(_headers)

    async def _close_streams(app: web.Application) -> None:
        app[FANOUT].close_all()

    app.on_shutdown.append(_close_streams)
    return app
