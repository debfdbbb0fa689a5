"""The server's own state over HTTP: status and health, the privacy shutter, who is watching, and the
Prometheus metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

from aiohttp import web

from camcast.audio.encode import AudioRendition
from camcast.camera import Camera
from camcast.clock import iso
from camcast.errors import ConfigError, SourceError
from camcast.runtime.health import HEALTH
from camcast.server import metrics as exposition
from camcast.server.hls import HlsOutput
from camcast.server.state import Handler, ServerState, camera_name, principal, read_json, served, state
from camcast.sources.controls import Control, list_controls

#: The most controls one request may set (a camera has a few dozen).
MAX_CONTROLS = 64


def camera_status(st: ServerState, name: str, now: float, owner: bool = False) -> dict[str, object]:
    """One camera's status. Whether motion is watched is shown to everyone (it is on the page's badge);
    whether it sees motion now and how many events it made, only to the ``owner`` (or an events link)."""
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
        "rtsp": st.rtsp.playing(name) if st.rtsp is not None else 0,
        "video": [_video_status(hls, now) for hls in cam.variants],
        "sound": [_sound_status(r) for r in camera.sound.renditions.values()] if camera.sound else [],
        # Everyone sees whether the microphone is on (the pages' MIC badge); its level is the owner's.
        "microphone": camera.sound.state if camera.sound is not None else "off",
        # And whether the owner is talking on the camera's speaker (push-to-talk).
        "talking": cam.speaker is not None and cam.speaker.talking is not None,
        **({"audio_level_dbfs": _level(camera)} if owner else {}),
        **_motion_status(st, name, owner),
        **_record_status(st, name),
        **({"timelapse": _timelapse_status(st, name)} if owner else {}),
        **({"onvif": _onvif_status(st, name)} if owner and st.onvif is not None else {}),
    }


def _onvif_status(st: ServerState, name: str) -> dict[str, object]:
    """Who takes the camera's events over ONVIF (the owner's: where its motion goes is theirs to know)."""
    assert st.onvif is not None
    subscriptions = [
        {
            "account": sub.owner or "local user",
            "until": iso(sub.ends),
            **({"to": sub.consumer} if sub.consumer else {}),
        }
        for sub in st.onvif.events.subscriptions.values()
        if sub.camera == name
    ]
    return {"subscriptions": subscriptions, "discovery": st.onvif.discovery}


def _timelapse_status(st: ServerState, name: str) -> dict[str, object] | None:
    """What the camera's timelapse is doing (the owner's: when pictures are taken is theirs to know)."""
    taker = st.timelapse.takers.get(name) if st.timelapse is not None else None
    return taker.describe() if taker is not None and taker.settings.timelapse_every is not None else None


def _level(camera: Camera) -> float | None:
    mic = camera.sound
    return None if mic is None or mic.level is None else round(mic.level, 1)


def _video_status(hls: HlsOutput, now: float) -> dict[str, object]:
    """One H.264 rendition: its size and bits, and whether it encodes now (a smaller one only while
    someone watches it)."""
    rendition = hls.rendition
    size = rendition.size
    return {
        "playlist": hls.uri,
        "width": size[0] if size else None,
        "height": size[1] if size else None,
        "bitrate": hls.encoder.bitrate,
        "encodes_per_second": round(rendition.rate_encode.per_second(now), 2),
        "watched": bool(rendition.listeners),
    }


def _sound_status(rendition: AudioRendition) -> dict[str, object]:
    """One codec's sound: its format, and whether it is the source's own, passed through, or encoded."""
    form = rendition.format
    return {
        "codec": form.codec,
        "rate": form.rate,
        "channels": form.channels,
        "passed_through": rendition.passing,
        "listened": bool(rendition.listeners),
    }


def _record_status(st: ServerState, name: str) -> dict[str, object]:
    """Whether the camera records, and is recording now: everyone sees it (the page's REC badge)."""
    recorder = st.recording.recorders.get(name) if st.recording is not None else None
    if recorder is None:
        return {"record": "off", "recording": False}
    return {"record": recorder.mode, "recording": recorder.recording}


def _motion_status(st: ServerState, name: str, owner: bool) -> dict[str, object]:
    watcher = st.motion.watchers[name] if st.motion is not None else None
    if watcher is None:
        return {"motion": False}
    if not owner:
        return {"motion": watcher.enabled}
    return {"motion": watcher.enabled, "motion_active": watcher.active, "events_total": watcher.started}


def status_document(
    st: ServerState,
    allowed: Callable[[str], bool] = lambda name: True,
    owner: Callable[[str], bool] = lambda name: True,
) -> dict[str, object]:
    """The first camera's status at the top level (as a one-camera server always had it), every
    camera's under ``cameras`` (those ``allowed``; motion's details where ``owner``), and the server's
    uptime."""
    now = time.monotonic()
    cameras = [camera_status(st, name, now, owner(name)) for name in st.cameras if allowed(name)]
    first = cameras[0] if cameras else {}
    return {**first, "cameras": cameras, "viewers_total": len(st.viewers.open),
            "uptime": round(now - st.started, 1)}  # fmt: skip


#: What a share link's page may know of a camera: what its own page shows (live, paused or offline,
#: who watches, the REC and watching badges), nothing of the owner's (the source, the rates).
LINK_SEES = ("name", "title", "state", "live", "paused", "paused_since", "on_air", "viewers", "motion",
             "motion_active", "events_total", "record", "recording", "microphone", "talking")  # fmt: skip


async def status(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    st = state(request)
    doc = status_document(
        st,
        lambda name: p is None or p.may("status", "viewer", name),
        lambda name: p is None or p.may("events", "owner", name),
    )
    if p is not None and p.via == "share":  # a link's page: its cameras, as a viewer sees them
        cameras = [{k: v for k, v in c.items() if k in LINK_SEES} for c in doc["cameras"]]  # type: ignore[attr-defined]
        doc = {**(cameras[0] if cameras else {}), "cameras": cameras}
    if p is None or (p.via != "share" and p.may("status", "owner")):
        # The owner's: each part of the program and its failures since the start; the configuration;
        # what fails now without stopping (a full disk, a notifier's receiver away).
        if st.supervisor is not None:
            doc["runners"] = {child.name: child.describe() for child in st.supervisor}
        if st.reloader is not None:
            doc["config"] = st.reloader.describe()
        doc["failing"] = HEALTH.describe()
        doc["base_url"] = st.base_url
    return web.json_response(doc, headers={"Cache-Control": "no-store"})


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})


