"""The owner's settings page and the sign-in page: the form made from the settings' declarations.

Every setting of :mod:`camcast.config.settings` appears, grouped in sections (a setting no section
names lands in "Other", so a new one is never missing), labelled with its TOML key and its help, its
value as a person would type it back (:func:`camcast.config.edit.form_value`). A setting given as a
flag says so and cannot be changed here: the flag would win over the file. A restart-only setting
says so, with the value that runs when the saved one differs. Here each field becomes a small view;
the templates (``forms.html``, ``settings.html``) escape every value where it lands; the page's
behaviour is in ``settings.js``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from camcast.clock import shown
from camcast.config import CAMERA_FIELDS, SERVER_FIELDS, CameraSettings
from camcast.config.edit import form_value
from camcast.pages import environment, fill
from camcast.picture.masks import Mask, PolygonMask
from camcast.picture.overlay import POSITIONS
from camcast.picture.regions import Region
from camcast.security.certificate import Tls
from camcast.sources.controls import Control

#: The camera's settings as the page groups them: (section, settings).
CAMERA_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Source", ("source", "size", "fps", "warmup", "passthrough", "camera_name")),
    ("Privacy masks and motion zones", ("mask", "motion_zones", "motion_ignore")),
    ("Motion", ("motion", "motion_sensitivity", "motion_min_seconds", "motion_gap_seconds", "motion_fps")),
    ("Notifications", ("motion_on_event", "motion_on_event_command", "motion_mqtt", "motion_mqtt_password",
                       "on_watch_command")),
    ("Recording", ("record", "record_pre_seconds", "record_post_seconds", "record_file_minutes",
                   "record_max_days", "record_max_size", "record_min_free", "record_copy_to")),
    ("Picture", ("crop", "rotate", "flip", "scale", "quality", "video_bitrate", "video_crf", "renditions",
                 "keyframe_every", "hls_window", "drop_same_frames", "pattern_timecode")),
    ("Caption and logo", ("text", "text_position", "text_size", "text_color", "text_font", "logo",
                          "logo_position", "logo_width", "live_badge")),
    ("Publishing", ("publish_to", "every", "name", "archive", "archive_pattern", "keep_days", "keep",
                    "stream_fps", "hls", "hls_segment", "ca_file", "fingerprint", "active", "identity",
                    "upload_password", "s3_access_key", "s3_secret_key")),
    ("Timelapse", ("timelapse_every", "timelapse_window", "timelapse_location", "timelapse_length",
                   "timelapse_keep_days", "timelapse_deflicker", "timelapse_publish")),
    ("Pushing to a media server", ("push",)),
)  # fmt: skip
#: The server's settings as the page groups them.
SERVER_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Serving", ("listen", "rtsp", "public", "base_path", "frame_ancestors", "trusted_proxy")),
    ("TLS", ("tls_cert", "tls_key")),
    ("Limits", ("max_connections", "max_connections_per_address", "header_timeout", "idle_timeout")),
    ("WebRTC beyond the LAN", ("ice_server", "turn_password")),
)
#: Values offered for settings with a few possible ones (the parser still decides).
CHOICES: dict[str, tuple[str, ...]] = {
    "source": ("auto", "pattern"),
    "warmup": ("auto", "on", "off"),
    "rotate": ("0", "90", "180", "270"),
    "flip": ("none", "horizontal", "vertical", "both"),
    "text_position": POSITIONS,
    "logo_position": POSITIONS,
    "record": ("off", "events", "continuous"),
    "size": ("640x480", "1280x720", "1920x1080"),
}
#: The sections with a Test button, and what it tests.
TESTS = {"Publishing": "publish", "Notifications": "notify"}
#: Drawn on the picture: (setting, the layer's name on the page, its colour).
DRAWN = (("mask", "privacy mask", "#000"), ("motion_zones", "motion zone", "#2a2"),
         ("motion_ignore", "ignored area", "#c80"))  # fmt: skip


def sections(
    declared: Sequence[tuple[str, tuple[str, ...]]], fields: Mapping[str, dataclasses.Field[Any]]
) -> list[tuple[str, tuple[str, ...]]]:
    """``declared`` with a last section "Other" holding any setting none of them names."""
    named = {key for _, keys in declared for key in keys}
    rest = tuple(key for key in fields if key not in named)
    return [*declared, *([("Other", rest)] if rest else [])]


def _id(camera: str, key: str) -> str:
    key = key.replace(".", "-")  # controls.brightness: an id a CSS selector can name
    return f"c-{camera}-{key}" if camera else f"s-{key}"


def _macro(name: str, *args: object) -> Markup:
    """A macro of ``forms.html``, its HTML made."""
    return Markup(getattr(environment().get_template("forms.html").module, name)(*args))


@dataclass(frozen=True)
class Field:
    """One setting's row as ``forms.html`` draws it: ``kind`` is secret, checkbox, lines (a list, one
    a line), slider or text (with ``offered`` values); ``value`` is as a person types it back
    (for a secret: whether one is set); ``locked`` why it cannot change here; ``restart`` the note of a
    setting that changes only with a restart."""

    fid: str
    key: str
    kind: str
    value: Any
    help: str
    locked: str = ""
    restart: str = ""
    offered: tuple[str, ...] = ()


def field(
    camera: str,
    key: str,
    f: dataclasses.Field[Any],
    value: Any,
    locked: str = "",
    choices: Iterable[str] = (),
    now: Any = None,
) -> Field:
    """One setting's view: label, input, help, and the place its error shows; a ``locked`` setting says
    why it cannot be changed here; a restart-only one says so, and what runs (``now``) when the saved
    value differs."""
    shown = form_value(f, value)
    restart = ""
    if f.metadata["restart"]:
        running = "" if now is None or now == value else f" (running now: {_as_text(form_value(f, now))})"
        restart = f"changes at the next start{running}"
    view = Field(_id(camera, key), key, "text", shown, f.metadata["help"], locked, restart)
    if f.metadata["secret"]:
        return dataclasses.replace(view, kind="secret", value=bool(value))
    if isinstance(shown, bool):
        return dataclasses.replace(view, kind="checkbox")
    if isinstance(shown, list):
        return dataclasses.replace(view, kind="lines")
    if key == "motion_sensitivity":
        return dataclasses.replace(view, kind="slider", value=str(shown))
    offered = tuple(dict.fromkeys([*CHOICES.get(key, ()), *choices]))
    return dataclasses.replace(view, value=str(shown), offered=offered)


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(value) or "none"
    return str(value) or "none"


def drawing_html(
    camera: str, snapshot: str, motion_view: str, shapes_url: str, drawn: list[dict[str, object]]
) -> Markup:
    """The live picture to draw masks and zones on, with its tools; ``drawn`` the shapes now (see
    :func:`shapes`), which ``shapes_url`` makes again of the fields' text as the owner types."""
    layers = [(key, label) for key, label, _ in DRAWN]
    return _macro("drawing", camera, snapshot, motion_view, layers, shapes_url, json.dumps(drawn))


