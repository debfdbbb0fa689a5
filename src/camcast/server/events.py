"""Motion over HTTP, for the owner or a share link with the ``events`` scope: the events
(``/api/events``), an event's picture, and what the detector sees (``/api/motion.png``)."""

from __future__ import annotations

import asyncio
import io
import re

from aiohttp import web
from PIL import Image

from camcast.clock import parse_time
from camcast.motion.events import Event
from camcast.motion.runner import Motion
from camcast.motion.watcher import detector_view
from camcast.record.clip import Recording
from camcast.server.state import camera_name, optional_number, principal, share_query, state, touch
from camcast.server.urls import path_for

#: The most events one request returns (the newest).
MAX_EVENTS = 1000
_PICTURE = re.compile(r"[A-Za-z0-9_.-]{1,120}\.jpg")


def _motion(request: web.Request) -> Motion:
    motion = state(request).motion
    assert motion is not None, "serving() sets it before the server listens"
    return motion


def as_json(
    request: web.Request, event: Event, clips: dict[str, Recording] | None = None
) -> dict[str, object]:
    """The event as the API gives it: with its picture's URL, and its clip's (the recording that holds
    it, a cut-off one included) when there is one."""
    doc = event.to_json()
    base = state(request).base_path
    if event.picture:
        doc["picture_url"] = base + path_for("event_picture", name=event.picture)
    clip = (clips or {}).get(event.id)
    if clip is not None:
        doc["clip_url"] = base + path_for("recording_file", name=clip.name, **share_query(request))
    return doc


async def events(request: web.Request) -> web.StreamResponse:
    """``?camera=NAME`` (or /cam/NAME/api/events), ``since`` (ISO 8601 or Unix seconds), ``limit``:
    the newest events, oldest first, with ``end`` null while one is open."""
    p = principal(request)
    st = state(request)
    if "camera" in request.match_info or "camera" in request.query:
        names = {camera_name(request)}
    else:
        names = {name for name in st.cameras if p is None or p.may("events", "owner", name)}
    since = None
    if request.query.get("since"):
        try:
            since = parse_time(request.query["since"])
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"since: {exc}\n") from None
    limit = int(optional_number(request, "limit", 1, MAX_EVENTS) or 100)
    found = _motion(request).events.events()  # memory: the file is its journal
    chosen = [e for e in found if e.camera in names and (since is None or (e.end or e.start) >= since)]
    touch(request, "events", 0)
    recording = st.recording
    clips = recording.clips_by_event() if recording is not None and _may_recordings(request) else {}
    return web.json_response(
        {"events": [as_json(request, e, clips) for e in chosen[-limit:]]},
        headers={"Cache-Control": "no-store"},
    )


def _may_recordings(request: web.Request) -> bool:
    """Whether who asks may open recordings (then the events link their clips)."""
    p = principal(request)
    return p is None or p.may("recording_file", "owner")


async def event_picture(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not _PICTURE.fullmatch(name):
        raise web.HTTPNotFound()
    motion = _motion(request)
    event = motion.events.event(name.removesuffix(".jpg"))
    event = event if event is not None and event.picture == name else None
    p = principal(request)
    if event is None or (p is not None and not p.may("event_picture", "owner", event.camera)):
        raise web.HTTPNotFound()
    try:
        data = await asyncio.to_thread(motion.events.picture_path(event.id).read_bytes)
    except OSError:
        raise web.HTTPNotFound() from None
    touch(request, "event picture", 1, event.camera)
    return web.Response(
        body=data, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


async def motion_view(request: web.Request) -> web.StreamResponse:
    """The detector's picture now: its background, what moves (red), where constant motion raised the
    threshold (yellow), what is not watched (dimmed); 404 before motion has seen a picture."""
    watcher = _motion(request).watchers[camera_name(request)]
    rgb = detector_view(watcher.last, watcher.detector)
    if rgb is None:
        raise web.HTTPNotFound(text="motion has not seen a picture of this camera yet\n")
    image = Image.fromarray(rgb).resize((rgb.shape[1] * 4, rgb.shape[0] * 4), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, "PNG")
    return web.Response(body=out.getvalue(), content_type="image/png", headers={"Cache-Control": "no-store"})
