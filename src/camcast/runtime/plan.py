"""The runner contract: how a part of camcast takes a new configuration while it runs.

Every part that a reload reaches (each camera, the server's access rules, each publisher, motion,
recording) has ``check(...) -> Plan``: it looks at the new settings, validates them and decides what
would change, building whatever can fail (a logo to load, a crop that must fit) without changing
anything; it refuses with a :class:`~camcast.errors.ConfigError`. Only when every part's check has
passed does :func:`camcast.reload.apply` carry the plans out:

1. ``device`` steps first, in a worker thread: the only commits that can fail (a camera's controls,
   set on the device). If one fails, the ``undo`` of each one done before it runs, newest first.
2. Then every ``commit``, on the event loop: plain assignments that cannot fail.

So a reload applies completely or not at all. A part stops with ``aclose()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def _nothing() -> None:
    return None


@dataclass
class Plan:
    """What one part will change. ``restart``: what it cannot change while running beyond the settings
    declared restart-only (a reason that depends on the running state), each named for the warning."""

    commit: Callable[[], None] = _nothing
    device: Callable[[], None] | None = None  # blocking; may raise CamcastError
    #: Blocking; puts back what ``device`` changed, and says whether it had changed anything.
    undo: Callable[[], bool] = lambda: False
    restart: list[str] = field(default_factory=list)
    part: str = ""  # who makes the plan, in log lines


def together(plans: Sequence[Plan]) -> Plan:
    """Plans without device steps, as one: their commits in order, their restart notes joined."""
    assert all(p.device is None for p in plans), "a device step needs its own undo"
    steps = [p.commit for p in plans]

    def commit() -> None:
        for step in steps:
            step()

    return Plan(commit, restart=[note for p in plans for note in p.restart])
