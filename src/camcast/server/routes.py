"""Routes of the camera server: one table, with a name and a role on every route.

:data:`ROUTES` lists every path the server answers, with the least role each needs (see
:mod:`camcast.server.auth`); anything else is a 404, and a route cannot be registered without a role.
Camera routes answer under ``/cam/NAME/`` for each camera, and at the top level for the first camera
(so a one-camera server keeps its short URLs). URLs are made from route names by :func:`path_for`,
never retyped. Query values are validated and a bad one is a 400 naming the parameter.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from camcast import pages
from camcast.camera import Camera
from camcast.encode.rendition import Rendition
from camcast.errors import CamcastError
from camcast.server.auth import Gate, Principal
from camcast.server.hls import HlsOutput
from camcast.server.mjpeg import Fanout, stream
from camcast.server.proxy import TrustedProxies
from camcast.server.viewers import ViewerLog
from camcast.server.webrtc import (
    MAX_OFFER,
    MAX_SESSIONS,
    SDP_TYPE,
    OfferError,
    WebRtc,
    WebRtcOutput,
    check_offer,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Default refresh interval of the viewer pages, in seconds.
DEFAULT_EVERY = 2.0
#: Where each camera's routes live: /cam/NAME/snapshot.jpg and so on.
CAMERA_PREFIX = "/cam/{camera}"


@dataclass
class Served:
    """One camera as the server shows it: the pictures it serves, and its streams."""

    camera: Camera
    rendition: Rendition
    fanout: Fanout
    hls: HlsOutput
    webrtc: WebRtcOutput


@dataclass
class ServerState:
    cameras: dict[str, Served]
    gate: Gate
    viewers: ViewerLog
    webrtc: WebRtc
    proxies: TrustedProxies
    base_path: str = ""  # every route under it ("/cam"), or empty
    frame_ancestors: str = "'self'"
    started: float = 0.0
    #: The cameras' publishers when the server also publishes (``serve --publish-to``), by camera.
    publishers: dict[str, Any] = field(default_factory=dict)
    #: /metrics's registry, made at the first scrape.
    registry: Any = None
    #: The server settings it runs with (a reload compares against them).
    settings: Any = None

    @property
    def default(self) -> str:
        """The camera the top-level URLs show: the first one."""
        return next(iter(self.cameras))


STATE: web.AppKey[ServerState] = web.AppKey("camcast", ServerState)


def state(request: web.Request) -> ServerState:
    return request.app[STATE]


def principal(request: web.Request) -> Principal | None:
    p: Principal | None = request.get("principal")
    return p


def camera_name(request: web.Request) -> str:
    """The camera a request is for: its /cam/NAME/ path, mjpg-streamer's ``?camera=NAME``, else the
    first camera. An unknown name is a 404."""
    st = state(request)
    name = request.match_info.get("camera") or request.query.get("camera") or st.default
    if name not in st.cameras:
        raise web.HTTPNotFound(text=f"no camera named {name!r}\n")
    return name


def served(request: web.Request) -> Served:
    return state(request).cameras[camera_name(request)]


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


def _touch(request: web.Request, route: str, frames: int) -> None:
    who, via = _watcher(request)
    state(request).viewers.touch(request.remote or "?", who, via, route, frames, camera_name(request))


# --- handlers ------------------------------------------------------------------------------------------
async def snapshot(request: web.Request) -> web.StreamResponse:
    cam = served(request)
    try:
        frame = await cam.rendition.snapshot()
    except CamcastError as exc:
        raise web.HTTPServiceUnavailable(text=f"{cam.camera.describe()}: {exc}\n") from exc
    _touch(request, "snapshot", 1)
    return web.Response(
        body=frame.payload.data,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store, max-age=0", "X-Timestamp": f"{frame.wall:.6f}"},
    )


async def mjpeg(request: web.Request) -> web.StreamResponse:
    fps = query_number(request, "fps", 0.1, 120, None)
    name = camera_name(request)
    st = state(request)
    who, via = _watcher(request)
    session = st.viewers.start(request.remote or "?", who, via, "stream", name)
    try:
        return await stream(request, st.cameras[name].fanout, fps)
    finally:
        viewer_ = request.get("viewer")
        session.frames = viewer_.frames_sent if viewer_ is not None else 0
        st.viewers.end(session)


async def hls_playlist(request: web.Request) -> web.StreamResponse:
    hls = served(request).hls
    hls.touch()
    response = await hls.playlist(request)
    _touch(request, "hls", 0)
    return response


async def hls_file(request: web.Request) -> web.StreamResponse:
    hls = served(request).hls
    hls.touch()
    response, frames = await hls.file(request, request.match_info["name"])
    _touch(request, "hls", frames)
    return response


async def whep(request: web.Request) -> web.StreamResponse:
    """WHEP (RFC 9725): an SDP offer in, the answer out (201), with the session's URL to DELETE."""
    if request.content_type != SDP_TYPE:
        raise web.HTTPUnsupportedMediaType(text=f"send the SDP offer as {SDP_TYPE}\n")
    if (request.content_length or 0) > MAX_OFFER:
        raise web.HTTPRequestEntityTooLarge(MAX_OFFER, request.content_length or 0)
    body = await request.content.read(MAX_OFFER + 1)
    if len(body) > MAX_OFFER:
        raise web.HTTPRequestEntityTooLarge(MAX_OFFER, len(body))
    try:
        offer = check_offer(body)
    except OfferError as exc:
        raise web.HTTPBadRequest(text=f"{exc}\n") from None
    name = camera_name(request)
    st = state(request)
    if len(st.webrtc.sessions) >= MAX_SESSIONS:
        raise web.HTTPServiceUnavailable(
            text=f"the server already sends {MAX_SESSIONS} WebRTC streams; use /view/stream\n",
            headers={"Retry-After": "10"},
        )
    who, via = _watcher(request)
    try:
        session, answer = await st.webrtc.answer(offer, name, st.cameras[name].webrtc, who)
    except OfferError as exc:
        raise web.HTTPBadRequest(text=f"{exc}\n") from None
    viewing = st.viewers.start(request.remote or "?", who, via, "webrtc", name)

    def ended(_: object) -> None:
        viewing.frames = session.track.frames_sent
        st.viewers.end(viewing)

    session.on_end.append(ended)
    p = principal(request)
    token = {"token": p.token} if p is not None and p.via == "share" else {}
    headers = {"Location": st.base_path + path_for("whep_session", name=session.id, **token)}
    links = [f'<{url}>; rel="ice-server"' for url in st.webrtc.ice.stun_urls]
    if links:
        headers["Link"] = ", ".join(links)
    return web.Response(status=201, text=answer, content_type=SDP_TYPE, headers=headers)


