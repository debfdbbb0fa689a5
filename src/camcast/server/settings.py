"""The owner's settings page: every setting in a form, saved through the reload path.

``GET /settings`` shows the page; opening it opens a session for an owner the server already knows
(HTTP Basic, or the local user), so that every change can carry the session's CSRF token.
``POST /api/settings`` takes ``{"camera": NAME or null, "values": {setting: value}}`` and hands the
edits to :class:`camcast.config.reloader.Reloader`: the file is edited in place (comments kept), checked as a
start-up would check it, written atomically and applied; a refused value comes back as
``{"errors": {setting: message}}`` with status 400, and the file is as it was.
``POST /api/settings/test`` tries a camera's publishing destination or notifiers with the form's
values (saved or not) and reports in one line each.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from camcast import paths
from camcast.camera import Camera
from camcast.config import CAMERA_FIELDS, CameraSettings, Config
from camcast.config.edit import Edit, FieldErrors, apply_edits, checked, describe_path
from camcast.config.reloader import Reloader
from camcast.errors import CamcastError, ConfigError, SourceError
from camcast.frames import DEFAULT_SIZE
from camcast.pages import forms
from camcast.security.certificate import tls_status
from camcast.security.tokens import SCOPES
from camcast.security.viewers import read_history
from camcast.server.auth import Gate, Principal, asking
from camcast.server.signin import set_session_cookie
from camcast.server.state import ServerState, camera_name, principal, read_json, state
from camcast.server.urls import path_for
from camcast.sources.controls import Control, list_controls

log = logging.getLogger(__name__)

#: Most settings one save may change.
MOST_EDITS = 200
#: Most shapes of one kind the page's shapes route reads (a mask or zone is a line).
MOST_SHAPES = 100
#: Settings that run a program on this computer: changed (and tested) only from a browser on it, so
#: that a stolen owner password or session opened elsewhere cannot run code here. The file still may.
_COMMAND = "a command runs on this computer: set it from a browser on this computer, or in the config file"
LOCAL_ONLY = {"motion_on_event_command": _COMMAND, "on_watch_command": _COMMAND}


def is_local(request: web.Request) -> bool:
    """Whether the browser is on this computer (loopback, not relayed for someone else)."""
    return Gate.local(asking(request))


def locked(request: web.Request, flagged: frozenset[str]) -> dict[str, str]:
    """The settings the page shows but cannot change for this request, and why."""
    why = {key: f"set by --{key.replace('_', '-')} on the command line" for key in flagged}
    if not is_local(request):
        why |= {key: text for key, text in LOCAL_ONLY.items() if key not in why}
    return why


def owner_of_all(request: web.Request) -> Principal:
    """The owner asking, who may see every camera: the settings are the whole server's."""
    p = principal(request)
    if p is None or p.role != "owner" or p.cameras:
        raise web.HTTPForbidden(text="the settings are for an owner of every camera\n")
    return p


def _reloader(st: ServerState) -> Reloader:
    if st.reloader is None:
        raise web.HTTPConflict(text="this server was started without a config file to change\n")
    return st.reloader


