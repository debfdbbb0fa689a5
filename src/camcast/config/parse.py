"""Value parsers for settings: each takes a TOML value or a flag's string, returns the typed value, and
raises ValueError saying what is allowed (the caller names the setting)."""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from camcast.picture.overlay import parse_text

Parser = Callable[[Any], Any]


def parse_size(value: Any) -> tuple[int, int] | None:
    if value in (None, "", "auto"):
        return None
    text = str(value).lower().replace("×", "x")
    w, sep, h = text.partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise ValueError("must be WIDTHxHEIGHT in pixels, e.g. 1280x720, or auto")
    width, height = int(w), int(h)
    if not (16 <= width <= 7680 and 16 <= height <= 4320) or width % 2 or height % 2:
        raise ValueError("must have even width 16–7680 and even height 16–4320 pixels")
    return width, height


def parse_fps(value: Any) -> float | None:
    if value in (None, "", "auto"):
        return None
    try:
        fps = float(value)
    except (TypeError, ValueError):
        raise ValueError("must be a number of frames per second from 0.1 to 120, or auto") from None
    if not math.isfinite(fps) or not 0.1 <= fps <= 120:
        raise ValueError("must be a number of frames per second from 0.1 to 120, or auto")
    return fps


def int_range(low: int, high: int, unit: str = "") -> Parser:
    def parse(value: Any) -> int:
        try:
            number = int(str(value), 10)
        except ValueError:
            number = low - 1
        if isinstance(value, bool) or not low <= number <= high:
            raise ValueError(f"must be a whole number from {low} to {high}{unit}")
        return number

    return parse


def parse_listen(value: Any) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``PORT`` (on 127.0.0.1)."""
    text = str(value).strip()
    host, port = "127.0.0.1", text
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise ValueError("must be HOST:PORT, [IPV6]:PORT or PORT, e.g. 127.0.0.1:8080")
        host, port = text[1:end], text[end + 2 :]
    elif ":" in text:
        host, _, port = text.rpartition(":")
    if not port.isdigit() or not 1 <= int(port) <= 65535 or not host or (":" in host and "[" not in text):
        raise ValueError("must be HOST:PORT, [IPV6]:PORT or PORT (1–65535), e.g. 127.0.0.1:8080")
    return host, int(port)


#: The URL schemes a source may have (besides file://).
URL_SCHEMES = ("rtsp", "rtsps", "http", "https")


def device_path(spec: str) -> str | None:
    """The camera device ``spec`` names (``0``, ``video0`` or ``/dev/video0``), or None for other sources."""
    if spec.isdigit():
        return f"/dev/video{spec}"
    if spec.startswith("video") and spec[5:].isdigit():
        return f"/dev/{spec}"
    if spec.startswith("/dev/"):
        return spec
    return None


def parse_source(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must name a source: auto, pattern, a camera such as /dev/video0, a file or a URL")
    return text


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError("must be true or false")


def parse_path(value: Any) -> str | None:
    text = str(value).strip()
    return str(Path(text).expanduser()) if text else None


def parse_ancestors(value: Any) -> str:
    """CSP frame-ancestors sources: 'self', 'none', or origins such as https://example.org."""
    text = str(value).strip()
    ok = text and all(
        token in ("'self'", "'none'")
        or re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d+)?|https?://\*\.[A-Za-z0-9.-]+", token)
        for token in text.split()
    )
    if not ok:
        raise ValueError(
            "must be 'self', 'none', or origins such as https://example.org, separated by spaces"
        )
    return text


