"""Times as camcast writes and reads them: one home for each format.

- :func:`iso`: ISO 8601 in local time with the zone's offset, to the millisecond (events, sidecars);
- :func:`parse_time`: its reader, which also takes Unix seconds (``--since``, ``?since=``);
- :func:`stamp`: ``YYYYMMDD-HHMMSS-mmm`` in local time, in file names and event ids (sorts as time does);
- :func:`shown`: ``YYYY-MM-DD HH:MM:SS`` for people (lists, the settings page);
- :func:`parse_duration_between`: ``10s``, ``5m``, ``1h`` or seconds (the timelapse's settings).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable


def iso(when: float) -> str:
    """``when`` (Unix seconds) in local time, ISO 8601 with the zone's offset, to the millisecond."""
    return datetime.datetime.fromtimestamp(when).astimezone().isoformat(timespec="milliseconds")


def parse_time(text: str | float) -> float:
    """Unix seconds from ISO 8601 (a time without a zone is local) or from a number."""
    if isinstance(text, int | float):
        return float(text)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 (2026-12-01T13:30:00+01:00) or Unix seconds"
        ) from None
    return (moment if moment.tzinfo else moment.astimezone()).timestamp()


def stamp(when: float) -> str:
    """``when`` as ``YYYYMMDD-HHMMSS-mmm`` in local time."""
    moment = datetime.datetime.fromtimestamp(when)
    return f"{moment:%Y%m%d-%H%M%S}-{moment.microsecond // 1000:03d}"


def shown(when: object, missing: str = "") -> str:
    """``when`` (Unix seconds) as ``YYYY-MM-DD HH:MM:SS`` in local time; ``missing`` when it is not a
    number."""
    if not isinstance(when, int | float) or isinstance(when, bool):
        return missing
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def parse_duration_between(low: float, high: float) -> Callable[[object], float]:
    """A duration from ``low`` to ``high`` seconds: a number of seconds, or ``10s``, ``5m``, ``2h``."""

    def parse(value: object) -> float:
        text = str(value).strip().lower()
        factor = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], 0)
        try:
            number = float(text[:-1] if factor else text) * (factor or 1)
        except ValueError:
            number = float("nan")
        if isinstance(value, bool) or not low <= number <= high:
            raise ValueError(f"must be a duration such as 10s, 5m or 1h, from {low:g} to {high:g} seconds")
        return number

    return parse
