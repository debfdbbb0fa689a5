"""Changes to the config file from the owner's page, made the way a careful person edits it.

Each value is checked by its setting's own parser (the one the file and the flags go through) and
written back as TOML with tomlkit, so the owner's comments, order and layout stay where they were.
The whole new file is then loaded as a start-up would load it; only if that succeeds is it written,
atomically. A value the parser refuses is an error on that setting, and the file is not touched.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, Item, Table

from camcast.config import (
    ALIASES,
    CAMERA_FIELDS,
    SERVER_FIELDS,
    TABLE_OF,
    Config,
    load,
    read_file,
)
from camcast.config.parse import parse_control
from camcast.config.settings import CONTROLS_TABLE
from camcast.errors import CamcastError, ConfigError
from camcast.security.files import private_dir, write_atomic

#: Where the server-wide settings are, in errors keyed by setting.
SERVER = ""
#: How an edit names a camera's V4L2 control: ``controls.brightness`` is ``brightness`` in [controls].
CONTROL = CONTROLS_TABLE + "."


@dataclass(frozen=True)
class ConfigFile:
    """The config file a command runs from, and the flags that win over it (``None``: not given)."""

    path: Path
    explicit: bool = False
    flags: Mapping[str, Any] = field(default_factory=dict)
    select: tuple[str, ...] = ()

    def load(self, values: Mapping[str, Any] | None = None) -> Config:
        """The configuration from the file as it is now (or from ``values``, a parsed file), with the
        flags over it."""
        if values is None:
            values = read_file(self.path, self.explicit)
        return load(values, self.flags, origin=str(self.path), select=self.select)

    def flagged(self) -> frozenset[str]:
        """The settings given as flags: the file's value of these does not apply."""
        return frozenset(key for key, value in self.flags.items() if value is not None)

    def text(self) -> str:
        """The file's text; empty when there is no file yet."""
        try:
            return self.path.read_text("utf-8")
        except FileNotFoundError:
            if self.explicit:
                raise ConfigError(f"config file {self.path} does not exist") from None
            return ""
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {self.path}: {exc}") from exc

    def write(self, text: str, private: bool = False) -> bool:
        """Replace the file with ``text`` atomically (a symbolic link's target, so the link stays),
        keeping its mode, or 0600 when ``private`` (it holds a password) or new; returns whether the
        mode was made private."""
        target = self.path.resolve()
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o600
            private_dir(target.parent)
        tightened = private and mode & 0o077 != 0
        write_atomic(target, text.encode("utf-8"), mode=0o600 if tightened else mode, error=ConfigError)
        return tightened


