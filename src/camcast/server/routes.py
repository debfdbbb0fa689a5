"""The handlers bound to the route table's names (:data:`camcast.server.urls.ROUTES`): the one place
that says which code answers which route. A route without a handler, or a handler without a route,
fails at import."""

from __future__ import annotations

from camcast.server import (
    access,
    control,
    events,
    media,
    onvif,
    recordings,
    settings,
    signin,
    timelapse,
    views,
)
from camcast.server.state import Handler
from camcast.server.urls import ROUTES, Route
from camcast.server.webrtc import talk, whep

HANDLERS: dict[str, Handler] = {
    "index": views.index,
    "snapshot": media.snapshot,
    "stream": media.mjpeg,
    "hls": media.hls_playlist,
    "hls_file": media.hls_file,
    "view_refresh": views.view("refresh"),
    "view_script": views.view("script"),
    "view_stream": views.view("stream"),
    "view_live": views.view("live"),
    "whep": whep.offer,
    "whep_session": whep.end,
    "talk": talk.offer,
    "talk_session": talk.end,
    "static": views.static_asset,
    "status": control.status,
    "healthz": control.healthz,
    "pause": control.shutter("pause"),
    "resume": control.shutter("resume"),
    "viewers": control.viewers,
    "controls": control.controls,
    "controls_set": control.controls_set,
    "metrics": control.metrics,
    "events": events.events,
    "event_picture": events.event_picture,
    "motion_view": events.motion_view,
    "recordings": recordings.recordings,
    "recording_file": recordings.recording_file,
    "recording_delete": recordings.recording_delete,
    "view_recordings": recordings.recordings_page,
    "timelapse": timelapse.timelapse,
    "timelapse_file": timelapse.timelapse_file,
    "view_timelapse": timelapse.timelapse_page,
    "onvif_device": onvif.soap_service,
    "onvif_media": onvif.soap_service,
    "onvif_events": onvif.soap_service,
    "onvif_subscription": onvif.soap_service,
    "login_page": signin.login_page,
    "login": signin.login,
    "logout": signin.logout,
    "settings_page": settings.settings_page,
    "settings_save": settings.settings_save,
    "settings_test": settings.settings_test,
    "settings_shapes": settings.settings_shapes,
    "accounts": access.accounts,
    "accounts_change": access.accounts_change,
    "shares": access.shares,
    "shares_change": access.shares_change,
}

#: Every route with its handler, in the table's order.
BOUND: tuple[tuple[Route, Handler], ...] = tuple((route, HANDLERS[route.name]) for route in ROUTES)
if len(HANDLERS) != len(ROUTES):
    raise RuntimeError(f"handlers without a route: {sorted(set(HANDLERS) - {r.name for r in ROUTES})}")