async def whep_session(request: web.Request) -> web.StreamResponse:
    """End a WHEP session: its viewer, or an owner, may."""
    st = state(request)
    session = st.webrtc.sessions.get(request.match_info["name"])
    p = principal(request)
    if session is None or not (p is None or p.role == "owner" or p.name == session.who):
        raise web.HTTPNotFound(text="no such WebRTC session\n")
    await st.webrtc.close(session.id)
    return web.Response(text="ended\n")


async def index(request: web.Request) -> web.StreamResponse:
    action = request.query.get("action")
    if action == "stream":  # mjpg-streamer's URLs, which many tools expect
        return await mjpeg(request)
    if action == "snapshot":
        return await snapshot(request)
    if action is not None:
        raise web.HTTPBadRequest(text="action must be stream or snapshot\n")
    if "camera" not in request.match_info and len(state(request).cameras) > 1:
        return grid(request)
    return page(request, "home")


def _links(request: web.Request, camera: str | None) -> Callable[..., str]:
    """A URL maker for the pages: the same form (top-level or /cam/NAME/) the request came in, and a
    share link's token carried along, since the browser has no other credentials to send."""
    p = principal(request)
    token = {"token": p.token} if p is not None and p.via == "share" else {}
    base = state(request).base_path

    def url(name: str, **query: str) -> str:
        return base + path_for(name, camera, **query, **token)

    return url


