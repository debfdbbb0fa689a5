"""The viewer pages, one template set shared by the server and the uploader.

The pages are Jinja2 templates (this folder's ``*.html``, all extending ``layout.html``), which
escape every value where it lands; templates hold no script (it lives in ``viewer.js``), so pages can
be served with a Content-Security-Policy that forbids inline script.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import jinja2

PAGES = ("index", "home", "refresh", "script", "stream", "live", "cameras", "recordings")
#: The three ways to watch, as the index lists them: (link text, what it does).
VIEWS = {
    "refresh": ("Page refresh", "the whole page reloads every {every} seconds."),
    "script": ("Image refresh", "only the picture reloads, every {every} seconds, without flicker."),
    "stream": (
        "Live stream",
        "video in near real time: the best this browser plays (WebRTC, HLS, else pictures).",
    ),
    "live": ("WebRTC", "H.264 video with a delay under a second, where the browser and network allow it."),
}
ASSETS = {
    "viewer.js": "text/javascript",
    "viewer.css": "text/css",
    "favicon.svg": "image/svg+xml",
    # reads the pattern's --pattern-timecode back from a <video> or <img> (bench/ and the tests)
    "timecode.js": "text/javascript",
    "settings.js": "text/javascript",
    # hls.js from the npm registry, unmodified, with its licence (vendor/README.md says which version)
    "hls.light.min.js": "text/javascript",
    "hls.js-LICENSE.txt": "text/plain; charset=utf-8",
}
_VENDORED = {"hls.light.min.js", "hls.js-LICENSE.txt"}


@dataclass(frozen=True)
class Tile:
    """One camera on the ``cameras`` page: its name, state (live, paused, offline) and viewers."""

    title: str
    link: str
    snapshot: str
    state: str
    viewers: int


@functools.cache
def environment() -> jinja2.Environment:
    """The pages' templates (this folder's ``*.html``), every value autoescaped; a name a template uses
    and the code does not give is an error, not an empty string."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("camcast", "pages"), autoescape=True, undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )  # fmt: skip


def fill(name: str, **values: object) -> str:
    """The page ``name``.html made with ``values`` (each escaped where it lands)."""
    return environment().get_template(f"{name}.html").render(**values)


@functools.cache
def asset(name: str) -> bytes:
    """The bytes of a static asset (one of :data:`ASSETS`)."""
    if name not in ASSETS:
        raise KeyError(name)
    folder = resources.files(__package__)
    return (folder / "vendor" / name if name in _VENDORED else folder / name).read_bytes()


def render(
    page: str,
    *,
    title: str,
    links: dict[str, str],
    every: float,
    asset_base: str,
    snapshot: str,
    stream: str,
    meta: str = "",
    ring: str = "",
    hls: str = "",
    whep: str = "",
    ice: Sequence[str] = (),
    tiles: Sequence[Tile] = (),
    state: str = "",
    viewers: int = 0,
    status: str = "",
    camera: str = "",
    urls: Sequence[tuple[str, str]] = (),
    motion: bool = False,
    events: str = "",
    motion_view: str = "",
    recordings: str = "",
    may_delete: bool = False,
    rec: bool = False,
    mic: bool | None = None,
    talking: bool | None = None,
    talk: str = "",
    csrf: str = "",
) -> str:
    """The HTML of ``page`` (one of :data:`PAGES`).

    ``links`` maps page names to their URLs for the navigation; ``snapshot`` and ``stream`` are the
    picture and stream URLs; ``every`` is the refresh interval in seconds; ``meta`` optionally names a
    JSON sidecar with the capture time (a published site has one; the server's pages do not need it);
    ``ring`` names the JSON file of a published near-live ring of pictures, which the stream page then
    plays instead of an MJPEG stream; ``hls`` names an HLS playlist, which the stream page then plays
    as video (natively, or with hls.js), falling back to ``stream``; ``whep`` names the WHEP endpoint
    the stream page tries first and the live page plays, with the STUN servers ``ice``. ``tiles`` are
    the cameras the ``cameras`` page shows. The server's ``home`` page also shows the camera's
    ``state`` (live, paused, offline) and ``viewers``, refreshed from ``status`` (the entry of
    ``camera``), and ``urls``: (what, absolute URL) pairs for other programs; the "watching" badge
    while ``motion`` is on, and for the owner the list of motion events from ``events`` (the API's
    URL) with the detector's view ``motion_view``. The ``recordings`` page lists what the API at
    ``recordings`` gives, by day, with the ``events`` marked, and offers deleting when ``may_delete``;
    the home page's REC badge shows while ``rec``; every page of a camera whose audio is on has the
    microphone badge (``mic`` not None), shown while ``mic``, and of a camera with a speaker the
    "talking" badge (``talking`` not None), shown while the owner talks; the owner's home page has
    the push-to-talk button, whose offers go to ``talk``. ``csrf`` is a
    signed-in session's token, which the page's changes (deleting a recording) carry.
    """
    if page not in PAGES:
        raise KeyError(page)
    every_text = f"{every:g}"
    labels = {
        "cameras": "All cameras", "index": "Home", "refresh": "Page refresh", "script": "Image refresh",
        "stream": "Live", "live": "WebRTC", "recordings": "Recordings", "timelapse": "Timelapse",
        "settings": "⚙ Settings",
    }  # fmt: skip
    scripted = page in ("script", "stream", "live", "home", "cameras", "recordings")
    return fill(
        "ring" if page == "stream" and ring else page,
        title=title, asset_base=asset_base, csrf=csrf, refresh=every_text if page == "refresh" else "",
        nav=[(links[name], label) for name, label in labels.items() if name in links],
        script="viewer.js" if scripted else "",
        every=every_text, snapshot=snapshot, stream=stream, meta=meta, ring=ring, hls=hls, whep=whep,
        ice=json.dumps(list(ice)), hlsjs=f"{asset_base}/hls.light.min.js",
        items=[(links[name], label, what.format(every=every_text))
               for name, (label, what) in VIEWS.items() if name in links],
        tiles=tiles, state=state, viewers=int(viewers), status=status, camera=camera, urls=urls,
        motion=motion, events=events, motion_view=motion_view, recordings=recordings,
        may_delete=may_delete, rec=rec, mic=mic, talking=talking, talk=talk,
    )  # fmt: skip