def parse_seconds(low: float, high: float, unit: str = "seconds") -> Parser:
    """A number of ``unit`` from ``low`` to ``high``."""

    def parse(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not low <= number <= high:
            raise ValueError(f"must be a number of {unit} from {low:g} to {high:g}")
        return number

    return parse


def parse_bitrate(value: Any) -> int:
    """Bits per second: a number, optionally with k or M (``2M``, ``800k``), from 50k to 50M."""
    text = str(value).strip().lower().removesuffix("bit/s").removesuffix("bps")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    try:
        bits = round(float(text[:-1] if scale > 1 else text) * scale)
    except ValueError:
        bits = 0
    if not 50_000 <= bits <= 50_000_000:
        raise ValueError("must be bits per second from 50k to 50M, e.g. 2M or 800k")
    return bits


def parse_optional_text(value: Any) -> str | None:
    text = str(value).strip()
    return text or None


def normalise_fingerprint(text: str) -> str:
    """A SHA-256 certificate fingerprint as 64 lower-case hex digits (colons and ``sha256:`` allowed)."""
    value = text.strip().lower().removeprefix("sha256:").replace(":", "")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("must be a SHA-256 fingerprint: 64 hex digits, colons allowed")
    return value


def parse_fingerprint(value: Any) -> str | None:
    text = str(value).strip()
    return normalise_fingerprint(text) if text else None


def parse_file_name(value: Any) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text):
        raise ValueError("must be a plain file name such as webcam.jpg (letters, digits, '.', '_', '-')")
    return text


def parse_archive_pattern(value: Any) -> str:
    text = str(value).strip().lstrip("/")
    if not text or ".." in text.split("/") or "%" not in text or "\\" in text:
        raise ValueError("must be a relative strftime path such as archive/%Y/%m/%d/%H%M%S.jpg")
    return text


def parse_optional_positive(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not (math.isfinite(number) and number > 0):
        raise ValueError("must be a number above 0")
    return number


def parse_optional_count(value: Any) -> int | None:
    if value in (None, ""):
        return None
    count: int = int_range(1, 10_000_000)(value)
    return count


def parse_text_setting(value: Any) -> str | None:
    text = str(value)
    return parse_text(text) if text else None


def parse_warmup(value: Any) -> str:
    text = str(value).lower()
    if text not in ("auto", "on", "off"):
        raise ValueError("must be auto, on or off")
    return text


#: Camera names appear in URLs (/cam/NAME/...) and file names: letters, digits, '-' and '_'.
CAMERA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


def parse_camera_name(value: Any) -> str:
    text = str(value).strip()
    if not CAMERA_NAME.fullmatch(text):
        raise ValueError("must be 1–32 letters, digits, '-' or '_', starting with a letter or digit")
    return text


#: A STUN or TURN server URL (RFC 7064, RFC 7065), with the TURN user name before an @.
ICE_URL = re.compile(
    r"(?P<scheme>stun|turns?):(?:(?P<user>[^@:/?]+)@)?(?P<host>[A-Za-z0-9.-]+)"
    r"(?::(?P<port>\d{1,5}))?(?:\?transport=(?P<transport>udp|tcp))?"
)


def parse_ice_server(value: Any) -> str:
    """Check ``stun:HOST[:PORT]`` or ``turn[s]:USER@HOST[:PORT][?transport=udp|tcp]`` (a host name or
    IPv4 address: aiortc reads no IPv6 literal there); return it."""
    text = str(value).strip()
    match = ICE_URL.fullmatch(text)
    if match is None or (match["port"] and not 1 <= int(match["port"]) <= 65535):
        raise ValueError(
            "must be stun:HOST[:PORT] or turn:USER@HOST[:PORT][?transport=udp|tcp], e.g. "
            "stun:stun.example.net:3478"
        )
    if match["scheme"] == "stun" and (match["user"] or match["transport"]):
        raise ValueError("a stun: URL has no user name or transport, e.g. stun:stun.example.net:3478")
    if match["scheme"].startswith("turn") and not match["user"]:
        raise ValueError("a TURN server needs a user name: turn:USER@HOST[:PORT] (password: turn_password)")
    return text


def parse_trusted_proxy(value: Any) -> str:
    """An address or network (``127.0.0.1``, ``10.0.0.0/8``, ``::1``), normalised."""
    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=False))
    except ValueError:
        raise ValueError("must be an IP address or network, e.g. 127.0.0.1 or 10.0.0.0/8") from None


_BASE_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)*/?")