class FieldErrors(CamcastError):
    """Values refused, by ``(camera, setting)`` (camera :data:`SERVER` for server-wide settings,
    setting ``""`` for what concerns the file as a whole)."""

    def __init__(self, errors: Mapping[tuple[str, str], str]) -> None:
        super().__init__("; ".join(f"{key or 'the file'}: {text}" for (_, key), text in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class Edit:
    """Set ``key`` of ``camera`` (None: a server-wide setting) to ``value``: text as a flag takes
    it, a bool, or a list of texts for a repeatable setting. ``None`` or ``""`` removes the key, so
    its default (or the value every camera inherits) applies again. ``controls.NAME`` is a V4L2
    control in the camera's [controls] table."""

    camera: str | None
    key: str
    value: str | bool | list[str] | None


def form_value(f: dataclasses.Field[Any], value: Any) -> str | bool | list[str] | None:
    """A setting's value as the page's form shows it: what a person would type back (``None`` for a
    secret, which is never shown)."""
    if f.metadata["secret"]:
        return None
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    show = f.metadata["show"]
    if f.metadata["multiple"]:
        return [_plain(show(v)) for v in value]
    shown = _plain(show(value))
    return shlex.join(shown) if isinstance(shown, list) else shown


def _plain(literal: str) -> Any:
    """A TOML literal as text: ``"1280x720"`` -> ``1280x720``, ``[0.1, 0.2]`` -> ``0.1,0.2``."""
    value = tomllib.loads(f"v = {literal}")["v"]
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return ",".join(f"{v:g}" for v in value)
    if isinstance(value, list) and all(isinstance(v, list) for v in value):
        return " ".join(",".join(f"{n:g}" for n in point) for point in value)
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _item(f: dataclasses.Field[Any], value: Any) -> Item | None:
    """The TOML item for ``value`` checked by the setting's parser; None when it means "not set"."""
    parse, show = f.metadata["parse"], f.metadata["show"]
    if value is None or value == "" or value == []:
        return None
    if f.metadata["multiple"]:
        lines = value if isinstance(value, list) else str(value).splitlines()
        parsed = [parse(line) for line in lines if str(line).strip()]
        if not parsed:
            return None
        literal = "[" + ", ".join(show(v) for v in parsed) + "]"
    else:
        one = parse(value)
        if one is None or one == ():
            return None
        literal = show(one)
    item: Item = tomlkit.parse(f"v = {literal}\n")["v"]  # with its line end, as a line of the file
    return item


def _table(doc: Container | Table, path: Sequence[str]) -> Container | Table:
    """The table at ``path`` in ``doc``, made (after a blank line) when it is not there."""
    here: Container | Table = doc
    for name in path:
        if name not in here:
            if isinstance(here, tomlkit.TOMLDocument) and here.as_string().strip():
                here.add(tomlkit.nl())
            here.add(name, tomlkit.table(is_super_table=name == "cameras"))
        found = here[name]
        if not isinstance(found, Table | Container):
            raise ConfigError(f"{'.'.join(path)} in the config file is not a table")
        here = found
    return here


def _add(table: Container | Table, key: str, item: Item) -> None:
    """A new key right after the table's last key: before the blank line and comments that lead into the
    next table, not after them."""
    container = table.value if isinstance(table, Table) else table
    body = container.body
    keys = [i for i, (k, v) in enumerate(body) if k is not None and not isinstance(v, Table | AoT)]
    if not keys or keys[-1] == len(body) - 1:
        container.append(key, item)
    else:
        container._insert_at(keys[-1] + 1, key, item)  # tomlkit's one way to insert at a place


def _control_item(name: str, value: str | bool | list[str] | None) -> Item | None:
    """A V4L2 control's value as the [controls] table holds it (a number, true/false or a menu item's
    name), checked for form by the file's own parser; whether the camera takes it is checked when the
    new configuration is applied."""
    if value is None or value == "":
        return None
    if isinstance(value, list):
        raise ValueError("must be a whole number, true or false, or a menu item's name")
    raw: int | bool | str = value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        raw = int(value)
    item: Item = tomlkit.item(parse_control(name, raw))
    return item


def _place(config: Config, edit: Edit) -> tuple[list[str], str]:
    """Where in the file ``edit``'s key lives: the path of its table, and its name there."""
    if edit.camera is None:
        return [], edit.key
    path = ["cameras", edit.camera] if config.tables else []
    if edit.key.startswith(CONTROL):
        return [*path, CONTROLS_TABLE], edit.key.removeprefix(CONTROL)
    table, inner = TABLE_OF.get(edit.key, ("", edit.key))
    return ([*path, table] if table else path), inner


def _existing(doc: tomlkit.TOMLDocument, path: Sequence[str]) -> Container | Table | None:
    """The table at ``path`` if the file has it (a key being removed makes no table)."""
    here: Container | Table = doc
    for name in path:
        found = here.get(name)
        if not isinstance(found, Table | Container):
            return None
        here = found
    return here


def apply_edits(text: str, config: Config, edits: Sequence[Edit]) -> str:
    """``text`` (the config file) with ``edits`` made; raises :class:`FieldErrors` naming each value
    its parser refuses, or a key that is not a setting, and changes nothing then."""
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise FieldErrors({(SERVER, ""): f"the config file is not valid TOML: {exc}"}) from None
    errors: dict[tuple[str, str], str] = {}
    names = {c.id for c in config.cameras}
    for edit in edits:
        where = (edit.camera or SERVER, edit.key)
        fields = SERVER_FIELDS if edit.camera is None else CAMERA_FIELDS
        if edit.camera is not None and edit.camera not in names:
            errors[where] = f"no camera named {edit.camera!r}"
            continue
        try:
            if edit.key.startswith(CONTROL) and edit.camera is not None:
                item = _control_item(edit.key.removeprefix(CONTROL), edit.value)
            elif edit.key in fields:
                item = _item(fields[edit.key], edit.value)
            else:
                errors[where] = "is not a setting"
                continue
        except ValueError as exc:
            errors[where] = str(exc)
            continue
        path, key = _place(config, edit)
        table = _table(doc, path) if item is not None else _existing(doc, path)
        if table is None:
            continue  # removing a key from a table the file does not have: nothing to do
        for alias, name in ALIASES.items():
            if name == key and alias in table:
                del table[alias]
        if item is None:
            if key in table:
                del table[key]
        elif key in table:
            old = table[key]
            if isinstance(old, Item) and old.trivia.comment:
                item.trivia.comment_ws, item.trivia.comment = old.trivia.comment_ws, old.trivia.comment
            table[key] = item
        else:
            _add(table, key, item)
    if errors:
        raise FieldErrors(errors)
    return doc.as_string()


def checked(file: ConfigFile, text: str) -> Config:
    """The configuration ``text`` makes with the flags, loaded as at start-up; :class:`FieldErrors`
    with the loader's one-line reason (on its setting when it names one) otherwise."""
    try:
        return file.load(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise FieldErrors({(SERVER, ""): f"not valid TOML: {exc}"}) from None
    except ConfigError as exc:
        camera = exc.camera or SERVER
        raise FieldErrors({(camera, exc.key or ""): exc.render(lambda key: key)}) from None


def describe_path(path: Path) -> str:
    """The file's path as the page shows it (``~`` for the home folder)."""
    home = os.path.expanduser("~")
    text = str(path)
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + "/") else text