def shapes(
    masks: Sequence[Mask | PolygonMask],
    zones: Sequence[Region],
    ignore: Sequence[Region],
    size: tuple[int, int],
) -> list[dict[str, object]]:
    """Masks and zones as the page draws them: each a layer (the setting), a kind (rect, poly) and its
    corners as fractions of the picture (masks in pixels measured on a ``size`` picture). The settings'
    own parsers read the text; the page never does."""
    found: list[dict[str, object]] = []
    for mask in masks:
        kind = "rect" if isinstance(mask, Mask) else "poly"
        found.append({"layer": "mask", "kind": kind, "pts": [list(p) for p in mask.outline(*size)]})
    for layer, regions in (("motion_zones", zones), ("motion_ignore", ignore)):
        for region in regions:
            kind = "rect" if region.rectangle else "poly"
            found.append({"layer": layer, "kind": kind, "pts": [list(p) for p in region.points]})
    return found


def form_html(
    camera: str,
    settings: object,
    fields: Mapping[str, dataclasses.Field[Any]],
    declared: Sequence[tuple[str, tuple[str, ...]]],
    locked: Mapping[str, str],
    offers: Mapping[str, Sequence[str]],
    drawing: str = "",
    controls: str = "",
    running: object | None = None,
) -> Markup:
    """A form of every setting in ``fields`` of ``settings`` (a camera's, or the server's when
    ``camera`` is empty), in ``declared`` sections; ``locked`` settings say why they cannot change.
    ``drawing`` goes with the masks and zones, a V4L2 camera's ``controls`` after the source;
    ``running``: the settings that run, for the restart-only ones saved but not yet in force."""
    views = [
        (title, [field(camera, key, fields[key], getattr(settings, key), locked.get(key, ""),
                       offers.get(key, ()), getattr(running, key, None)) for key in keys],
         TESTS.get(title, ""))
        for title, keys in sections(declared, fields)
    ]  # fmt: skip
    return _macro("form", camera, views, _id(camera, ""), drawing, controls)


