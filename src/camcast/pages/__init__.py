"""The viewer pages, one template set shared by the server and the uploader.

Every value placed into a page is HTML-escaped here; templates hold no script (it lives in
``viewer.js``), so pages can be served with a Content-Security-Policy that forbids inline script.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from string import Template

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
def template(name: str) -> Template:
    return Template(resources.files(__package__).joinpath(name).read_text("utf-8"))


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
    the home page's REC badge shows while ``rec``. ``csrf`` is a signed-in session's token, which the
    page's changes (deleting a recording) carry.
    """
    if page not in PAGES:
        raise KeyError(page)
    esc = html.escape
    every_text = f"{every:g}"
    values = {
        "every": esc(every_text),
        "snapshot": esc(snapshot),
        "stream": esc(stream),
        "meta": esc(meta),
        "ring": esc(ring),
        "hls": esc(hls),
        "whep": esc(whep),
        "ice": esc(json.dumps(list(ice))),
        "hlsjs": esc(f"{asset_base}/hls.light.min.js"),
        "items": "".join(
            f'<li><a href="{esc(links[name])}">{label}</a>: {what.format(every=every_text)}</li>\n'
            for name, (label, what) in VIEWS.items()
            if name in links
        ),
        "tiles": "".join(
            f'<li><a class="tile" href="{esc(t.link)}"><img class="tile" src="{esc(t.snapshot)}" '
            f'data-src="{esc(t.snapshot)}" data-every="{esc(every_text)}" alt="{esc(t.title)}">'
            f'<span>{esc(t.title)}</span><span class="state {esc(t.state)}">{esc(t.state)}</span> '
            f'<span class="viewers">{t.viewers} watching</span></a></li>\n'
            for t in tiles
        ),
        "state": esc(state),
        "viewers": str(int(viewers)),
        "status": esc(status),
        "camera": esc(camera),
        "motion_hidden": "" if motion else " hidden",
        "events": esc(events),
        "events_hidden": "" if events else " hidden",
        "motion_view": esc(motion_view),
        "recordings": esc(recordings),
        "may_delete": "yes" if may_delete else "",
        "rec_hidden": "" if rec else " hidden",
        "urls": "".join(
            f'<dt>{esc(what)}</dt><dd><a href="{esc(url)}"><code>{esc(url)}</code></a></dd>\n'
            for what, url in urls
        ),
        "direct": (
            f'<p class="links">Direct links: <a href="{esc(snapshot)}">snapshot</a>'
            + (f' · <a href="{esc(stream)}">MJPEG stream</a>' if stream else "")
            + "</p>"
        ),
    }
    chosen = "ring.html" if page == "stream" and ring else f"{page}.html"
    body = template(chosen).substitute(values)
    labels = {
        "cameras": "All cameras", "index": "Home", "refresh": "Page refresh", "script": "Image refresh",
        "stream": "Live", "live": "WebRTC", "recordings": "Recordings", "settings": "⚙ Settings",
    }  # fmt: skip
    nav = " ".join(
        f'<a href="{esc(links[name])}">{label}</a>' for name, label in labels.items() if name in links
    )
    head = f'<meta http-equiv="refresh" content="{esc(every_text)}">\n' if page == "refresh" else ""
    if csrf:
        head += f'<meta name="csrf-token" content="{esc(csrf)}">\n'
    scripted = page in ("script", "stream", "live", "home", "cameras", "recordings")
    scripts = f'<script src="{esc(asset_base)}/viewer.js"></script>\n' if scripted else ""
    return template("layout.html").substitute(
        title=esc(title), nav=nav, body=body, head=head, scripts=scripts, asset_base=esc(asset_base)
    )
