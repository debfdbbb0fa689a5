"""Recordings over HTTP, for the owner or a share link with the ``recordings`` scope: the list
(``/api/recordings``), each file (played by the browser's own ``<video>``, with ranges, or downloaded),
the page that shows them, and deleting one (the owner only). Every file served is in the viewer log."""

from __future__ import annotations

import asyncio

from aiohttp import web

from camcast import pages
from camcast.record import catalog
from camcast.record.clip import Recording
from camcast.record.runner import Recorders
from camcast.server.auth import Principal
from camcast.server.state import camera_name, principal, share_query, state, touch
from camcast.server.urls import path_for


def _recorders(request: web.Request) -> Recorders:
    recording = state(request).recording
    assert recording is not None, "serving() sets it before the server listens"
    return recording


def as_json(request: web.Request, recording: Recording) -> dict[str, object]:
    doc = recording.to_json()
    del doc["path"]  # where it lies on the server's disk is not the viewer's business
    doc["url"] = state(request).base_path + path_for("recording_file", name=recording.name)
    return doc


async def recordings(request: web.Request) -> web.StreamResponse:
    """``?camera=NAME`` (or /cam/NAME/api/recordings): every recording kept, oldest first."""
    p = principal(request)
    st = state(request)
    if "camera" in request.match_info or "camera" in request.query:
        names = [camera_name(request)]
    else:
        names = [name for name in st.cameras if p is None or p.may("recordings", "owner", name)]
    found = _recorders(request).recordings(names)  # memory: the files are its journal
    if p is not None and p.recording:  # a link to one recording lists that one only
        found = [r for r in found if r.name == p.recording]
    recorders = _recorders(request).recorders
    writing = {r.clip.path.name for r in recorders.values() if r.clip is not None}
    touch(request, "recordings", 0)
    return web.json_response(
        {"recordings": [as_json(request, r) for r in found if r.name not in writing],
         "recording": sorted(name for name in names if name in recorders and recorders[name].recording),
         "limits": {name: _recorders(request).limits(name) for name in names}},
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


async def _find(request: web.Request, route: str) -> Recording:
    """The recording the URL names, if this principal may have it (else 404: its name says nothing)."""
    name = request.match_info["name"]
    found = _recorders(request).index.get(name)
    p = principal(request)
    if found is None or (p is not None and not p.may(route, "owner", found.camera)):
        raise web.HTTPNotFound(text="no such recording\n")
    if p is not None and p.recording and p.recording != found.name:
        raise web.HTTPNotFound(text="no such recording\n")
    if any(r.clip is not None and r.clip.path == found.path for r in _recorders(request).recorders.values()):
        raise web.HTTPConflict(text="this recording is being written; it can be watched once it ends\n")
    return found


async def recording_file(request: web.Request) -> web.StreamResponse:
    found = await _find(request, "recording_file")
    download = "download" in request.query
    touch(request, f"{'download' if download else 'watch'} recording {found.name}", 0, found.camera, own=True)
    disposition = f'{"attachment" if download else "inline"}; filename="{found.name}"'
    return web.FileResponse(
        found.path, headers={"Content-Type": "video/mp4", "Content-Disposition": disposition,
                             "Cache-Control": "private, max-age=3600"},
    )  # fmt: skip


async def recording_delete(request: web.Request) -> web.StreamResponse:
    found = await _find(request, "recording_delete")
    await asyncio.to_thread(catalog.delete, found)
    _recorders(request).forget(found)
    touch(request, f"delete recording {found.name}", 0, found.camera, own=True)
    return web.Response(status=204)


async def recordings_page(request: web.Request) -> web.StreamResponse:
    st = state(request)
    name = camera_name(request)
    base = st.base_path
    query = share_query(request)
    camera = name if "camera" in request.match_info else None
    p = principal(request)
    body = pages.render(
        "recordings", title=f"camcast · {st.cameras[name].camera.settings.title} · recordings",
        links={"index": base + path_for("index", camera, **query)}, every=0, asset_base=base
        + path_for("static", name="").rstrip("/"), snapshot="", stream="",
        recordings=base + path_for("recordings", camera, **query),
        events=base + path_for("events", camera, **query) if _may(p, "events", name) else "",
        may_delete=_may(p, "recording_delete", name), csrf=p.csrf if p is not None else "",
    )  # fmt: skip
    touch(request, "page recordings", 0)
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


def _may(p: Principal | None, route: str, camera: str) -> bool:
    return p is None or p.may(route, "owner", camera)