@dataclass(frozen=True)
class ControlField:
    """A V4L2 control's row: its value now (the default for a write-only one), range or menu, notes."""

    fid: str
    key: str
    name: str
    kind: str
    value: int
    minimum: int
    maximum: int
    step: int
    menu: tuple[tuple[int, str], ...]
    read_only: bool
    notes: str


def controls_html(camera: str, found: Sequence[Control] | str, kept: Mapping[str, object]) -> Markup:
    """A V4L2 camera's controls as fields (``controls.NAME``) showing the device's values now; those
    the config file sets say so. ``found`` is the controls, or why they could not be read."""
    if isinstance(found, str):
        return _macro("controls", [], found)
    rows = []
    for c in found:
        notes = [f"default {c.default}"]
        if c.name in kept:
            notes.append(f"the config file sets {kept[c.name]}")
        if c.inactive:
            notes.append("inactive while an automatic mode is on")
        if c.read_only:
            notes.append("read-only")
        key = f"controls.{c.name}"
        rows.append(ControlField(
            _id(camera, key), key, c.name, c.kind, c.default if c.value is None else c.value, c.minimum,
            c.maximum, max(c.step, 1), tuple(c.menu.items()), c.read_only, "; ".join(notes),
        ))  # fmt: skip
    return _macro("controls", rows, "")


def camera_form(
    camera: str,
    settings: object,
    locked: Mapping[str, str],
    offers: Mapping[str, Sequence[str]],
    drawing: str,
    controls: str = "",
    running: object | None = None,
) -> Markup:
    return form_html(
        camera, settings, CAMERA_FIELDS, CAMERA_SECTIONS, locked, offers, drawing, controls, running
    )


def server_form(settings: object, locked: Mapping[str, str], running: object | None = None) -> Markup:
    return form_html("", settings, SERVER_FIELDS, SERVER_SECTIONS, locked, {}, running=running)


#: The API routes the settings page's script calls, by name.
SETTINGS_API = ("settings_save", "settings_test", "accounts", "accounts_change", "shares", "shares_change",
                "viewers", "logout")  # fmt: skip
#: The settings drawn on the picture, whose text the page sends to the shapes route as it changes.
DRAWN_KEYS = tuple(key for key, _, _ in DRAWN)


def login_page(asset_base: str, action: str, next_url: str, message: str) -> str:
    """The sign-in form, with ``message`` (why the last attempt failed) above it."""
    return fill("login", title="camcast · sign in", asset_base=asset_base, nav=[], csrf="", refresh="",
                script="", action=action, next=next_url, message=message)  # fmt: skip


def settings_page(
    *,
    asset_base: str,
    csrf: str,
    api: Mapping[str, str],
    home: str,
    cameras: Sequence[tuple[CameraSettings, str]],
    server: str,
    file: str,
    tls: Tls | None,
    history: Sequence[Mapping[str, object]],
    scopes: Sequence[str],
) -> str:
    """The settings page: a form per camera (``cameras``: (settings, form HTML)), the ``server``'s form,
    accounts, share links, the viewer log's ``history``, and ``tls``."""
    rows = [
        (shown(r.get("start")), f"{r.get('who', '')} ({r.get('via', '')})", str(r.get("address", "")),
         str(r.get("camera", "")), str(r.get("route", "")))
        for r in history
    ]  # fmt: skip
    return fill(
        "settings", title="camcast · settings", asset_base=asset_base, csrf=csrf, refresh="",
        nav=[(home, "Home"), ("#server", "Server"), ("#accounts", "Accounts")], script="settings.js",
        api=api, cameras=cameras, server=server, file=file, tls=tls, history=rows,
        scopes=list(scopes),
    )  # fmt: skip
