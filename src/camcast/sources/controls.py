"""A V4L2 camera's controls (brightness, contrast, gain, exposure, ...): listed with their ranges, and
set by name, checked against the range first.

Names are v4l2-ctl's (``brightness``, ``white_balance_automatic``): the driver's name in lower case,
with every run of other characters made one ``_``, so a name read from ``v4l2-ctl --list-ctrls`` works
here and back. Integer, boolean and menu controls are offered (a menu by its number or its item's
name); buttons, strings and arrays are not. Reading goes through linuxpy's ioctl helpers; anything
the device or the library raises is a one-line :class:`~camcast.errors.SourceError` naming the device.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from camcast.errors import ConfigError, SourceError, suggest

#: The kinds of control camcast sets: V4L2's control types INTEGER (1), BOOLEAN (2), MENU (3),
#: INTEGER_MENU (9).
_KINDS = {1: "int", 2: "bool", 3: "menu", 9: "menu"}
#: V4L2 control flags: disabled (0x1), read-only (0x4), inactive (0x10), write-only (0x40), has a
#: payload (0x100: strings, arrays, compound values).
_DISABLED, _READ_ONLY, _INACTIVE, _WRITE_ONLY, _PAYLOAD = 0x1, 0x4, 0x10, 0x40, 0x100
Value = int | bool | str
_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


@dataclass(frozen=True)
class Control:
    """One control: its v4l2-ctl name, kind (int, bool, menu), range and step, default and value
    (None for a write-only control), the menu's items by number, and whether it may be set now."""

    name: str
    kind: str
    minimum: int
    maximum: int
    step: int
    default: int
    value: int | None
    menu: Mapping[int, str]
    read_only: bool = False
    inactive: bool = False  # settable, but without effect until another control changes (auto off)

    def describe(self) -> str:
        """One line: ``brightness (int) 0..255 step 1, default 128: 128``."""
        if self.kind == "bool":
            span = "on/off"
        elif self.kind == "menu":
            span = ", ".join(f"{k}={v}" for k, v in self.menu.items())
        else:
            span = f"{self.minimum}..{self.maximum}" + (f" step {self.step}" if self.step > 1 else "")
        state = " (read-only)" if self.read_only else " (inactive)" if self.inactive else ""
        value = "?" if self.value is None else self.value  # a camera that would not say
        return f"{self.name} ({self.kind}) {span}, default {self.default}: {value}{state}"

    def coerce(self, value: Value) -> int:
        """``value`` as the number to set, or ConfigError saying what this control takes."""
        if self.kind == "bool":
            if isinstance(value, str) and value.lower() in _ON + _OFF:
                return int(value.lower() in _ON)
            if isinstance(value, bool) or value in (0, 1):
                return int(value)
            raise ConfigError(f"control {self.name} is on or off (true/false, 1/0), not {value!r}")
        if self.kind == "menu" and isinstance(value, str) and not _is_int(value):
            by_name = {v.lower(): k for k, v in self.menu.items()}
            if value.lower() in by_name:
                return by_name[value.lower()]
            raise ConfigError(f"control {self.name} takes {self._items()}")
        if isinstance(value, bool) or not (isinstance(value, int) or _is_int(str(value))):
            raise ConfigError(
                f"control {self.name} takes a whole number "
                f"from {self.minimum} to {self.maximum}, not {value!r}"
            )
        number = int(value)
        if self.kind == "menu" and number not in self.menu:
            raise ConfigError(f"control {self.name} takes {self._items()}")
        off_step = self.step > 1 and (number - self.minimum) % self.step
        if not self.minimum <= number <= self.maximum or off_step:
            step = f" in steps of {self.step}" if self.step > 1 else ""
            raise ConfigError(
                f"control {self.name} takes {self.minimum} to {self.maximum}{step}, not {number}"
            )
        return number

    def _items(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.menu.items())


def _is_int(text: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", text.strip()) is not None


def control_name(driver_name: str) -> str:
    """v4l2-ctl's name for a control: ``White Balance, Automatic`` -> ``white_balance_automatic``."""
    return re.sub(r"[^a-z0-9]+", "_", driver_name.lower()).strip("_")


@contextlib.contextmanager
def _device(path: str) -> Iterator[object]:
    """The device open for control ioctls; every failure a SourceError naming it."""
    try:
        from linuxpy.video.device import Device
    except ImportError as exc:  # linuxpy is Linux-only
        raise SourceError(f"cannot read V4L2 controls here: {exc}") from exc
    try:
        with Device(path) as dev:
            yield dev
    except (SourceError, ConfigError):
        raise
    except Exception as exc:  # the device or linuxpy: a one-line error, never a traceback
        raise SourceError(f"cannot read the controls of {path}: {type(exc).__name__}: {exc}") from exc


def _read(dev: object) -> list[tuple[Control, object]]:
    from linuxpy.video import device as v4l2

    found = []
    for info in v4l2.iter_read_controls(dev):
        kind = _KINDS.get(int(info.type))
        if kind is None or info.flags & (_DISABLED | _PAYLOAD):
            continue
        menu: dict[int, str] = {}
        if kind == "menu":
            for item in v4l2.iter_read(
                dev, v4l2.IOC.QUERYMENU, _menu_query(info.id), start=info.minimum, stop=info.maximum + 1,
                step=max(int(info.step), 1), ignore_einval=True,
            ):  # fmt: skip
                label = item.name.decode(errors="replace") if int(info.type) == 3 else str(item.value)
                menu[int(item.index)] = label
        value = None
        if not info.flags & _WRITE_ONLY:
            try:
                value = int(v4l2.get_controls_values(dev, (info,))[0])
            except OSError:  # some UVC cameras refuse to read one control (EIO) while the rest answer
                value = None
        control = Control(
            control_name(info.name.decode(errors="replace")), kind, int(info.minimum), int(info.maximum),
            int(info.step), int(info.default_value), value, menu,
            read_only=bool(info.flags & _READ_ONLY), inactive=bool(info.flags & _INACTIVE),
        )  # fmt: skip
        found.append((control, info))
    return found


def _menu_query(control_id: int) -> object:
    from linuxpy.video import raw

    query = raw.v4l2_querymenu()
    query.id = control_id
    return query


def list_controls(path: str) -> list[Control]:
    """Every control of the camera at ``path`` that camcast can set, with its current value."""
    with _device(path) as dev:
        return [control for control, _ in _read(dev)]


def set_controls(path: str, values: Mapping[str, Value], check_only: bool = False) -> list[Control]:
    """Set ``values`` (by v4l2-ctl name) on the camera at ``path``, all checked before any is set;
    returns the controls as they are afterwards. An unknown name or a value out of range is a
    ConfigError listing what is valid. ``check_only``: check them, set nothing."""
    with _device(path) as dev:
        controls = {control.name: (control, info) for control, info in _read(dev)}
        plan = []
        for name, value in values.items():
            if name not in controls:
                raise ConfigError(
                    f"{path} has no control {name!r}; {suggest(name, sorted(controls), 'it has')}"
                )
            control, info = controls[name]
            if control.read_only:
                raise ConfigError(f"control {name} of {path} is read-only")
            plan.append((info, control.coerce(value)))
        if plan and not check_only:
            from linuxpy.video import device as v4l2

            # One at a time, in the order given: turning an automatic mode off first makes the manual
            # value after it take effect.
            for info, number in plan:
                v4l2.set_controls_values(dev, ((info, number),))
        return [control for control, _ in _read(dev)]
