"""Configuration: the settings of the server and of each camera, from defaults, a TOML file and flags.

The file (``--config FILE``, by default ``$XDG_CONFIG_HOME/camcast/camcast.toml``) holds server-wide
keys and camera keys at the top level; ``[cameras.NAME]`` tables describe several cameras, each
inheriting the top-level camera keys. ``[serve]`` and ``[publish]`` tables (at the top level, for every
camera, or inside a camera's table) change what one output draws. Flags win over the file, for every
camera. A ``[controls]`` table (at the top level, for every camera, or a camera's own) sets a V4L2
camera's controls by name. A ``[motion]`` table (the same three places) holds the motion
settings, ``sensitivity`` for ``motion_sensitivity`` and ``enabled`` for ``motion``. Every value is
validated by its setting's parser (:mod:`camcast.config.settings`), and a bad one raises
:class:`ConfigError` naming the key, the table and the file.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camcast.config.fields import fields_of, quote
from camcast.config.parse import device_path, parse_camera_name, parse_control
from camcast.config.settings import (
    CONTROLS_TABLE,
    DRAWING_KEYS,
    OUTPUT_TABLES,
    TABLED,
    CameraSettings,
    ServerSettings,
)
from camcast.errors import ConfigError, suggest

__all__ = ["TABLED", "CameraSettings", "Config", "ServerSettings", "load", "read_file"]

SERVER_FIELDS = fields_of(ServerSettings)
CAMERA_FIELDS = fields_of(CameraSettings)
#: Camera settings written at a table's top level (the others are in TABLED's tables).
FLAT_FIELDS = {k: f for k, f in CAMERA_FIELDS.items() if not f.metadata["table"]}
#: Where each tabled setting lives: {setting: (table, key)}.
TABLE_OF = {name: (table, key) for table, keys in TABLED.items() for key, name in keys.items()}
#: Old names still read from config files.
ALIASES = {"to": "publish_to"}
#: The name of the one camera when the file has no [cameras] tables.
DEFAULT_CAMERA = "camera"


@dataclass(frozen=True)
class Config:
    """The effective configuration: the server's settings and the cameras, in the file's order."""

    server: ServerSettings = field(default_factory=ServerSettings)
    cameras: tuple[CameraSettings, ...] = (CameraSettings(),)
    #: Whether the cameras come from [cameras] tables (then `camcast config` prints them as tables).
    tables: bool = False

    def camera(self, name: str) -> CameraSettings:
        for camera in self.cameras:
            if camera.id == name:
                return camera
        raise ConfigError(
            f"no camera named {name!r}; {suggest(name, [c.id for c in self.cameras], 'cameras')}"
        )

    def to_toml(self) -> str:
        """The configuration as a TOML document that :func:`load` reads back; secrets masked."""
        lines = _values(self.server, SERVER_FIELDS)
        if not self.tables:
            camera = self.cameras[0]
            lines += _values(camera, FLAT_FIELDS)
            lines += _output_tables(camera, "")
            lines += _tables(camera, "")
            lines += _controls_table(camera, "")
            return "\n".join(lines) + "\n"
        for camera in self.cameras:
            lines += ["", f"[cameras.{camera.id}]"]
            lines += _values(camera, FLAT_FIELDS)
            lines += _output_tables(camera, f"cameras.{camera.id}.")
            lines += _tables(camera, f"cameras.{camera.id}.")
            lines += _controls_table(camera, f"cameras.{camera.id}.")
        return "\n".join(lines) + "\n"


def _show(f: dataclasses.Field[Any], value: Any) -> str:
    show = f.metadata["show"]
    if f.metadata["secret"]:
        return '"********"'
    if f.metadata["multiple"]:
        return f"[{', '.join(show(v) for v in value)}]"
    return str(show(value))


def _values(settings: object, fields: Mapping[str, dataclasses.Field[Any]]) -> list[str]:
    lines = []
    for name, f in fields.items():
        value = getattr(settings, name)
        line = f"# {name} = (not set)" if value is None else f"{name} = {_show(f, value)}"
        if name == "fps" and isinstance(settings, CameraSettings) and settings.plays_at_own_rate:
            line += "  # not used: a video file plays at its own rate"
        lines.append(line)
    return lines


def _output_tables(camera: CameraSettings, prefix: str) -> list[str]:
    lines = []
    for table, overrides in camera.outputs.items():
        lines += ["", f"[{prefix}{table}]"]
        for key, value in overrides.items():
            lines.append(f'{key} = ""' if value is None else f"{key} = {_show(CAMERA_FIELDS[key], value)}")
    return lines


def _tables(camera: CameraSettings, prefix: str) -> list[str]:
    """The settings kept in tables of their own ([motion]), under their keys there."""
    lines = []
    for table, keys in TABLED.items():
        lines += ["", f"[{prefix}{table}]"]
        shown = _values(camera, {name: CAMERA_FIELDS[name] for name in keys.values()})
        by_name = dict(zip(keys.values(), keys, strict=True))
        for line in shown:
            for name, key in by_name.items():
                for lead in (f"{name} = ", f"# {name} = "):
                    if line.startswith(lead):
                        line = line.replace(name, key, 1)
                        break
                else:
                    continue
                break
            lines.append(line)
    return lines


def _tabled(table: Mapping[str, Any], where: str, prefix: str) -> dict[str, Any]:
    """The settings of the tables of their own ([motion]) in ``table``, parsed, by setting name."""
    values: dict[str, Any] = {}
    for name, keys in TABLED.items():
        own = table.get(name)
        if own is None:
            continue
        for key, raw in own.items():
            if key not in keys:
                known = suggest(key, keys, "known keys")
                raise ConfigError(f"unknown key {key!r} in [{prefix}{name}] (in {where}); {known}")
            try:
                values[keys[key]] = _parse(CAMERA_FIELDS[keys[key]], raw)
            except ValueError as exc:
                raise ConfigError(f"[{prefix}{name}] {key} (in {where}) {exc}; got {raw!r}") from None
    return values


def _controls_table(camera: CameraSettings, prefix: str) -> list[str]:
    if not camera.controls:
        return []
    lines = ["", f"[{prefix}{CONTROLS_TABLE}]"]
    for name, value in camera.controls:
        if isinstance(value, bool):
            shown = "true" if value else "false"
        else:
            shown = quote(value) if isinstance(value, str) else str(value)
        lines.append(f"{name} = {shown}")
    return lines


def _controls(table: Mapping[str, Any], where: str, prefix: str, inherited: dict[str, Any]) -> dict[str, Any]:
    """A camera's controls: the [controls] table in ``table`` over ``inherited``, names and values
    checked for form (whether the camera has them is known when it is opened)."""
    controls = dict(inherited)
    for name, raw in (table.get(CONTROLS_TABLE) or {}).items():
        try:
            controls[name] = parse_control(name, raw)
        except ValueError as exc:
            raise ConfigError(f"[{prefix}{CONTROLS_TABLE}] {name} (in {where}) {exc}; got {raw!r}") from None
    return controls


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


def _parse(f: dataclasses.Field[Any], raw: Any) -> Any:
    if f.metadata["multiple"]:
        items = raw if isinstance(raw, list | tuple) else [raw]
        return tuple(f.metadata["parse"](item) for item in items)
    return f.metadata["parse"](raw)


def _from_file(
    table: Mapping[str, Any], fields: Mapping[str, dataclasses.Field[Any]], where: str
) -> dict[str, Any]:
    """The values of ``table``'s keys that are in ``fields``, parsed; ``where`` names the table."""
    values = {}
    for key, raw in table.items():
        if key in fields and not isinstance(raw, dict):
            try:
                values[key] = _parse(fields[key], raw)
            except ValueError as exc:
                raise ConfigError(f"{key} (in {where}) {exc}; got {raw!r}") from None
    return values


