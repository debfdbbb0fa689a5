"""Every URL the server answers: one table, with a name, a role and the share scopes on each route.

:data:`ROUTES` lists every path with the least role it needs (see :mod:`camcast.server.auth`) and the
share-link scopes that open it; anything else is a 404, and a route cannot be declared without a role.
It is the one list of what a scope opens (:func:`scope_routes`). Camera routes answer under
``/cam/NAME/`` for each camera, and at the top level for the first camera (so a one-camera server keeps
its short URLs). URLs are made from route names by :func:`path_for`, never retyped. The handlers are
bound to these names in :mod:`camcast.server.routes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode

from camcast.net import bracket
from camcast.security.tokens import SCOPES

#: Where each camera's routes live: /cam/NAME/snapshot.jpg and so on.
CAMERA_PREFIX = "/cam/{camera}"
Role = Literal["public", "viewer", "owner"]


@dataclass(frozen=True)
class Route:
    """``path`` is the top-level path; a ``camera`` route also answers under /cam/NAME/. ``scopes`` are
    the share-link scopes that open it; ``link`` routes are printed in a share link's URLs. A route that
    changes something says how a browser's session must ask: ``csrf``, with the session's token (other
    credentials need none); ``session``, only from a signed-in session with its token (the settings)."""

    method: str
    path: str
    name: str
    role: Role
    camera: bool = False
    scopes: tuple[str, ...] = ()
    link: bool = False
    changes: Literal["", "csrf", "session"] = ""


_WATCH = ("watch",)
_PICTURE = ("watch", "snapshot", "stream")
_EVENTS = ("events",)
_RECORDINGS = ("recordings",)
_TIMELAPSE = ("timelapse",)
_VIDEO = ("watch", "stream")

#: Every route the server answers. Viewers may watch; only owners may control; nothing else is served.
ROUTES: tuple[Route, ...] = (
    Route("GET", "/", "index", "viewer", camera=True, scopes=_WATCH),
    Route("GET", "/snapshot.jpg", "snapshot", "viewer", camera=True, scopes=_PICTURE, link=True),
    Route("GET", "/stream.mjpg", "stream", "viewer", camera=True, scopes=_VIDEO, link=True),
    Route("GET", "/hls/index.m3u8", "hls", "viewer", camera=True, scopes=_VIDEO, link=True),
    Route("GET", "/hls/{name}", "hls_file", "viewer", camera=True, scopes=_VIDEO),
    Route("GET", "/view/refresh", "view_refresh", "viewer", camera=True, scopes=_WATCH),
    Route("GET", "/view/script", "view_script", "viewer", camera=True, scopes=_WATCH),
    Route("GET", "/view/stream", "view_stream", "viewer", camera=True, scopes=_WATCH, link=True),
    Route("GET", "/view/live", "view_live", "viewer", camera=True, scopes=_WATCH, link=True),
    Route("POST", "/whep", "whep", "viewer", camera=True, scopes=_VIDEO, link=True),
    Route("DELETE", "/whep/{name}", "whep_session", "viewer", scopes=_VIDEO),
    Route("POST", "/api/talk", "talk", "owner", camera=True, changes="csrf"),
    Route("DELETE", "/api/talk/{name}", "talk_session", "owner", changes="csrf"),
    Route("GET", "/static/{name}", "static", "public"),
    Route("GET", "/status.json", "status", "viewer", scopes=(*_PICTURE, *_EVENTS, *_RECORDINGS, *_TIMELAPSE)),
    Route("GET", "/healthz", "healthz", "public"),
    Route("POST", "/api/pause", "pause", "owner", camera=True, changes="csrf"),
    Route("POST", "/api/resume", "resume", "owner", camera=True, changes="csrf"),
    Route("GET", "/api/viewers", "viewers", "owner"),
    Route("GET", "/api/controls", "controls", "owner", camera=True),
    Route("POST", "/api/controls", "controls_set", "owner", camera=True, changes="csrf"),
    Route("GET", "/metrics", "metrics", "owner"),
    Route("GET", "/api/events", "events", "owner", camera=True, scopes=_EVENTS, link=True),
    Route("GET", "/api/events/{name}", "event_picture", "owner", scopes=_EVENTS),
    Route("GET", "/api/motion.png", "motion_view", "owner", camera=True, scopes=_EVENTS),
    Route("GET", "/api/recordings", "recordings", "owner", camera=True, scopes=_RECORDINGS),
    Route("GET", "/recordings/{name}", "recording_file", "owner", scopes=_RECORDINGS),
    Route("DELETE", "/api/recordings/{name}", "recording_delete", "owner", changes="csrf"),
    Route("GET", "/view/recordings", "view_recordings", "owner", camera=True, scopes=_RECORDINGS, link=True),
    Route("GET", "/api/timelapse", "timelapse", "owner", camera=True, scopes=_TIMELAPSE),
    Route("GET", "/timelapse/{name}", "timelapse_file", "owner", camera=True, scopes=_TIMELAPSE),
    Route("GET", "/view/timelapse", "view_timelapse", "owner", camera=True, scopes=_TIMELAPSE, link=True),
    # ONVIF signs in inside its SOAP: the handler asks the gate itself (camcast.server.onvif).
    Route("POST", "/onvif/device_service", "onvif_device", "public", camera=True),
    Route("POST", "/onvif/media_service", "onvif_media", "public", camera=True),
    Route("POST", "/onvif/events_service", "onvif_events", "public", camera=True),
    Route("POST", "/onvif/subscription/{name}", "onvif_subscription", "public", camera=True),
    Route("GET", "/login", "login_page", "public"),
    Route("POST", "/login", "login", "public"),
    Route("POST", "/logout", "logout", "viewer", changes="csrf"),
    Route("GET", "/settings", "settings_page", "owner"),
    Route("POST", "/api/settings", "settings_save", "owner", changes="session"),
    Route("POST", "/api/settings/test", "settings_test", "owner", changes="session"),
    Route("GET", "/api/settings/shapes", "settings_shapes", "owner", camera=True),
    Route("GET", "/api/accounts", "accounts", "owner"),
    Route("POST", "/api/accounts", "accounts_change", "owner", changes="session"),
    Route("GET", "/api/shares", "shares", "owner"),
    Route("POST", "/api/shares", "shares_change", "owner", changes="session"),
)
BY_NAME = {r.name: r for r in ROUTES}


def scope_routes(scope: str) -> frozenset[str]:
    """The names of the routes a share link of ``scope`` opens (none for an unknown scope)."""
    return _SCOPE_ROUTES.get(scope, frozenset())


_SCOPE_ROUTES = {scope: frozenset(r.name for r in ROUTES if scope in r.scopes) for scope in SCOPES}


def link_paths(scope: str, camera: str | None, token: str) -> list[str]:
    """The URLs a share link of ``scope`` is given as (pages first), for ``camera``."""
    routes = sorted(ROUTES, key=lambda r: not r.path.startswith("/view/"))
    return [path_for(r.name, camera, token=token) for r in routes if r.link and scope in r.scopes]


def path_for(route_name: str, camera: str | None = None, **query: str) -> str:
    """The URL path (and query) of route ``route_name``, under /cam/``camera``/ when given."""
    route = BY_NAME[route_name]
    path = route.path
    if "{name}" in path:
        path = path.replace("{name}", quote(query.pop("name"), safe=""))
    if camera is not None and route.camera:
        path = CAMERA_PREFIX.format(camera=quote(camera, safe="")) + path
    return f"{path}?{urlencode(query)}" if query else path


#: The share scopes that open a camera's RTSP stream.
RTSP_SCOPES = _VIDEO


def rtsp_url(tls: bool, host: str, port: int, camera: str, token: str = "") -> str:
    """A camera's RTSP (RTSPS with ``tls``) URL on ``host``:``port``, with a share link's ``token``."""
    url = f"{'rtsps' if tls else 'rtsp'}://{bracket(host)}:{port}/{quote(camera, safe='')}"
    return f"{url}?token={token}" if token else url
