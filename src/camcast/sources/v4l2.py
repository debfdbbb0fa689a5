"""V4L2 cameras: listing them with their formats, sizes and frame rates (linuxpy), and choosing a mode.

Capture itself goes through PyAV's ``video4linux2`` demuxer (see :mod:`camcast.sources.media`); PyAV
cannot enumerate devices or their modes, which is what this module is for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from camcast.errors import SourceError

log = logging.getLogger(__name__)

#: Pixel formats camcast captures, best first, with the name FFmpeg's v4l2 demuxer uses for each.
#: MJPEG is first because the camera's own JPEG bytes are passed through without re-encoding.
PIXEL_FORMATS = {"MJPG": "mjpeg", "YUYV": "yuyv422", "NV12": "nv12", "YU12": "yuv420p"}


@dataclass(frozen=True, slots=True)
class Mode:
    """One capture mode a camera offers: a FourCC pixel format, a size in pixels, and frame rates."""

    fourcc: str
    width: int
    height: int
    fps: tuple[float, ...]

    def __str__(self) -> str:
        rates = "/".join(f"{f:g}" for f in self.fps) or "?"
        return f"{self.fourcc} {self.width}x{self.height} @ {rates} fps"


@dataclass(frozen=True, slots=True)
class Camera:
    path: str
    name: str
    modes: tuple[Mode, ...]


def camera_paths(root: str = "/dev") -> list[str]:
    """Device files that look like cameras (``/dev/video*``), sorted numerically."""
    files = Path(root).glob("video*")
    return sorted((str(p) for p in files), key=lambda p: (len(p), p))


def probe_cameras(root: str = "/dev") -> list[tuple[str, Camera | SourceError]]:
    """Every ``/dev/video*`` under ``root`` with its modes, or why it cannot be used. Nodes that are
    not capture devices (a camera's metadata node, an output-only loopback) are left out."""
    found: list[tuple[str, Camera | SourceError]] = []
    for path in camera_paths(root):
        try:
            found.append((path, describe_camera(path)))
        except NotCapture:
            log.debug("skipping %s: not a capture device", path)
        except SourceError as exc:
            found.append((path, exc))
    return found


class NotCapture(SourceError):
    """A video device that captures nothing (metadata, output)."""


def describe_camera(path: str) -> Camera:
    """Open ``path`` and read its name and capture modes; raises SourceError if it is no camera.

    Only the video-capture buffer type's formats are read. linuxpy's ``Info.formats`` (and so
    ``frame_types``) walks every buffer type the device has, and for one that is neither capture,
    output nor meta (vivid's video-overlay, say) linuxpy 0.25 fails with an UnboundLocalError; and
    a camera's other buffer types are nothing camcast captures from anyway. Whatever else the device
    or the library raises while probing is a one-line SourceError naming the device.
    """
    try:
        from linuxpy.video import device as v4l2
    except ImportError as exc:  # linuxpy is Linux-only
        raise SourceError(f"cannot read V4L2 devices here: {exc}") from exc
    try:
        with v4l2.Device(path) as dev:
            caps = v4l2.Capability(dev.info.device_capabilities)
            if v4l2.Capability.VIDEO_CAPTURE not in caps:
                raise NotCapture(f"{path} is not a capture device")
            formats = dev.info.buffer_formats(v4l2.BufferType.VIDEO_CAPTURE)
            pixel_formats = {fmt.pixel_format for fmt in formats}
            modes: dict[tuple[str, int, int], set[float]] = {}
            for ft in v4l2.iter_read_pixel_formats_frame_intervals(dev, pixel_formats):
                fourcc = _fourcc(int(ft.pixel_format))
                rates = modes.setdefault((fourcc, ft.width, ft.height), set())
                if ft.max_fps:
                    rates.add(float(ft.max_fps))
            return Camera(
                path,
                str(dev.info.card),
                tuple(Mode(f, w, h, tuple(sorted(r, reverse=True))) for (f, w, h), r in modes.items()),
            )
    except SourceError:
        raise
    except OSError as exc:
        raise SourceError(f"cannot open {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # linuxpy or the driver: one line naming the device, never a traceback
        raise SourceError(f"cannot read the modes of {path}: {type(exc).__name__}: {exc}") from exc


def _fourcc(code: int) -> str:
    """The FourCC as text (``YUYV``); a code with bytes that are not printable ASCII (a big-endian
    variant sets the high bit) as hex."""
    raw = code.to_bytes(4, "little")
    if all(0x20 <= b < 0x7F for b in raw):
        return raw.decode("ascii").strip()
    return f"0x{code:08x}"


def choose_mode(camera: Camera, width: int | None, height: int | None, fps: float | None) -> Mode:
    """The mode to capture: the asked size (or the largest up to 1280×720), MJPEG when offered.

    Raises :class:`SourceError` listing what the camera offers when the size or rate is not available.
    """
    usable = [m for m in camera.modes if m.fourcc in PIXEL_FORMATS]
    if not usable:
        offered = ", ".join(sorted({m.fourcc for m in camera.modes})) or "nothing"
        raise SourceError(
            f"{camera.path} offers no pixel format camcast reads (it offers {offered}; "
            f"camcast reads {', '.join(PIXEL_FORMATS)})"
        )
    if width is None or height is None:
        fitting = [m for m in usable if m.width * m.height <= 1280 * 720] or usable
        target = max((m.width * m.height, m.width) for m in fitting)
        sized = [m for m in fitting if (m.width * m.height, m.width) == target]
    else:
        sized = [m for m in usable if (m.width, m.height) == (width, height)]
        if not sized:
            sizes = sorted({(m.width, m.height) for m in usable})
            listed = ", ".join(f"{w}x{h}" for w, h in sizes)
            raise SourceError(f"{camera.path} cannot capture {width}x{height}; it offers {listed}")
    if fps is not None:
        rated = [m for m in sized if not m.fps or any(abs(f - fps) < 0.01 for f in m.fps)]
        if not rated:
            rates = sorted({f for m in sized for f in m.fps}, reverse=True)
            listed = ", ".join(f"{r:g}" for r in rates)
            raise SourceError(
                f"{camera.path} cannot capture {sized[0].width}x{sized[0].height} at {fps:g} fps; "
                f"it offers {listed} fps"
            )
        sized = rated
    order = list(PIXEL_FORMATS)
    return min(sized, key=lambda m: order.index(m.fourcc))