def page(request: web.Request, name: str) -> web.Response:
    every = query_number(request, "every", 0.2, 3600, DEFAULT_EVERY)
    st = state(request)
    cam_name = camera_name(request)
    url = _links(request, cam_name if "camera" in request.match_info else None)
    links = {
        "index": url("index"),
        "refresh": url("view_refresh", every=f"{every:g}"),
        "script": url("view_script", every=f"{every:g}"),
        "stream": url("view_stream"),
        "live": url("view_live"),
    }
    if len(st.cameras) > 1:
        links["cameras"] = _links(request, None)("index")
    _touch(request, f"page {name}", 0)
    camera = st.cameras[cam_name].camera
    home: dict[str, Any] = {}
    if name == "home":
        # Absolute, as Home Assistant, OctoPrint and VLC are given them (the proxy's name and scheme
        # when a trusted proxy forwards them).
        origin = f"{request.scheme}://{request.host}"
        programs = (
            ("Snapshot (Home Assistant's still image URL, OctoPrint's snapshot URL)", "snapshot"),
            ("MJPEG stream (Home Assistant's MJPEG URL, OctoPrint, Mainsail, VLC)", "stream"),
            ("H.264 over HLS (VLC, ffplay, Safari)", "hls"),
            ("WebRTC (WHEP clients: OBS, GStreamer whepsrc)", "whep"),
            ("Status (JSON)", "status"),
        )
        home = {
            "state": camera.hub.state,
            "viewers": st.viewers.watching(cam_name),
            "status": url("status"),
            "camera": cam_name,
            "urls": [(what, origin + url(route)) for what, route in programs],
        }
    body = pages.render(
        name,
        title=f"camcast · {camera.settings.title} · {camera.describe()}",
        links=links,
        every=every,
        asset_base=st.base_path + path_for("static", name="").rstrip("/"),
        snapshot=url("snapshot"),
        stream=url("stream"),
        hls=url("hls"),
        whep=url("whep"),
        ice=st.webrtc.ice.stun_urls,
        **home,
    )
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


def grid(request: web.Request) -> web.Response:
    """Every camera this principal may watch, as a grid of pictures with name, state and viewers."""
    st = state(request)
    p = principal(request)
    every = query_number(request, "every", 0.5, 3600, DEFAULT_EVERY)
    tiles = []
    for name, cam in st.cameras.items():
        if p is not None and not p.may("index", "viewer", name):
            continue
        url = _links(request, name)
        tiles.append(
            pages.Tile(cam.camera.settings.title, url("index"), url("snapshot"), cam.camera.hub.state,
                       st.viewers.watching(name))
        )  # fmt: skip
    _touch(request, "page cameras", 0)
    assets = st.base_path + path_for("static", name="").rstrip("/")
    body = pages.render(
        "cameras", title="camcast · cameras", links={"cameras": _links(request, None)("index")}, every=every,
        asset_base=assets, snapshot="", stream="", tiles=tiles,
    )  # fmt: skip
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


def view(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return page(request, name)

    return handler


async def static_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in pages.ASSETS:  # a fixed set of names, never a path on disk
        raise web.HTTPNotFound()
    return web.Response(
        body=pages.asset(name),
        content_type=pages.ASSETS[name],
        headers={"Cache-Control": "public, max-age=300"},
    )


def camera_status(st: ServerState, name: str, now: float) -> dict[str, object]:
    cam = st.cameras[name]
    camera, hub = cam.camera, cam.camera.hub
    latest = hub.latest
    viewers = st.viewers.watching(name)
    return {
        "name": name,
        "title": camera.settings.title,
        "source": camera.describe(),
        "state": hub.state,
        "live": hub.live,
        "paused": hub.paused,
        "paused_since": hub.paused_since,
        "on_air": viewers > 0 and not hub.paused,
        "width": latest.width if latest else None,
        "height": latest.height if latest else None,
        "fps_in": round(hub.rate_in.per_second(now), 2),
        "fps_out": round(cam.rendition.rate_out.per_second(now), 2),
        "encodes_per_second": round(camera.encodes_per_second(now), 2),
        "frames_in": hub.frames_in,
        "frames_encoded": camera.frames_encoded,
        "same_frames_dropped": cam.rendition.same_frames_dropped,
        "viewers": viewers,
        "streams": len(cam.fanout.viewers),
        "webrtc": len(cam.webrtc.tracks),
        "webrtc_skips": cam.webrtc.skips,
    }


def status_document(st: ServerState, allowed: Callable[[str], bool] = lambda name: True) -> dict[str, object]:
    """The first camera's status at the top level (as a one-camera server always had it), every
    camera's under ``cameras``, and the server's uptime."""
    now = time.monotonic()
    cameras = [camera_status(st, name, now) for name in st.cameras if allowed(name)]
    first = cameras[0] if cameras else {}
    return {**first, "cameras": cameras, "viewers_total": len(st.viewers.open),
            "uptime": round(now - st.started, 1)}  # fmt: skip


async def status(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    doc = status_document(state(request), lambda name: p is None or p.may("status", "viewer", name))
    return web.json_response(doc, headers={"Cache-Control": "no-store"})


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})


