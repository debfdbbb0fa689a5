"""Timelapse films over HTTP, for the owner or a share link with the ``timelapse`` scope: the list
(``/api/timelapse``), each day's film (``/timelapse/DAY.mp4``: played by the browser's ``<video>``,
with ranges), and the page with a player for each day. Every film served is in the viewer log."""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import asdict

from aiohttp import web

from camcast.server.state import camera_name, principal, share_query, state, touch
from camcast.server.urls import path_for
from camcast.timelapse import film as films
from camcast.timelapse.runner import Timelapses, page


def _timelapses(request: web.Request) -> Timelapses:
    found = state(request).timelapse
    assert found is not None, "serving() sets it before the server listens"
    return found


def _url(request: web.Request, film: films.Film, camera: str | None) -> str:
    query = share_query(request)
    return state(request).base_path + path_for("timelapse_file", camera, name=f"{film.day}.mp4", **query)


async def timelapse(request: web.Request) -> web.StreamResponse:
    """``?camera=NAME`` (or /cam/NAME/api/timelapse): the films kept, oldest first, and what each
    camera's timelapse is doing."""
    p = principal(request)
    st = state(request)
    if "camera" in request.match_info or "camera" in request.query:
        names = [camera_name(request)]
    else:
        names = [name for name in st.cameras if p is None or p.may("timelapse", "owner", name)]
    found = await asyncio.to_thread(_timelapses(request).films, names)
    touch(request, "timelapse", 0)
    takers = _timelapses(request).takers
    return web.json_response(
        {"films": [{**asdict(f), "url": _url(request, f, f.camera)} for f in found],
         "timelapse": {name: takers[name].describe() for name in names if name in takers}},
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


async def timelapse_file(request: web.Request) -> web.StreamResponse:
    name = camera_name(request)
    day = request.match_info["name"].removesuffix(".mp4")
    try:
        datetime.date.fromisoformat(day)
    except ValueError:
        raise web.HTTPNotFound(text="no such film\n") from None
    found = [f for f in await asyncio.to_thread(_timelapses(request).films, [name]) if f.day == day]
    if not found:
        raise web.HTTPNotFound(text="no such film\n")
    touch(request, f"watch timelapse {day}", 0, name, own=True)
    return web.FileResponse(
        found[0].path(_timelapses(request).folder),
        headers={"Content-Type": "video/mp4", "Content-Disposition": f'inline; filename="{name}-{day}.mp4"',
                 "Cache-Control": "private, max-age=3600"},
    )  # fmt: skip


async def timelapse_page(request: web.Request) -> web.StreamResponse:
    st = state(request)
    name = camera_name(request)
    camera = name if "camera" in request.match_info else None
    query = share_query(request)
    found = await asyncio.to_thread(_timelapses(request).films, [name])
    base = st.base_path
    body = page(
        f"camcast · {st.cameras[name].camera.settings.title} · timelapse",
        [(f, _url(request, f, camera)) for f in found], base + path_for("static", name="").rstrip("/"),
        nav=[(base + path_for("index", camera, **query), "Home")],
    )  # fmt: skip
    touch(request, "page timelapse", 0)
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})
