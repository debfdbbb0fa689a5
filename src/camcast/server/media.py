"""The camera's pictures and streams over HTTP: the snapshot, the MJPEG stream and the HLS files, each
visit or session in the viewer log."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from aiohttp import web

from camcast.errors import CamcastError
from camcast.hls import names
from camcast.server.hls import multivariant
from camcast.server.mjpeg import VIEWER, stream
from camcast.server.state import (
    ENDED,
    camera_name,
    hears,
    optional_number,
    served,
    share_query,
    state,
    touch,
    watcher,
)


async def snapshot(request: web.Request) -> web.StreamResponse:
    cam = served(request)
    try:
        frame = await cam.rendition.snapshot()
    except CamcastError as exc:
        raise web.HTTPServiceUnavailable(text=f"{cam.camera.describe()}: {exc}\n") from exc
    touch(request, "snapshot", 1)
    return web.Response(
        body=frame.payload.data,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store, max-age=0", "X-Timestamp": f"{frame.wall:.6f}"},
    )


async def mjpeg(request: web.Request) -> web.StreamResponse:
    fps = optional_number(request, "fps", 0.1, 120)
    name = camera_name(request)
    st = state(request)
    who, via = watcher(request)
    session = st.viewers.start(request.remote or "?", who, via, "stream", name)
    try:
        return await stream(request, st.cameras[name].fanout, fps)
    finally:
        viewer_ = request.get(VIEWER)
        session.frames = viewer_.frames_sent if viewer_ is not None else 0
        st.viewers.end(session, request.get(ENDED, ""))


async def hls_playlist(request: web.Request) -> web.StreamResponse:
    """``index.m3u8``: the media playlist, or with several renditions the playlist naming them; with
    the camera's sound in them for those who may hear it."""
    cam = served(request)
    variants = cam.hls_for(hears(request))
    if len(variants) > 1:
        response = multivariant(variants, _token_query(request))
    else:
        variants[0].touch()
        response = await variants[0].playlist(request, _token_query(request))
    touch(request, "hls", 0, sound=variants is cam.heard)
    return _per_listener(response, cam.heard)


async def hls_file(request: web.Request) -> web.StreamResponse:
    """A rendition's playlist (``v1.m3u8``), or a file of one: each file's name says whose it is (and
    those with sound are refused to a share link made without it)."""
    cam = served(request)
    variants = cam.hls_for(hears(request))
    name = request.match_info["name"]
    listed = re.fullmatch(r"v(\d{1,2})\.m3u8", name)
    if listed is not None:
        if int(listed[1]) >= len(variants):
            raise web.HTTPNotFound(text="no such rendition\n")
        chosen = variants[int(listed[1])]
        chosen.touch()
        response = await chosen.playlist(request, _token_query(request))
        touch(request, "hls", 0, sound=variants is cam.heard)
        return _per_listener(response, cam.heard)
    parsed = names.parse(name)
    hls = next((v for v in variants if parsed is not None and v.segmenter.run == parsed.run), None)
    if hls is None and any(parsed is not None and v.segmenter.run == parsed.run for v in cam.heard):
        raise web.HTTPForbidden(text="this link does not carry the camera's sound\n")
    if hls is None:  # no rendition's file (a stream since restarted): no encoder is woken for it
        raise web.HTTPNotFound(text="no such HLS file (the stream may have restarted)\n")
    hls.touch()
    response, frames = await hls.file(request, name)
    touch(request, "hls", frames, sound=hls.sound is not None)
    return response


def _per_listener(response: web.Response, heard: tuple[object, ...]) -> web.Response:
    """A playlist of a camera with sound differs by who asks (with the sound or without, under the
    same name): no shared cache (a proxy, a CDN) may give one's to the other."""
    if heard:
        response.headers["Cache-Control"] = "private, max-age=1"
    return response


def _token_query(request: web.Request) -> str:
    """What follows each URI in a playlist: the share link's token it was asked with, if any."""
    token = share_query(request)
    return f"?{urlencode(token)}" if token else ""