async def body_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; a 400 saying what was expected otherwise."""
    doc = await read_json(request, "send a JSON object")
    if not isinstance(doc, dict):
        raise web.HTTPBadRequest(text="send a JSON object\n")
    return doc


async def _controls(camera: Camera, kept: dict[str, object]) -> str:
    """A V4L2 camera's controls as the page's fields (none for other sources)."""
    device = camera.device
    if device is None:
        return ""
    try:
        found: list[Control] | str = await asyncio.to_thread(list_controls, device)
    except SourceError as exc:
        found = f"the controls cannot be read now: {exc}"
    return forms.controls_html(camera.name, found, kept)


def _offers() -> dict[str, list[str]]:
    """Sources, sizes and rates the cameras on this machine offer (as ``camcast sources`` finds them)."""
    from camcast.sources.v4l2 import PIXEL_FORMATS, probe_cameras

    offers: dict[str, list[str]] = {"source": [], "size": [], "fps": []}
    for path, camera in probe_cameras("/dev"):
        if isinstance(camera, CamcastError):
            continue
        offers["source"].append(path)
        for mode in camera.modes:
            if mode.fourcc in PIXEL_FORMATS:
                offers["size"].append(f"{mode.width}x{mode.height}")
                offers["fps"] += [f"{f:g}" for f in mode.fps]
    return {key: list(dict.fromkeys(values)) for key, values in offers.items()}


async def settings_page(request: web.Request) -> web.StreamResponse:
    st = state(request)
    p = owner_of_all(request)
    reloader = _reloader(st)
    config: Config = reloader.loaded
    token = ""
    csrf = p.csrf
    if p.via != "session":
        token, session = st.gate.open_session(p)
        csrf = session.csrf
    offers = await asyncio.to_thread(_offers)
    lock = locked(request, reloader.file.flagged())
    base = st.base_path
    forms_html = []
    for camera in config.cameras:
        drawing = controls = ""
        if camera.id in st.cameras:
            served = camera.id if len(st.cameras) > 1 else None
            drawing = forms.drawing_html(
                camera.id, base + path_for("snapshot", served), base + path_for("motion_view", served),
                base + path_for("settings_shapes", served),
                forms.shapes(camera.mask, camera.motion_zones, camera.motion_ignore, _size(st, camera.id)),
            )  # fmt: skip
            controls = await _controls(st.cameras[camera.id].camera, dict(camera.controls))
        running = next((c for c in reloader.config.cameras if c.id == camera.id), None)
        form = forms.camera_form(camera.id, camera, lock, offers, drawing, controls, running)
        forms_html.append((camera, form))
    body = forms.settings_page(
        asset_base=base + path_for("static", name="").rstrip("/"),
        csrf=csrf,
        api={name: base + path_for(name) for name in forms.SETTINGS_API},
        home=base + path_for("index"),
        cameras=forms_html,
        server=forms.server_form(config.server, lock, reloader.config.server),
        file=describe_path(reloader.file.path),
        tls=tls_status(st.settings.tls_cert if st.settings else None),
        history=await asyncio.to_thread(_history, st),
        scopes=SCOPES,
    )
    response = web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})
    if token:
        set_session_cookie(request, response, token)
    return response


def _history(st: ServerState) -> list[dict[str, object]]:
    path = st.viewers.path
    return list(reversed(read_history(path, 30))) if path is not None else []


def _edits(doc: dict[str, Any]) -> list[Edit]:
    camera = doc.get("camera")
    values = doc.get("values")
    if (camera is not None and not isinstance(camera, str)) or not isinstance(values, dict):
        raise web.HTTPBadRequest(text='send {"camera": NAME or null, "values": {setting: value}}\n')
    if len(values) > MOST_EDITS:
        raise web.HTTPBadRequest(text=f"at most {MOST_EDITS} settings at once\n")
    edits = []
    for key, value in values.items():
        if not (
            value is None
            or isinstance(value, str | bool)
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            raise web.HTTPBadRequest(text=f"{key}: a value is text, true or false, or a list of texts\n")
        edits.append(Edit(camera or None, str(key), value))
    return edits


def _refused(exc: FieldErrors) -> web.Response:
    errors: dict[str, str] = {}
    general = []
    for (_, key), text in exc.errors.items():
        if key:
            errors[key] = text
        else:
            general.append(text)
    return web.json_response({"errors": errors, "error": "; ".join(general)}, status=400)


async def settings_save(request: web.Request) -> web.StreamResponse:
    owner_of_all(request)
    reloader = _reloader(state(request))
    edits = _edits(await body_json(request))
    _refuse_locked(request, edits)
    try:
        saved = await reloader.save(edits)
    except FieldErrors as exc:
        return _refused(exc)
    except CamcastError as exc:  # the file could not be read or written
        return web.json_response({"errors": {}, "error": str(exc)}, status=409)
    p = principal(request)
    log.info("%s changed %s", p.name if p else "?", ", ".join(e.key for e in edits) or "nothing")
    return web.json_response(
        {"saved": [e.key for e in edits], "restart": saved.restart, "private": saved.private}
    )


def _refuse_locked(request: web.Request, edits: list[Edit]) -> None:
    """A 400 on each setting the page shows locked (:func:`locked`): given as a flag, which would win
    over the file, or only for a browser on this computer (:data:`LOCAL_ONLY`)."""
    why = locked(request, _reloader(state(request)).file.flagged())
    refused = {e.key: why[e.key] for e in edits if e.key in why}
    if refused:
        raise web.HTTPBadRequest(
            text=json.dumps({"errors": refused, "error": ""}), content_type="application/json"
        )


def _trial_settings(st: ServerState, doc: dict[str, Any]) -> CameraSettings:
    """The camera's settings as the form has them: the file with the form's edits, not saved."""
    reloader = _reloader(st)
    edits = _edits(doc)
    camera = edits[0].camera if edits else doc.get("camera")
    if not isinstance(camera, str):
        raise web.HTTPBadRequest(text="name the camera to test\n")
    text = reloader.file.text()
    config = checked(reloader.file, apply_edits(text, reloader.loaded, edits))
    return config.camera(camera)


async def settings_test(request: web.Request) -> web.StreamResponse:
    """Try the publishing destination (a real upload, renamed, listed and deleted) or each notifier."""
    owner_of_all(request)
    st = state(request)
    doc = await body_json(request)
    what = doc.get("test")
    if what not in ("publish", "notify"):
        raise web.HTTPBadRequest(text="test is publish or notify\n")
    _refuse_locked(request, _edits(doc))
    try:
        settings = await asyncio.to_thread(_trial_settings, st, doc)
    except FieldErrors as exc:
        return _refused(exc)
    except CamcastError as exc:
        return web.json_response({"ok": False, "message": str(exc)})
    if what == "publish":
        return web.json_response(await _try_publish(settings))
    from camcast.motion.notify.trial import try_all

    results = await try_all(settings, paths.events_dir() / "pictures")
    if not results:
        return web.json_response({"ok": False, "message": "no notifier is set: a webhook, command or MQTT"})
    return web.json_response(
        {"ok": all(ok for ok, _ in results), "message": "; ".join(text for _, text in results)}
    )


async def _try_publish(settings: CameraSettings) -> dict[str, object]:
    from camcast.publish import store_for
    from camcast.publish.check import check_store

    if not settings.publish_to:
        return {"ok": False, "message": "no destination: set publish_to first"}
    try:
        return {"ok": True, "message": await check_store(store_for(settings))}
    except CamcastError as exc:
        return {"ok": False, "message": exc.render(lambda key: key)}


def _size(st: ServerState, camera: str) -> tuple[int, int]:
    """The size of the camera's pictures as masks apply to them (after the geometry)."""
    latest = st.cameras[camera].camera.hub.latest
    return (latest.width, latest.height) if latest is not None else DEFAULT_SIZE


async def settings_shapes(request: web.Request) -> web.StreamResponse:
    """``?mask=…&motion_zones=…&motion_ignore=…`` (each the field's text, a shape a line): the shapes
    as the page draws them, read by each setting's own parser; a 400 naming the field whose line is
    refused. The page asks as the owner types, and never parses the text itself."""
    owner_of_all(request)
    st = state(request)
    name = camera_name(request)
    parsed: dict[str, list[Any]] = {}
    for key in forms.DRAWN_KEYS:
        parse = CAMERA_FIELDS[key].metadata["parse"]
        lines = [line.strip() for line in request.query.get(key, "").splitlines() if line.strip()]
        try:
            parsed[key] = [parse(line) for line in lines[:MOST_SHAPES]]
        except (ValueError, ConfigError) as exc:
            return web.json_response({"errors": {key: str(exc)}}, status=400)
    drawn = forms.shapes(parsed["mask"], parsed["motion_zones"], parsed["motion_ignore"], _size(st, name))
    return web.json_response({"shapes": drawn}, headers={"Cache-Control": "no-store"})
