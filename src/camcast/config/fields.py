"""How a setting is declared: :func:`setting` makes a dataclass field carrying its parser, help and
how it is shown as TOML; :func:`fields_of` finds them again."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from typing import Any

from camcast.config.parse import Parser
from camcast.net import bracket
from camcast.picture.geometry import Crop


def quote(text: str) -> str:
    """``text`` as a TOML basic string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def show_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return quote(str(value))


def setting(
    default: Any,
    parse: Parser,
    help: str,
    *,
    metavar: str = "",
    secret: bool = False,
    multiple: bool = False,
    drawing: bool = False,
    show: Callable[[Any], str] = show_default,
    table: str = "",
    restart: bool = False,
) -> Any:
    """A settings field. ``multiple`` settings are lists (a repeatable flag, a TOML array); a ``bool``
    default makes a ``--name/--no-name`` flag; ``drawing`` settings may differ per output (the config
    file's ``[serve]`` and ``[publish]`` tables); ``show`` renders a value as TOML; a ``table`` setting
    is written in that table of the file (``[motion]``: ``motion_sensitivity`` is its ``sensitivity``);
    a ``restart`` setting changes only when camcast starts (where it listens, the source, the encoding,
    a connection made once): a reload keeps its running value and names it in one warning line, and
    the settings page marks it. This is the one place that says so."""
    meta = {
        "parse": parse,
        "help": help,
        "metavar": metavar,
        "secret": secret,
        "multiple": multiple,
        "drawing": drawing,
        "show": show,
        "table": table,
        "restart": restart,
    }
    if multiple:
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


def show_size(value: tuple[int, int]) -> str:
    return f'"{value[0]}x{value[1]}"'


def show_crop(c: Crop) -> str:
    return f'"{c.x},{c.y},{c.w},{c.h}"'


def show_listen(value: tuple[str, int]) -> str:
    return f'"{bracket(value[0])}:{value[1]}"'


def show_color(c: tuple[int, int, int]) -> str:
    return f'"#{c[0]:02x}{c[1]:02x}{c[2]:02x}"'


def fields_of(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The declared settings of a settings class, by key."""
    return {f.name: f for f in dataclasses.fields(cls) if "parse" in f.metadata}


def show_bytes(value: int | None) -> str:
    """A size as TOML: ``"20G"`` when it is a whole number of a unit."""
    if value is None:
        return '""'
    for unit, size in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if value % size == 0:
            return f'"{value // size}{unit}"'
    return str(value)


def restart_keys(cls: type) -> tuple[str, ...]:
    """The settings of ``cls`` that change only with a restart (declared with ``restart=True``)."""
    return tuple(key for key, f in fields_of(cls).items() if f.metadata["restart"])


def waiting(old: Any, new: Any) -> list[str]:
    """The restart-only settings whose value in ``new`` differs from the running ``old``."""
    return [key for key in restart_keys(type(old)) if getattr(new, key) != getattr(old, key)]


def running(old: Any, new: Any) -> Any:
    """``new`` with the running value of every restart-only setting kept from ``old``: what a reload
    applies (the next reload compares with it again)."""
    return dataclasses.replace(new, **{key: getattr(old, key) for key in restart_keys(type(old))})
