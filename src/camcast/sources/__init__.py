"""Video sources, and :func:`open_source`, which turns a ``--source`` value into one.

``--source`` takes ``auto`` (the first camera, else the pattern), ``pattern``, a camera (``/dev/video0``,
``video0`` or ``0``), a video file path or ``file://`` URL (looped), or an ``rtsp://``, ``http://`` or
``https://`` URL.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from camcast.config.parse import URL_SCHEMES, device_path
from camcast.errors import SourceError
from camcast.frames import DEFAULT_SIZE, Source
from camcast.sources.media import MediaSource
from camcast.sources.pattern import PatternSource
from camcast.sources.threaded import ThreadedSource
from camcast.sources.v4l2 import PIXEL_FORMATS, camera_paths, choose_mode, describe_camera

__all__ = ["Source", "ThreadedSource", "open_source"]

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0


def open_source(
    spec: str,
    size: tuple[int, int] | None,
    fps: float | None,
    passthrough: bool = True,
    warmup: str = "auto",
    timecode: bool = False,
    sound: bool = False,
) -> Source:
    """Build the source ``spec`` names. Cameras and files are opened (not yet read) to fail early.

    ``warmup`` (auto, on, off) drops frames until exposure settles; auto does so for cameras only.
    ``timecode`` draws the capture time on the test pattern (:mod:`camcast.timecode`). ``sound``: a
    file's or a stream's sound track is read too (the camera carries the source's sound).

    Raises :class:`SourceError` with the devices found, or the sizes a camera offers, when ``spec``
    cannot be used.
    """
    if spec == "auto":
        paths = camera_paths()
        if not paths:
            log.warning("no camera found; using the test pattern (pass --source to choose)")
            return PatternSource(*(size or DEFAULT_SIZE), fps or DEFAULT_FPS, timecode)
        spec = paths[0]
    if spec == "pattern":
        return PatternSource(*(size or DEFAULT_SIZE), fps or DEFAULT_FPS, timecode)
    device = device_path(spec)
    if device is not None:
        return _camera(device, size, fps, passthrough, warmup != "off")
    scheme = urlsplit(spec).scheme.lower()
    if scheme in URL_SCHEMES:
        return MediaSource(spec, "url", size, passthrough=passthrough, warmup=warmup == "on", sound=sound)
    if scheme == "file":
        spec = unquote(urlsplit(spec).path)
    elif scheme and len(scheme) > 1:  # one letter would be a Windows drive, not a scheme
        raise SourceError(
            f"unsupported source {spec!r}; use auto, pattern, a camera such as /dev/video0, a video file, "
            f"or a URL ({', '.join(s + '://' for s in URL_SCHEMES)})"
        )
    path = Path(spec)
    if not path.is_file():
        raise SourceError(f"no such video file or camera: {spec}", hint=_cameras_found())
    if not os.access(path, os.R_OK):
        raise SourceError(f"cannot read {spec}: permission denied")
    return MediaSource(str(path), "file", size, passthrough=passthrough, warmup=warmup == "on", sound=sound)


def _cameras_found() -> str:
    paths = camera_paths()
    return "cameras found: " + ", ".join(paths) if paths else "no cameras found; try --source pattern"


def _camera(
    path: str, size: tuple[int, int] | None, fps: float | None, passthrough: bool, warmup: bool
) -> Source:
    if not Path(path).exists():
        raise SourceError(f"no camera at {path}", hint=_cameras_found())
    camera = describe_camera(path)
    width, height = size if size else (None, None)
    mode = choose_mode(camera, width, height, fps)
    options = {"input_format": PIXEL_FORMATS[mode.fourcc], "video_size": f"{mode.width}x{mode.height}"}
    if fps is not None:
        options["framerate"] = f"{fps:g}"
    elif mode.fps:
        options["framerate"] = f"{mode.fps[0]:g}"
    log.info("%s (%s): capturing %s", path, camera.name, mode)
    return MediaSource(path, "v4l2", (mode.width, mode.height), options, passthrough, warmup)