def _from_flags(flags: Mapping[str, Any], fields: Mapping[str, dataclasses.Field[Any]]) -> dict[str, Any]:
    values = {}
    for key, f in fields.items():
        raw = flags.get(key)
        if raw is None:
            continue
        try:
            values[key] = _parse(f, raw)
        except ValueError as exc:
            raise ConfigError(f"{exc}; got {raw!r}", key=key) from None
    return values


def _check_keys(table: Mapping[str, Any], where: str, *, camera: bool) -> None:
    """Unknown keys, and server-wide keys inside a camera's table, are errors naming the table."""
    tables = (*OUTPUT_TABLES, CONTROLS_TABLE, *TABLED) + (() if camera else ("cameras",))
    for key, value in table.items():
        if isinstance(value, dict):
            if key not in tables:
                raise ConfigError(f"unknown table [{key}] in {where}; {suggest(key, tables, 'tables')}")
            continue
        if key in TABLE_OF:
            name, inner = TABLE_OF[key]
            raise ConfigError(f"{key} (in {where}) belongs in a [{name}] table, as {inner} = ...")
        if key in CAMERA_FIELDS or (key in SERVER_FIELDS and not camera):
            continue
        if key in SERVER_FIELDS:
            raise ConfigError(f"{key} (in {where}) is server-wide: set it at the top level of the file")
        known = [*FLAT_FIELDS] if camera else [*SERVER_FIELDS, *FLAT_FIELDS]
        raise ConfigError(f"unknown key {key!r} in {where}; {suggest(key, known, 'known keys')}")