def _shutter(action: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        """Pause or resume one camera (/cam/NAME/api/...), or every camera (/api/...)."""
        st = state(request)
        p = principal(request)
        names = [camera_name(request)] if "camera" in request.match_info else list(st.cameras)
        names = [n for n in names if p is None or p.may(action, "owner", n)]
        for name in names:
            hub = st.cameras[name].camera.hub
            hub.pause() if action == "pause" else hub.resume()
        return web.json_response(status_document(st, lambda name: name in names))

    return handler


async def metrics(request: web.Request) -> web.StreamResponse:
    """The Prometheus text format (see :mod:`camcast.server.metrics`)."""
    from camcast.server import metrics as exposition

    st = state(request)
    if st.registry is None:
        st.registry = exposition.registry(st)
    return web.Response(
        body=exposition.exposition(st.registry),
        headers={"Content-Type": exposition.CONTENT_TYPE, "Cache-Control": "no-store"},
    )


async def viewers(request: web.Request) -> web.StreamResponse:
    return web.json_response({"watching": state(request).viewers.snapshot()})


@dataclass(frozen=True)
class Route:
    """``path`` is the top-level path; a ``camera`` route also answers under /cam/NAME/."""

    method: str
    path: str
    handler: Handler
    name: str
    role: str  # public, viewer or owner
    camera: bool = False


#: Every route the server answers. Viewers may watch; only owners may control; nothing else is served.
ROUTES: tuple[Route, ...] = (
    Route("GET", "/", index, "index", "viewer", camera=True),
    Route("GET", "/snapshot.jpg", snapshot, "snapshot", "viewer", camera=True),
    Route("GET", "/stream.mjpg", mjpeg, "stream", "viewer", camera=True),
    Route("GET", "/hls/index.m3u8", hls_playlist, "hls", "viewer", camera=True),
    Route("GET", "/hls/{name}", hls_file, "hls_file", "viewer", camera=True),
    Route("GET", "/view/refresh", view("refresh"), "view_refresh", "viewer", camera=True),
    Route("GET", "/view/script", view("script"), "view_script", "viewer", camera=True),
    Route("GET", "/view/stream", view("stream"), "view_stream", "viewer", camera=True),
    Route("GET", "/view/live", view("live"), "view_live", "viewer", camera=True),
    Route("POST", "/whep", whep, "whep", "viewer", camera=True),
    Route("DELETE", "/whep/{name}", whep_session, "whep_session", "viewer"),
    Route("GET", "/static/{name}", static_asset, "static", "public"),
    Route("GET", "/status.json", status, "status", "viewer"),
    Route("GET", "/healthz", healthz, "healthz", "public"),
    Route("POST", "/api/pause", _shutter("pause"), "pause", "owner", camera=True),
    Route("POST", "/api/resume", _shutter("resume"), "resume", "owner", camera=True),
    Route("GET", "/api/viewers", viewers, "viewers", "owner"),
    Route("GET", "/metrics", metrics, "metrics", "owner"),
)
BY_NAME = {r.name: r for r in ROUTES}


def path_for(route_name: str, camera: str | None = None, **query: str) -> str:
    """The URL path (and query) of route ``route_name``, under /cam/``camera``/ when given."""
    route = BY_NAME[route_name]
    path = route.path
    if "{name}" in path:
        path = path.replace("{name}", quote(query.pop("name"), safe=""))
    if camera is not None and route.camera:
        path = CAMERA_PREFIX.format(camera=quote(camera, safe="")) + path
    return f"{path}?{urlencode(query)}" if query else path