def parse_base_path(value: Any) -> str:
    """A URL path prefix such as ``/cam/``, normalised to ``/cam`` (``/`` or empty: none)."""
    text = str(value).strip()
    if not text.startswith("/") and text:
        text = "/" + text
    if not _BASE_PATH.fullmatch(text) or "/../" in text + "/" or "/./" in text + "/":
        raise ValueError("must be a path such as /cam/ (letters, digits, . _ ~ - between slashes)")
    return text.rstrip("/")


_CONTROL_NAME = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


def parse_control(name: str, raw: object) -> int | bool | str:
    """A camera control's value from the config file: a whole number, true/false, or a menu item's
    name; ``name`` must be a control name as v4l2-ctl writes it (``white_balance_automatic``)."""
    if not _CONTROL_NAME.fullmatch(name):
        raise ValueError("is not a control name as v4l2-ctl lists them (lower case, digits and _)")
    if isinstance(raw, bool | int):
        return raw
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    raise ValueError("must be a whole number, true or false, or a menu item's name")


def parse_rate(value: Any) -> float:
    """Pictures a second, 0.5 to 30 (motion analyses)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not 0.5 <= number <= 30:
        raise ValueError("must be a number of pictures a second from 0.5 to 30")
    return number


#: Recording modes.
RECORD_MODES = ("off", "events", "continuous")


def parse_record_mode(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in RECORD_MODES:
        raise ValueError(f"must be one of {', '.join(RECORD_MODES)}")
    return text


def parse_byte_size(value: Any) -> int | None:
    """Bytes: a number, optionally with K, M, G or T (powers of 1024), e.g. ``20G``, ``500M``."""
    if value in (None, "", "none"):
        return None
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}.get(text[-1:], 1)
    try:
        number = float(text[:-1] if scale > 1 else text)
    except ValueError:
        number = -1.0
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise ValueError("must be a size in bytes, e.g. 20G, 500M or 0")
    return round(number * scale)


def parse_minutes(low: float, high: float) -> Parser:
    return parse_seconds(low, high, "minutes")


def parse_optional_listen(value: Any) -> tuple[str, int] | None:
    """``HOST:PORT`` (see :func:`parse_listen`), or empty for none."""
    if value in (None, "", "off"):
        return None
    return parse_listen(value)


#: Where --push may publish to.
PUSH_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps")


def parse_push(value: Any) -> str:
    """An rtsp(s):// media server or rtmp(s):// ingest URL."""
    url = str(value).strip()
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in PUSH_SCHEMES or not rest.split("/", 1)[0]:
        raise ValueError("must be an rtsp://, rtsps://, rtmp:// or rtmps:// URL to publish the video to")
    return url


def parse_sensitivity(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not 0.0 <= number <= 1.0:
        raise ValueError("must be a number from 0 (least sensitive) to 1 (most)")
    return number


def parse_webhook(value: Any) -> str | None:
    if value in (None, ""):
        return None
    url = str(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL to POST each event to")
    return url


def parse_command(value: Any) -> tuple[str, ...]:
    """An argv list, or a command line split as a shell would (without running a shell)."""
    if value in (None, "", []):
        return ()
    if isinstance(value, list | tuple):
        if not all(isinstance(v, str) for v in value) or not value[0]:
            raise ValueError('must be a list of strings, the program first: ["notify-send", "camcast"]')
        return tuple(value)
    try:
        argv = shlex.split(str(value))
    except ValueError as exc:
        raise ValueError(f"is not a command line: {exc}") from None
    return tuple(argv)


def parse_mqtt(value: Any) -> str | None:
    """``mqtt://[user@]host[:port]`` or ``mqtts://`` (TLS); the password comes from elsewhere."""
    if value in (None, ""):
        return None
    url = str(value)
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("must be an mqtt://[user@]host[:port] or mqtts:// URL")
    if parts.password is not None:
        raise ValueError("must not hold the password: set mqtt_password or CAMCAST_MQTT_PASSWORD")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    return url