def _outputs(
    table: Mapping[str, Any], where: str, prefix: str, inherited: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per-output drawing from the [serve] and [publish] tables in ``table``, over ``inherited``."""
    outputs = {name: dict(values) for name, values in inherited.items()}
    for name in OUTPUT_TABLES:
        overrides = table.get(name)
        if overrides is None:
            continue
        for key, raw in overrides.items():
            if key not in DRAWING_KEYS:
                raise ConfigError(
                    f"[{prefix}{name}] {key} cannot differ per output; a table may set: "
                    f"{', '.join(DRAWING_KEYS)}"
                )
            try:
                outputs.setdefault(name, {})[key] = CAMERA_FIELDS[key].metadata["parse"](raw)
            except ValueError as exc:
                raise ConfigError(f"[{prefix}{name}] {key} (in {where}) {exc}; got {raw!r}") from None
    return outputs


def _renamed(table: Mapping[str, Any]) -> dict[str, Any]:
    return {ALIASES.get(k, k): v for k, v in table.items()}


def load(
    file_values: Mapping[str, Any],
    flag_values: Mapping[str, Any],
    origin: str = "",
    select: Sequence[str] = (),
) -> Config:
    """Merge defaults, ``file_values`` and ``flag_values`` (flags win; ``None`` means not given).

    ``select`` names the cameras to keep (all when empty). A ``source`` flag with no selection
    describes one camera and leaves the file's [cameras] tables out.
    """
    where = origin or "the config file"
    top = _renamed(file_values)
    _check_keys(top, where, camera=False)
    server = ServerSettings(
        **{**_from_file(top, SERVER_FIELDS, where), **_from_flags(flag_values, SERVER_FIELDS)}
    )
    defaults = {**_from_file(top, CAMERA_FIELDS, where), **_tabled(top, where, "")}
    flags = _from_flags(flag_values, CAMERA_FIELDS)
    outputs = _outputs(top, where, "", {})
    controls = _controls(top, where, "", {})
    tables: dict[str, Any] = top.get("cameras", {})
    use_tables = bool(tables) and not ("source" in flags and not select)
    if not use_tables:
        if select and list(select) != [DEFAULT_CAMERA]:
            raise ConfigError(f"no camera named {select[0]!r}: {where} has no [cameras] tables")
        camera = _camera(DEFAULT_CAMERA, defaults, flags, outputs, controls)
        return Config(server, (camera,), tables=False)
    cameras = []
    seen: dict[str, str] = {}
    for name, table in tables.items():
        label = f"[cameras.{name}]"
        if not isinstance(table, dict):
            raise ConfigError(f"cameras.{name} (in {where}) must be a table: [cameras.{name}]")
        try:
            parse_camera_name(name)
        except ValueError as exc:
            raise ConfigError(f"{label} (in {where}): a camera name {exc}") from None
        if name.lower() in seen:
            raise ConfigError(f"{label} and [cameras.{seen[name.lower()]}] (in {where}) are the same name")
        seen[name.lower()] = name
        table = _renamed(table)
        _check_keys(table, f"{label} in {where}", camera=True)
        own = {
            **_from_file(table, CAMERA_FIELDS, f"{label} in {where}"),
            **_tabled(table, where, f"cameras.{name}."),
        }
        cameras.append(
            _camera(
                name, {**defaults, **own}, flags, _outputs(table, where, f"cameras.{name}.", outputs),
                _controls(table, where, f"cameras.{name}.", controls),
            )
        )  # fmt: skip
    if select:
        names = {c.id: c for c in cameras}
        for name in select:
            if name not in names:
                raise ConfigError(f"no camera named {name!r} in {where}; {suggest(name, names, 'cameras')}")
        cameras = [names[name] for name in dict.fromkeys(select)]
    _check_devices(cameras, where)
    return Config(server, tuple(cameras), tables=True)


def _camera(
    name: str,
    values: dict[str, Any],
    flags: dict[str, Any],
    outputs: dict[str, dict[str, Any]],
    controls: dict[str, Any],
) -> CameraSettings:
    # A flag is meant for every output: it replaces what the [serve]/[publish] tables say.
    outputs = {out: {k: v for k, v in table.items() if k not in flags} for out, table in outputs.items()}
    merged = {**values, **flags}
    window = merged.get("timelapse_window")
    if window is not None and window.needs_sun and merged.get("timelapse_location") is None:
        raise ConfigError(
            f"a timelapse window from the sun ({window.show()}) needs the camera's location, such as "
            'location = "48.85,2.35"', key="timelapse_location", camera=name,
        )  # fmt: skip
    return CameraSettings(
        **merged, id=name, outputs={k: v for k, v in outputs.items() if v},
        controls=tuple(controls.items()),
    )  # fmt: skip


def _check_devices(cameras: Sequence[CameraSettings], where: str) -> None:
    """A camera device can be opened by one camera only: two tables naming one is a mistake."""
    users: dict[str, str] = {}
    for camera in cameras:
        device = device_path(camera.source)
        if device is None:
            continue
        if device in users:
            raise ConfigError(
                f"[cameras.{users[device]}] and [cameras.{camera.id}] (in {where}) both use {device}; "
                "a camera device can be opened by one of them only"
            )
        users[device] = camera.id