def shutter(action: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        """Pause or resume one camera (/cam/NAME/api/...), or every camera (/api/...)."""
        st = state(request)
        p = principal(request)
        names = [camera_name(request)] if "camera" in request.match_info else list(st.cameras)
        names = [n for n in names if p is None or p.may(action, "owner", n)]
        changed = []
        for name in names:
            hub = st.cameras[name].camera.hub
            if hub.paused != (action == "pause"):
                changed.append(name)
            hub.pause() if action == "pause" else hub.resume()
        # ``changed``: the cameras whose shutter moved (a camera already paused, or not paused, did not).
        return web.json_response({**status_document(st, lambda name: name in names), "changed": changed})

    return handler


async def metrics(request: web.Request) -> web.StreamResponse:
    """The Prometheus text format (see :mod:`camcast.server.metrics`)."""
    st = state(request)
    if st.registry is None:
        st.registry = exposition.registry(st)
    return web.Response(
        body=exposition.exposition(st.registry),
        headers={"Content-Type": exposition.CONTENT_TYPE, "Cache-Control": "no-store"},
    )


async def viewers(request: web.Request) -> web.StreamResponse:
    return web.json_response({"watching": state(request).viewers.snapshot()})


def _controls_document(name: str, device: str | None, found: list[Control]) -> dict[str, object]:
    return {"camera": name, "device": device, "controls": [dataclasses.asdict(c) for c in found]}


async def controls(request: web.Request) -> web.StreamResponse:
    """A V4L2 camera's controls with their ranges, defaults and values (a 409 for other sources)."""
    camera = served(request).camera
    device = camera.device
    if device is None:
        raise web.HTTPConflict(text=f"{camera.describe()} has no controls: they are a V4L2 camera's\n")
    try:
        found = await asyncio.to_thread(list_controls, device)
    except SourceError as exc:
        raise web.HTTPServiceUnavailable(text=f"{exc}\n") from None
    return web.json_response(_controls_document(camera.name, device, found))


async def controls_set(request: web.Request) -> web.StreamResponse:
    """Set controls from a JSON object of names and values; kept, and set again whenever the camera
    is opened anew. All are checked before any is set: a bad one is a 400 saying what is valid."""
    camera = served(request).camera
    if camera.device is None:
        raise web.HTTPConflict(text=f"{camera.describe()} has no controls: they are a V4L2 camera's\n")
    values = await read_json(request, "send the controls as a JSON object of names and values")
    if (
        not isinstance(values, dict)
        or len(values) > MAX_CONTROLS
        or not all(isinstance(v, int | str) for v in values.values())
    ):
        raise web.HTTPBadRequest(
            text=f"send at most {MAX_CONTROLS} controls as a JSON object of names and numbers, booleans "
            "or menu items\n"
        )
    try:
        found = await asyncio.to_thread(camera.apply_controls, values)
    except ConfigError as exc:
        raise web.HTTPBadRequest(text=f"{exc.message}\n") from None
    except SourceError as exc:
        raise web.HTTPServiceUnavailable(text=f"{exc}\n") from None
    return web.json_response(_controls_document(camera.name, camera.device, found))
