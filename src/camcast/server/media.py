"""The camera's pictures and streams over HTTP: the snapshot, the MJPEG stream and the HLS files, each
visit or session in the viewer log."""

from __future__ import annotations

from aiohttp import web

from camcast.errors import CamcastError
from camcast.server.mjpeg import VIEWER, stream
from camcast.server.state import ENDED, camera_name, optional_number, served, state, touch, watcher


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
    hls = served(request).hls
    hls.touch()
    response = await hls.playlist(request)
    touch(request, "hls", 0)
    return response


async def hls_file(request: web.Request) -> web.StreamResponse:
    hls = served(request).hls
    hls.touch()
    response, frames = await hls.file(request, request.match_info["name"])
    touch(request, "hls", frames)
    return response
