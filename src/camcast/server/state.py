"""What the server serves, and how a request finds its part of it.

:class:`ServerState` is the one value every handler reads (through :func:`state`): the cameras as
served (:class:`Served`), the gate, the viewer log, WebRTC's sessions, the proxies believed, and what
the server was started with. The request helpers below name the camera a request is for, who is
asking, and log the visit; a bad query value is a 400 naming the parameter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from prometheus_client.registry import CollectorRegistry

from camcast.audio.talk import Speaker
from camcast.camera import Camera
from camcast.config import ServerSettings
from camcast.config.reloader import Reloader
from camcast.encode.rendition import Rendition
from camcast.errors import suggest
from camcast.motion.runner import Motion
from camcast.onvif.service import Onvif
from camcast.publish.publisher import Publisher
from camcast.record.runner import Recorders
from camcast.rtsp.server import RtspServer
from camcast.runtime.supervisor import Supervisor
from camcast.security.viewers import ViewerLog
from camcast.server.auth import Gate, Principal
from camcast.server.hls import HlsOutput
from camcast.server.mjpeg import Fanout
from camcast.server.proxy import TrustedProxies
from camcast.server.webrtc.sessions import WebRtc
from camcast.server.webrtc.track import SoundOutput, WebRtcOutput
from camcast.timelapse.runner import Timelapses

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Served:
    """One camera as the server shows it: the pictures it serves, and its streams."""

    camera: Camera
    rendition: Rendition
    fanout: Fanout
    #: HLS of each H.264 rendition: the main one first, then the smaller ones (``renditions``).
    variants: tuple[HlsOutput, ...]
    webrtc: WebRtcOutput
    #: The camera's sound for WebRTC (Opus), when its audio is on.
    sound: SoundOutput | None = None
    #: With its audio on, the HLS of each rendition with the sound in it (AAC), as ``variants``, for
    #: those who may hear it (:func:`hears`); empty otherwise.
    heard: tuple[HlsOutput, ...] = ()
    #: The camera's speaker, the owner's push-to-talk plays on (``audio_out``), if it has one.
    speaker: Speaker | None = None

    def hls_for(self, sound: bool) -> tuple[HlsOutput, ...]:
        """The renditions' HLS for someone who may hear the camera (``sound``), or may not."""
        return self.heard if sound and self.heard else self.variants

    @property
    def hls(self) -> HlsOutput:
        """The main rendition's HLS."""
        return self.variants[0]


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
    publishers: dict[str, Publisher] = field(default_factory=dict)
    #: The owners' talks under way (push-to-talk), by id: :mod:`camcast.server.webrtc.talk`'s.
    talks: dict[str, Any] = field(default_factory=dict)
    #: /metrics's registry, made at the first scrape.
    registry: CollectorRegistry | None = None
    #: The server settings it runs with (a reload compares against them).
    settings: ServerSettings | None = None
    #: The cameras' motion watchers and their events.
    motion: Motion | None = None
    #: The cameras' recorders.
    recording: Recorders | None = None
    #: The cameras' timelapses.
    timelapse: Timelapses | None = None
    #: The RTSP server, when --rtsp is given.
    rtsp: RtspServer | None = None
    #: How a new configuration comes in (SIGHUP, the settings page); None when it cannot.
    reloader: Reloader | None = None
    #: The address the server prints for others to reach it (``camcast share`` asks the owner's status).
    base_url: str = ""
    #: What keeps every part running (its children's failures are shown to the owner).
    supervisor: Supervisor | None = None
    #: ONVIF, when --onvif is given (:mod:`camcast.server.onvif`).
    onvif: Onvif | None = None

    @property
    def default(self) -> str:
        """The camera the top-level URLs show: the first one."""
        return next(iter(self.cameras))


STATE: web.AppKey[ServerState] = web.AppKey("camcast", ServerState)
#: Why camcast ended a request in progress (its principal no longer holds), for the viewer log.
ENDED: web.RequestKey[str] = web.RequestKey("ended")
#: Who a request is, once the policy has let it through (None: the local user of a server without accounts).
PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")


def state(request: web.Request) -> ServerState:
    return request.app[STATE]


def principal(request: web.Request) -> Principal | None:
    p = request.get(PRINCIPAL)
    return p


def hears(request: web.Request) -> bool:
    """Whether the streams this request opens may carry the camera's sound: for everyone let in but a
    share link made without ``--audio``."""
    p = principal(request)
    return p is None or p.audio


def share_query(request: web.Request) -> dict[str, str]:
    """``{"token": ...}`` when the request came with a share link, for the URLs it is given back: a
    browser holding a link has no other credentials to send. Empty otherwise."""
    p = principal(request)
    return {"token": p.token} if p is not None and p.via == "share" else {}


def camera_name(request: web.Request) -> str:
    """The camera a request is for: its /cam/NAME/ path, mjpg-streamer's ``?camera=NAME``, else the
    first camera. An unknown name is a 404."""
    st = state(request)
    name = request.match_info.get("camera") or request.query.get("camera") or st.default
    if name not in st.cameras:
        raise web.HTTPNotFound(text=f"no camera named {name!r}; {suggest(name, st.cameras, 'cameras')}\n")
    return name


def served(request: web.Request) -> Served:
    return state(request).cameras[camera_name(request)]


def query_number(request: web.Request, name: str, low: float, high: float, default: float) -> float:
    """The query parameter ``name`` as a number in [low, high]; a 400 naming it when it is not."""
    value = optional_number(request, name, low, high)
    return default if value is None else value


def optional_number(request: web.Request, name: str, low: float, high: float) -> float | None:
    """The query parameter ``name`` as a number in [low, high], None when absent; a 400 naming it when
    it is not such a number."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also false for NaN
        raise web.HTTPBadRequest(text=f"{name} must be a number from {low:g} to {high:g}\n")
    return value


async def read_json(request: web.Request, expected: str) -> Any:
    """The request's body as JSON; a 400 saying what was ``expected`` when it is none (bytes that are
    not UTF-8 or JSON, or arrays nested deeper than the parser goes)."""
    try:
        return await request.json()
    except (ValueError, RecursionError):
        raise web.HTTPBadRequest(text=f"{expected}\n") from None


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | FileField]:
    """The request's form fields; a 400 when the body is not the form it says it is (a multipart
    body without its boundary, say)."""
    try:
        return await request.post()
    except ValueError:
        raise web.HTTPBadRequest(text="the form cannot be read\n") from None


def watcher(request: web.Request) -> tuple[str, str]:
    """Who is watching, for the viewer log: (name, how they came)."""
    p = principal(request)
    return (p.name, p.via) if p else ("anonymous", "anonymous")


def touch(
    request: web.Request,
    route: str,
    frames: int,
    camera: str | None = None,
    own: bool = False,
    sound: bool = False,
) -> None:
    """Log a visit that is not a stream (a picture, a page, an HLS file, a recording) in the viewer
    log, as one of ``camera`` (by default the request's); ``own``: a session of its own (see
    :meth:`~camcast.security.viewers.ViewerLog.touch`)."""
    who, via = watcher(request)
    where = camera or camera_name(request)
    state(request).viewers.touch(request.remote or "?", who, via, route, frames, where, own, sound)
