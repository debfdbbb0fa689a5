"""Configuration: the one place defaults live.

Every setting is a field of :class:`Config` with a TOML key of the same name and a command-line flag
(``--key-name``). Values come from the defaults, then the config file (``--config FILE``, by default
``$XDG_CONFIG_HOME/camcast/camcast.toml``), then flags; each is validated by its field's parser, and a
bad value raises :class:`ConfigError` naming the key and what it allows.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camcast.errors import ConfigError
from camcast.geometry import Crop, parse_crop, parse_flip, parse_rotate
from camcast.overlay import POSITIONS, parse_color, parse_position, parse_text
from camcast.privacy import Mask, parse_mask

Parser = Callable[[Any], Any]


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/camcast`` (``~/.config/camcast`` when the variable is unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "camcast"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/camcast`` (``~/.local/state/camcast`` when unset): the viewer log, the control
    socket."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "camcast"


def default_config_file() -> Path:
    return config_dir() / "camcast.toml"


# --- value parsers: each takes a TOML value or a flag's string and raises ValueError saying what is allowed
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


def parse_seconds(low: float, high: float) -> Parser:
    def parse(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not low <= number <= high:
            raise ValueError(f"must be a number of seconds from {low:g} to {high:g}")
        return number

    return parse


def parse_optional_text(value: Any) -> str | None:
    text = str(value).strip()
    return text or None


def parse_fingerprint(value: Any) -> str | None:
    from camcast.publish.ftp import normalise_fingerprint

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


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _show_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return _quote(str(value))


def setting(
    default: Any,
    parse: Parser,
    help: str,
    *,
    metavar: str = "",
    secret: bool = False,
    multiple: bool = False,
    show: Callable[[Any], str] = _show_default,
) -> Any:
    """A Config field. ``multiple`` settings are lists (a repeatable flag, a TOML array); a ``bool``
    default makes a ``--name/--no-name`` flag; ``show`` renders a value as TOML."""
    meta = {
        "parse": parse,
        "help": help,
        "metavar": metavar,
        "secret": secret,
        "multiple": multiple,
        "show": show,
    }
    if multiple:
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


def _show_size(value: tuple[int, int]) -> str:
    return f'"{value[0]}x{value[1]}"'


def _show_crop(c: Crop) -> str:
    return f'"{c.x},{c.y},{c.w},{c.h}"'


def _show_listen(value: tuple[str, int]) -> str:
    host = f"[{value[0]}]" if ":" in value[0] else value[0]
    return f'"{host}:{value[1]}"'


@dataclass(frozen=True)
class Config:
    """The effective settings. Field names are the TOML keys; flags are the same names with dashes."""

    source: str = setting(
        "auto",
        parse_source,
        "auto (first camera, else the test pattern), pattern, /dev/videoN, a video file, or an rtsp:// or "
        "http(s):// URL",
        metavar="SOURCE",
    )
    size: tuple[int, int] | None = setting(
        None,
        parse_size,
        "picture size, e.g. 1280x720 (default: 1280x720 for the pattern, the source's own otherwise)",
        metavar="WxH",
        show=_show_size,
    )
    fps: float | None = setting(
        None,
        parse_fps,
        "capture rate in frames per second (default 30 for the pattern and cameras; files play at "
        "their own rate)",
        metavar="N",
    )
    quality: int = setting(80, int_range(1, 100), "JPEG quality 1–100", metavar="Q")
    passthrough: bool = setting(True, parse_bool, "send a camera's own MJPEG without re-encoding")
    listen: tuple[str, int] = setting(
        ("127.0.0.1", 8080),
        parse_listen,
        "address and port to serve on",
        metavar="HOST:PORT",
        show=_show_listen,
    )
    public: bool = setting(
        False, parse_bool, "let anyone who can reach the server watch without an account (never the default)"
    )
    tls_cert: str | None = setting(
        None, parse_path, "TLS certificate chain (PEM) to serve HTTPS", metavar="FILE"
    )
    tls_key: str | None = setting(None, parse_path, "TLS private key (PEM) for --tls-cert", metavar="FILE")
    mask: tuple[Mask, ...] = setting(
        (),
        parse_mask,
        "black out x,y,w,h (pixels or percent) in every output before encoding; repeatable",
        metavar="X,Y,W,H",
        multiple=True,
        show=lambda m: _quote(str(m)),
    )
    live_badge: bool = setting(False, parse_bool, 'draw a red "LIVE" badge on the picture while on air')
    # --- the picture: geometry, then masks, then overlays ----------------------------------------------
    crop: Crop | None = setting(  # noqa: RUF009 - setting() makes a dataclass field, like field()
        None, parse_crop, "keep only x,y,w,h of the picture (pixels)", metavar="X,Y,W,H", show=_show_crop
    )
    rotate: int = setting(0, parse_rotate, "rotate 0, 90, 180 or 270 degrees clockwise", metavar="DEG")
    flip: str = setting("none", parse_flip, "flip: none, horizontal, vertical or both", metavar="HOW")
    scale: tuple[int, int] | None = setting(
        None,
        parse_size,
        "resample the picture to WxH after crop and rotation",
        metavar="WxH",
        show=_show_size,
    )
    text: str | None = setting(
        None,
        parse_text_setting,
        "caption: strftime codes (%Y-%m-%d %H:%M:%S) and {ms}, {fps}, {viewers}, {name}",
        metavar="TEXT",
    )
    text_position: str = setting(
        "bottom-left", parse_position, f"one of {', '.join(POSITIONS)}", metavar="WHERE"
    )
    text_size: int = setting(24, int_range(8, 200, " pixels"), "caption height in pixels", metavar="PX")
    text_color: tuple[int, int, int] = setting(
        (255, 255, 255), parse_color, "caption colour: a name or #rrggbb", metavar="COLOUR",
        show=lambda c: f'"#{c[0]:02x}{c[1]:02x}{c[2]:02x}"',
    )  # fmt: skip
    text_font: str | None = setting(
        None, parse_path, "a TrueType font file (default DejaVu Sans Mono)", metavar="FILE"
    )
    logo: str | None = setting(None, parse_path, "a PNG (with alpha) drawn on the picture", metavar="FILE")
    logo_position: str = setting(
        "top-right", parse_position, f"one of {', '.join(POSITIONS)}", metavar="WHERE"
    )
    logo_width: int | None = setting(None, parse_optional_count, "scale the logo to this width", metavar="PX")
    warmup: str = setting(
        "auto", parse_warmup, "drop frames until exposure settles: auto (cameras), on or off", metavar="MODE"
    )
    drop_same_frames: bool = setting(
        False, parse_bool, "send an unchanged picture at most once a second on streams"
    )
    camera_name: str = setting("", str, "the camera's name, for {name} in --text", metavar="NAME")
    frame_ancestors: str = setting(
        "'self'",
        parse_ancestors,
        "origins allowed to frame the viewer pages (CSP frame-ancestors)",
        metavar="ORIGINS",
    )
    max_connections: int = setting(2000, int_range(1, 100_000), "most open connections in total", metavar="N")
    max_connections_per_address: int = setting(
        100, int_range(1, 100_000), "most open connections from one address", metavar="N"
    )
    header_timeout: float = setting(
        10.0, parse_seconds(0.5, 300), "seconds a client has to send a complete request head", metavar="S"
    )
    idle_timeout: float = setting(
        30.0, parse_seconds(1, 3600), "seconds an idle keep-alive connection stays open", metavar="S"
    )

    # --- publishing -----------------------------------------------------------------------------------
    to: str | None = setting(
        None,
        parse_optional_text,
        "publish to a folder, or ftp://, ftps://, ftps+implicit:// or sftp://user@host/folder/",
        metavar="URL",
    )
    every: float = setting(5.0, parse_seconds(0.2, 86400), "seconds between published pictures", metavar="N")
    name: str = setting("webcam.jpg", parse_file_name, "file name of the published picture", metavar="NAME")
    archive: bool = setting(False, parse_bool, "also keep every picture under archive/ (see archive_pattern)")
    archive_pattern: str = setting(
        "archive/%Y/%m/%d/%H%M%S.jpg",
        parse_archive_pattern,
        "strftime path of archived pictures",
        metavar="PATTERN",
    )
    keep_days: float | None = setting(
        None, parse_optional_positive, "delete archived pictures older than this many days", metavar="D"
    )
    keep: int | None = setting(
        None, parse_optional_count, "keep only the newest N archived pictures", metavar="N"
    )
    stream_fps: float | None = setting(
        None,
        parse_optional_positive,
        "also publish a near-live ring of pictures at this rate for stream.html",
        metavar="F",
    )
    ca_file: str | None = setting(
        None, parse_path, "CA certificates to verify an FTPS server", metavar="FILE"
    )
    fingerprint: str | None = setting(
        None, parse_fingerprint, "pin an FTPS server's certificate by its SHA-256", metavar="SHA256"
    )
    active: bool = setting(False, parse_bool, "active-mode FTP (the default is passive)")
    identity: str | None = setting(None, parse_path, "SSH private key for sftp://", metavar="FILE")
    upload_password: str | None = setting(
        None, parse_optional_text, "FTP password (or use CAMCAST_UPLOAD_PASSWORD or ~/.netrc)", secret=True
    )

    # Per-output overrides from the config file's [serve] and [publish] tables (not a setting itself).
    sections: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={"internal": True})

    @classmethod
    def settings(cls) -> list[dataclasses.Field[Any]]:
        return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]

    def for_output(self, name: str) -> Config:
        """This configuration as the ``serve`` or ``publish`` output sees it (its table's overrides)."""
        return dataclasses.replace(self, **self.sections.get(name, {}))

    def to_toml(self) -> str:
        """The configuration as a TOML document that :func:`load` reads back; secrets masked."""
        lines = []
        for f in self.settings():
            value = getattr(self, f.name)
            show = f.metadata["show"]
            if value is None:
                lines.append(f"# {f.name} = (not set)")
            elif f.metadata["secret"]:
                lines.append(f'{f.name} = "********"')
            elif f.metadata["multiple"]:
                lines.append(f"{f.name} = [{', '.join(show(v) for v in value)}]")
            else:
                lines.append(f"{f.name} = {show(value)}")
        fields = {f.name: f for f in self.settings()}
        for table, overrides in self.sections.items():
            lines += ["", f"[{table}]"]
            for key, value in overrides.items():
                shown = "" if value is None else fields[key].metadata["show"](value)
                lines.append(f"{key} = {shown}" if shown else f'{key} = ""')
        return "\n".join(lines) + "\n"


#: Tables of the config file that override settings for one output, and the settings they may set:
#: what is drawn on the picture (a caption on published pictures but not the live stream, say).
OUTPUT_TABLES = ("serve", "publish")
OUTPUT_KEYS = (
    "text", "text_position", "text_size", "text_color", "text_font", "logo", "logo_position", "logo_width",
    "live_badge",
)  # fmt: skip


def read_file(path: Path, explicit: bool) -> dict[str, Any]:
    """The TOML table in ``path``; a missing file is an error only when it was named explicitly."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc


def load(file_values: Mapping[str, Any], flag_values: Mapping[str, Any], origin: str = "") -> Config:
    """Merge defaults, ``file_values`` and ``flag_values`` (flags win; ``None`` means not given)."""
    fields = {f.name: f for f in Config.settings()}
    tables = {k: v for k, v in file_values.items() if isinstance(v, dict)}
    file_values = {k: v for k, v in file_values.items() if not isinstance(v, dict)}
    unknown = sorted(set(file_values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in {origin or 'the config file'}; known keys: {', '.join(fields)}"
        )
    values: dict[str, Any] = {}
    for name, f in fields.items():
        for where, source in (
            (origin or "config file", file_values),
            ("--" + name.replace("_", "-"), flag_values),
        ):
            if source.get(name) is None:
                continue
            raw = source[name]
            try:
                if f.metadata["multiple"]:
                    items = raw if isinstance(raw, list | tuple) else [raw]
                    values[name] = tuple(f.metadata["parse"](item) for item in items)
                else:
                    values[name] = f.metadata["parse"](raw)
            except ValueError as exc:
                label = where if where.startswith("--") else f"{name} (in {where})"
                raise ConfigError(f"{label} {exc}; got {raw!r}") from None
    sections: dict[str, dict[str, Any]] = {}
    for table, overrides in tables.items():
        if table not in OUTPUT_TABLES:
            raise ConfigError(
                f"unknown table [{table}] in {origin or 'the config file'}; tables: serve, publish"
            )
        for key, raw in overrides.items():
            if key not in OUTPUT_KEYS:
                allowed = ", ".join(OUTPUT_KEYS)
                raise ConfigError(f"[{table}] {key} cannot differ per output; a table may set: {allowed}")
            if flag_values.get(key) is not None:
                continue  # a flag is meant for every output
            try:
                sections.setdefault(table, {})[key] = fields[key].metadata["parse"](raw)
            except ValueError as exc:
                raise ConfigError(
                    f"[{table}] {key} (in {origin or 'config file'}) {exc}; got {raw!r}"
                ) from None
    return Config(**values, sections=sections)
