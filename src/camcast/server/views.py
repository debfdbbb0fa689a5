"""The viewer pages: the camera's home page (or the grid of cameras), the refresh, script, stream and
live pages, and their static assets. Links are made by :func:`~camcast.server.urls.path_for`, in the
form the request came in, a share link's token carried along."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from camcast import pages
from camcast.server import media
from camcast.server.state import (
    Handler,
    camera_name,
    principal,
    query_number,
    share_query,
    state,
    touch,
)
from camcast.server.urls import path_for

#: Default refresh interval of the viewer pages, in seconds.
DEFAULT_EVERY = 2.0


async def index(request: web.Request) -> web.StreamResponse:
    action = request.query.get("action")
    if action == "stream":  # mjpg-streamer's URLs, which many tools expect
        return await media.mjpeg(request)
    if action == "snapshot":
        return await media.snapshot(request)
    if action is not None:
        raise web.HTTPBadRequest(text="action must be stream or snapshot\n")
    if "camera" not in request.match_info and len(state(request).cameras) > 1:
        return grid(request)
    return page(request, "home")


def _links(request: web.Request, camera: str | None) -> Callable[..., str]:
    """A URL maker for the pages: the same form (top-level or /cam/NAME/) the request came in, and a
    share link's token carried along, since the browser has no other credentials to send."""
    token = share_query(request)
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
    p = principal(request)
    if p is None or p.may("view_recordings", "owner", cam_name):
        links["recordings"] = url("view_recordings")
    if p is None or p.may("view_timelapse", "owner", cam_name):
        links["timelapse"] = url("view_timelapse")
    if p is None or (p.may("settings_page", "owner") and not p.cameras):
        links["settings"] = st.base_path + path_for("settings_page")
    touch(request, f"page {name}", 0)
    camera = st.cameras[cam_name].camera
    speaker = st.cameras[cam_name].speaker
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
        owner = p is None or p.may("events", "owner", cam_name)
        watcher = st.motion.watchers[cam_name] if st.motion is not None else None
        recorder = st.recording.recorders.get(cam_name) if st.recording is not None else None
        home = {
            "rec": recorder is not None and recorder.recording,
            "motion": watcher is not None and watcher.enabled,
            "events": url("events") if owner else "",
            "motion_view": url("motion_view") if owner else "",
            "talk": url("talk") if owner and speaker is not None else "",
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
        csrf=p.csrf if p is not None else "",
        # Every page of a camera whose audio is on says whether its microphone is open now.
        mic=None if camera.sound is None else camera.sound.state == "on",
        talking=None if speaker is None else speaker.talking is not None,
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
    touch(request, "page cameras", 0)
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
