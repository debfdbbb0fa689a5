"""The owner's settings page and the sign-in page: the form made from the settings' declarations.

Every setting of :mod:`camcast.config.settings` appears, grouped in sections (a setting no section
names lands in "Other", so a new one is never missing), labelled with its TOML key and its help, its
value as a person would type it back (:func:`camcast.config.edit.form_value`). A setting given as a
flag says so and cannot be changed here: the flag would win over the file. Every value is
HTML-escaped here; the page's behaviour is in ``settings.js``.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from camcast.clock import shown
from camcast.config import CAMERA_FIELDS, SERVER_FIELDS, CameraSettings
from camcast.config.edit import form_value
from camcast.pages import template
from camcast.picture.overlay import POSITIONS
from camcast.security.certificate import Tls
from camcast.sources.controls import Control

#: The camera's settings as the page groups them: (section, settings).
CAMERA_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Source", ("source", "size", "fps", "warmup", "passthrough", "camera_name")),
    ("Privacy masks and motion zones", ("mask", "motion_zones", "motion_ignore")),
    ("Motion", ("motion", "motion_sensitivity", "motion_min_seconds", "motion_gap_seconds", "motion_fps")),
    ("Notifications", ("motion_on_event", "motion_on_event_command", "motion_mqtt", "motion_mqtt_password")),
    ("Recording", ("record", "record_pre_seconds", "record_post_seconds", "record_file_minutes",
                   "record_max_days", "record_max_size", "record_min_free", "record_copy_to")),
    ("Picture", ("crop", "rotate", "flip", "scale", "quality", "video_bitrate", "keyframe_every",
                 "hls_window", "drop_same_frames", "pattern_timecode")),
    ("Caption and logo", ("text", "text_position", "text_size", "text_color", "text_font", "logo",
                          "logo_position", "logo_width", "live_badge")),
    ("Publishing", ("publish_to", "every", "name", "archive", "archive_pattern", "keep_days", "keep",
                    "stream_fps", "hls", "hls_segment", "ca_file", "fingerprint", "active", "identity",
                    "upload_password", "s3_access_key", "s3_secret_key")),
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


def field_html(
    camera: str,
    key: str,
    f: dataclasses.Field[Any],
    value: Any,
    locked: str = "",
    choices: Iterable[str] = (),
    now: Any = None,
) -> str:
    """One setting's row: label, input, help, and the place its error shows; a ``locked`` setting is
    shown with why it cannot be changed here; a restart-only one says so, and what runs (``now``) when
    the saved value differs."""
    esc = html.escape
    fid = _id(camera, key)
    shown = form_value(f, value)
    attrs = f'id="{fid}" name="{esc(key)}" aria-describedby="{fid}-help {fid}-error"'
    if locked:
        attrs += " disabled"
    note = f' <span class="flag">{esc(locked)}</span>' if locked else ""
    if f.metadata["restart"]:
        running = "" if now is None or now == value else f" (running now: {_as_text(form_value(f, now))})"
        note += f' <span class="restart">changes at the next start{esc(running)}</span>'
    if f.metadata["secret"]:
        state = "set: type to replace" if value else "not set"
        control = f'<input type="password" autocomplete="new-password" placeholder="{state}" {attrs}>'
        if value:
            control += (
                f' <label class="inline"><input type="checkbox" data-clear="{esc(key)}"> remove</label>'
            )
    elif isinstance(shown, bool):
        control = f'<input type="checkbox" {attrs}{" checked" if shown else ""}>'
    elif isinstance(shown, list):
        rows = max(2, len(shown) + 1)
        control = f'<textarea rows="{rows}" spellcheck="false" {attrs}>{esc(chr(10).join(shown))}</textarea>'
    elif key == "motion_sensitivity":
        control = (
            f'<input type="range" min="0" max="1" step="0.05" value="{esc(str(shown))}" {attrs}>'
            f' <output for="{fid}">{esc(str(shown))}</output>'
        )
    else:
        offered = list(dict.fromkeys([*CHOICES.get(key, ()), *choices]))
        listed = f' list="{fid}-list"' if offered else ""
        control = f'<input type="text" spellcheck="false" value="{esc(str(shown))}"{listed} {attrs}>'
        if offered:
            options = "".join(f'<option value="{esc(o)}">' for o in offered)
            control += f'<datalist id="{fid}-list">{options}</datalist>'
    return (
        f'<div class="field" data-key="{esc(key)}"><label for="{fid}"><code>{esc(key)}</code></label>'
        f"{control}"
        f'<small id="{fid}-help" class="help">{esc(f.metadata["help"])}{note}</small>'
        f'<output id="{fid}-error" class="error" role="alert"></output></div>\n'
    )


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(value) or "none"
    return str(value) or "none"


def drawing_html(camera: str, snapshot: str, motion_view: str) -> str:
    """The live picture to draw masks and zones on, with its tools."""
    esc = html.escape
    layers = "".join(
        f'<label class="inline"><input type="radio" name="layer-{esc(camera)}" value="{key}"'
        f"{' checked' if key == 'mask' else ''}> {label}</label> "
        for key, label, _ in DRAWN
    )
    return (
        f'<div class="draw" data-snapshot="{esc(snapshot)}" data-motion="{esc(motion_view)}">'
        f'<div class="tools" role="group" aria-label="drawing tools">{layers}'
        '<label class="inline"><input type="radio" name="shape" value="rect" checked> rectangle</label> '
        '<label class="inline"><input type="radio" name="shape" value="poly"> polygon</label> '
        '<button type="button" class="delete-shape" disabled>Delete selected</button> '
        '<label class="inline"><input type="checkbox" class="show-motion"> '
        "show what the detector sees</label>"
        "</div>"
        '<div class="canvas"><img class="live" alt="the live picture" src="">'
        '<img class="motion-view" alt="what the motion detector sees" hidden src="">'
        '<svg class="shapes" viewBox="0 0 1000 1000" preserveAspectRatio="none" tabindex="0" '
        'aria-label="draw here: drag for a rectangle; for a polygon click its corners, then Enter"></svg>'
        "</div>"
        '<p class="hint">Drag on the picture to draw a rectangle; for a polygon click its corners and press '
        "Enter (or click the first corner). Click a shape to select it, drag to move it; arrows move it, "
        "Delete removes it. Save to apply.</p></div>\n"
    )


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
) -> str:
    """A form of every setting in ``fields`` of ``settings`` (a camera's, or the server's when
    ``camera`` is empty), in ``declared`` sections; ``locked`` settings say why they cannot change.
    ``drawing`` goes with the masks and zones, a V4L2 camera's ``controls`` after the source;
    ``running``: the settings that run, for the restart-only ones saved but not yet in force."""
    esc = html.escape
    parts = [f'<form class="settings" data-camera="{esc(camera)}" novalidate>\n']
    for title, keys in sections(declared, fields):
        parts.append(f"<details><summary>{esc(title)}</summary>\n")
        if title.startswith("Privacy") and drawing:
            parts.append(drawing)
        for key in keys:
            parts.append(
                field_html(
                    camera,
                    key,
                    fields[key],
                    getattr(settings, key),
                    locked.get(key, ""),
                    offers.get(key, ()),
                    getattr(running, key, None),
                )
            )
        if title in TESTS:
            parts.append(
                f'<p><button type="button" class="test" data-test="{TESTS[title]}">Test</button> '
                '<output class="test-result" role="status"></output></p>\n'
            )
        parts.append("</details>\n")
        if title == "Source" and controls:
            parts.append(f"<details><summary>Camera controls</summary>\n{controls}</details>\n")
    parts.append(
        '<p class="save"><button type="submit">Save</button> <output class="saved" role="status"></output>'
        f'<output id="{_id(camera, "")}-error" class="error" role="alert"></output></p></form>\n'
    )
    return "".join(parts)


def controls_html(camera: str, found: Sequence[Control] | str, kept: Mapping[str, object]) -> str:
    """A V4L2 camera's controls as fields (``controls.NAME``) showing the device's values now; those
    the config file sets say so. ``found`` is the controls, or why they could not be read."""
    esc = html.escape
    if isinstance(found, str):
        return f'<p class="error">{esc(found)}</p>\n'
    rows = []
    for c in found:
        key = f"controls.{c.name}"
        fid = _id(camera, key)
        value = c.default if c.value is None else c.value
        attrs = f'id="{fid}" name="{esc(key)}" aria-describedby="{fid}-help {fid}-error"'
        attrs += " disabled" if c.read_only else ""
        if c.kind == "bool":
            control = f'<input type="checkbox" {attrs}{" checked" if value else ""}>'
        elif c.kind == "menu":
            options = "".join(
                f'<option value="{number}"{" selected" if number == value else ""}>{esc(label)}</option>'
                for number, label in c.menu.items()
            )
            control = f"<select {attrs}>{options}</select>"
        else:
            control = (
                f'<input type="range" min="{c.minimum}" max="{c.maximum}" step="{max(c.step, 1)}" '
                f'value="{value}" {attrs}> <output for="{fid}">{value}</output>'
            )
        notes = [f"default {c.default}"]
        if c.name in kept:
            notes.append(f"the config file sets {kept[c.name]}")
        if c.inactive:
            notes.append("inactive while an automatic mode is on")
        if c.read_only:
            notes.append("read-only")
        rows.append(
            f'<div class="field" data-key="{esc(key)}"><label for="{fid}"><code>{esc(c.name)}</code></label>'
            f'{control}<small id="{fid}-help" class="help">{esc("; ".join(notes))}</small>'
            f'<output id="{fid}-error" class="error" role="alert"></output></div>\n'
        )
    return "".join(rows) or "<p>This camera offers no control camcast can set.</p>\n"


def camera_form(
    camera: str,
    settings: object,
    locked: Mapping[str, str],
    offers: Mapping[str, Sequence[str]],
    drawing: str,
    controls: str = "",
    running: object | None = None,
) -> str:
    return form_html(
        camera, settings, CAMERA_FIELDS, CAMERA_SECTIONS, locked, offers, drawing, controls, running
    )


def server_form(settings: object, locked: Mapping[str, str], running: object | None = None) -> str:
    return form_html("", settings, SERVER_FIELDS, SERVER_SECTIONS, locked, {}, running=running)


#: The API routes the settings page's script calls, by name.
SETTINGS_API = ("settings_save", "settings_test", "accounts", "accounts_change", "shares", "shares_change",
                "viewers", "logout")  # fmt: skip


def _layout(title: str, asset_base: str, nav: str, body: str, head: str = "", script: str = "") -> str:
    esc = html.escape
    scripts = f'<script src="{esc(asset_base)}/{script}"></script>\n' if script else ""
    return template("layout.html").substitute(
        title=esc(title), nav=nav, body=body, head=head, scripts=scripts, asset_base=esc(asset_base)
    )


def login_page(asset_base: str, action: str, next_url: str, message: str) -> str:
    """The sign-in form, with ``message`` (why the last attempt failed) above it."""
    esc = html.escape
    body = template("login.html").substitute(
        action=esc(action),
        next=esc(next_url),
        message=esc(message),
        message_hidden="" if message else " hidden",
    )
    return _layout("camcast · sign in", asset_base, "", body)


def _tls_html(tls: Tls | None) -> str:
    esc = html.escape
    if tls is None:
        return (
            "<p>Not serving HTTPS: the server listens on plain HTTP (fine on loopback; "
            "<code>camcast tls</code> makes a certificate).</p>"
        )
    if tls.problem:
        return f"<p>Certificate <code>{esc(tls.cert)}</code>: {esc(tls.problem)}</p>"
    return (
        f'<dl class="urls"><dt>certificate</dt><dd><code>{esc(tls.cert)}</code></dd>'
        f"<dt>names</dt><dd>{esc(tls.subject)}</dd><dt>valid until</dt><dd>{esc(tls.until)}</dd>"
        "<dt>SHA-256 fingerprint (compare it with what the browser shows)</dt>"
        f'<dd><code class="fingerprint">{esc(tls.sha256)}</code></dd></dl>'
    )


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
    esc = html.escape
    jump = " ".join(
        [f'<a href="#camera-{esc(c.id)}">{esc(c.title)}</a>' for c, _ in cameras]
        + ['<a href="#server">Server</a>', '<a href="#accounts">Accounts</a>',
           '<a href="#links">Share links</a>', '<a href="#viewers">Viewers</a>', '<a href="#tls">TLS</a>']
    )  # fmt: skip
    camera_html = "".join(
        f'<section id="camera-{esc(c.id)}"><h2>Camera {esc(c.title)}</h2>\n{form}</section>\n'
        for c, form in cameras
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{esc(value)}</td>"
            for value in (
                shown(r.get("start")),
                f"{r.get('who', '')} ({r.get('via', '')})",
                str(r.get("address", "")),
                str(r.get("camera", "")),
                str(r.get("route", "")),
            )
        )
        + "</tr>\n"
        for r in history
    )
    body = template("settings.html").substitute(
        jump=jump,
        cameras=camera_html,
        server=server,
        file=esc(file),
        tls=_tls_html(tls),
        history=rows or '<tr><td colspan="5">nobody yet</td></tr>',
        scopes="".join(f'<option value="{esc(s)}">{esc(s)}</option>' for s in scopes if s != "recordings"),
        camera_options="".join(f'<option value="{esc(c.id)}">{esc(c.title)}</option>' for c, _ in cameras),
        csrf=esc(csrf),
        **{f"api_{name}": esc(url) for name, url in api.items()},
    )
    head = f'<meta name="csrf-token" content="{esc(csrf)}">\n'
    nav = f'<a href="{esc(home)}">Home</a> <a href="#server">Server</a> <a href="#accounts">Accounts</a>'
    return _layout("camcast · settings", asset_base, nav, body, head, "settings.js")
