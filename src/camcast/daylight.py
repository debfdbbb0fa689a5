"""Daylight, and when a timelapse takes pictures: its window, for a day. Pure: dates and times in, times out.

A window is ``"all day"``, two clock times (``"07:00..19:00"``, local time, seconds allowed), or sunrise
and sunset with offsets (``"sunrise-30m..sunset+30m"``) for the camera's ``location``, computed with
astral (no network). Where the sun neither rises nor sets that day (inside a polar circle) the window
is the whole day (the sun is up: a polar day) or empty (a polar night), and :attr:`Span.note` says so.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from astral import Observer
from astral.sun import elevation, noon, sunrise, sunset

#: What a window may be, for the error message of one that is not.
WINDOWS = '"all day", two times such as "07:00..19:00", or "sunrise-30m..sunset+30m"'
_UNITS = {"s": 1, "m": 60, "h": 3600}
_OFFSET = re.compile(r"^(sunrise|sunset)(?:([+-])(\d+(?:\.\d+)?)([smh]))?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


@dataclass(frozen=True)
class Edge:
    """One end of a window: a clock time (seconds after midnight), or the sun's event with an offset."""

    sun: str | None  # "sunrise" or "sunset", or None for a clock time
    seconds: float  # after midnight for a clock time; the offset (signed) for the sun's

    def show(self) -> str:
        if self.sun is None:
            whole = int(self.seconds)
            clock = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}"
            return clock + (f":{whole % 60:02d}" if whole % 60 else "")
        if not self.seconds:
            return self.sun
        sign = "+" if self.seconds > 0 else "-"
        size = abs(self.seconds)
        unit = next((u for u in ("h", "m") if size % _UNITS[u] == 0), "s")
        return f"{self.sun}{sign}{size / _UNITS[unit]:g}{unit}"


@dataclass(frozen=True)
class Window:
    """A timelapse's window: ``None`` ends mean all day."""

    start: Edge | None = None
    end: Edge | None = None

    @property
    def needs_sun(self) -> bool:
        return any(e is not None and e.sun is not None for e in (self.start, self.end))

    def show(self) -> str:
        if self.start is None or self.end is None:
            return "all day"
        return f"{self.start.show()}..{self.end.show()}"


#: The window of every hour of the day.
ALL_DAY = Window()


@dataclass(frozen=True)
class Span:
    """A day's window in time: from ``start`` to ``end`` (aware datetimes), or empty (``start`` None);
    ``note`` says why, where the sun made it so."""

    day: datetime.date
    start: datetime.datetime | None
    end: datetime.datetime | None
    note: str = ""

    def holds(self, moment: datetime.datetime) -> bool:
        return self.start is not None and self.end is not None and self.start <= moment < self.end


def parse_window(value: object) -> Window:
    """A window as written in the config; ValueError says what it may be."""
    text = str(value).strip().lower()
    if text in ("all day", "allday", "all-day", ""):
        return Window()
    parts = text.split("..")
    if len(parts) != 2:
        raise ValueError(f"must be {WINDOWS}")
    start, end = (_edge(p.strip()) for p in parts)
    if start.sun is None and end.sun is None and end.seconds <= start.seconds:
        raise ValueError("must end after it starts (a window never spans midnight)")
    return Window(start, end)


def _edge(text: str) -> Edge:
    if match := _CLOCK.match(text):
        hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
        if hours > 24 or minutes > 59 or seconds > 59 or (hours == 24 and (minutes or seconds)):
            raise ValueError(f"{text!r} is not a time of day")
        return Edge(None, hours * 3600 + minutes * 60 + seconds)
    if match := _OFFSET.match(text):
        offset = float(match[3] or 0) * _UNITS[match[4] or "s"] * (-1 if match[2] == "-" else 1)
        if abs(offset) > 6 * 3600:
            raise ValueError(f"{text!r}: an offset from the sun is at most 6 hours")
        return Edge(match[1], offset)
    raise ValueError(f"{text!r} is not a time: the window must be {WINDOWS}")


def parse_location(value: object) -> tuple[float, float] | None:
    """``"LAT,LON"`` in degrees (north and east positive), or empty for none."""
    text = str(value).strip()
    if not text:
        return None
    try:
        lat, lon = (float(p) for p in text.split(","))
    except ValueError:
        raise ValueError('must be "LATITUDE,LONGITUDE" in degrees, such as "48.85,2.35"') from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("latitude must be from -90 to 90 and longitude from -180 to 180")
    return lat, lon


def span(window: Window, day: datetime.date, location: tuple[float, float] | None,
         tz: datetime.tzinfo | None = None) -> Span:  # fmt: skip
    """``window`` on ``day``, in time zone ``tz`` (a fixed one), or else the system's local time (its
    daylight saving time included)."""
    midnight, following = _at(day, 0, tz), _at(day, 86400, tz)
    if window.start is None or window.end is None:
        return Span(day, midnight, following)
    sun: dict[str, datetime.datetime] = {}
    if window.needs_sun:
        if location is None:
            raise ValueError("a window from the sun needs the camera's location")
        observer = Observer(*location)
        zone = _at(day, 43200, tz).tzinfo or datetime.UTC  # the day's offset from UTC, at noon
        try:
            sun = {"sunrise": sunrise(observer, day, zone), "sunset": sunset(observer, day, zone)}
        except ValueError:  # astral: the sun does not cross the horizon that day
            if elevation(observer, noon(observer, day, zone)) > 0:
                return Span(day, midnight, following, "the sun never sets that day: all day")
            return Span(day, None, None, "the sun never rises that day: no pictures")

    def at(edge: Edge) -> datetime.datetime:
        if edge.sun is None:
            return _at(day, edge.seconds, tz)
        return sun[edge.sun] + datetime.timedelta(seconds=edge.seconds)

    start, end = max(at(window.start), midnight), min(at(window.end), following)
    if end <= start:
        return Span(day, None, None, "the window is empty that day")
    return Span(day, start, end)


def _at(day: datetime.date, seconds: float, tz: datetime.tzinfo | None) -> datetime.datetime:
    """The clock time ``seconds`` after midnight on ``day`` (86400: the next midnight), aware."""
    if seconds >= 86400:
        day, seconds = day + datetime.timedelta(days=1), seconds - 86400
    whole = int(seconds)
    clock = datetime.time(whole // 3600, whole % 3600 // 60, whole % 60)
    naive = datetime.datetime.combine(day, clock)
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
