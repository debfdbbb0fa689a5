"""What goes when a limit is reached: oldest first, never a file being written. Pure: the recordings
and the limits in, the ones to delete out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from camcast.record.clip import Recording


@dataclass(frozen=True)
class Limits:
    """One camera's: ``max_days`` and ``max_size`` (None: no such limit); the disk's ``min_free``."""

    max_days: float | None
    max_size: int | None
    min_free: int


def to_delete(
    recordings: Sequence[Recording],
    limits: Mapping[str, Limits],
    now: float,
    free: int,
    writing: frozenset[str] = frozenset(),
) -> tuple[list[Recording], bool]:
    """The recordings to delete (oldest first) so that each camera's are within its age and size, and
    the disk has its free space; and whether the disk is still short after that (then recording must
    stop). ``writing`` names files being written, which are never deleted."""
    done = [r for r in sorted(recordings, key=lambda r: r.start) if r.name not in writing]
    gone: list[Recording] = []
    for camera, limit in limits.items():
        own = [r for r in done if r.camera == camera]
        total = sum(r.bytes for r in recordings if r.camera == camera)
        for r in own:
            too_old = limit.max_days is not None and r.end < now - limit.max_days * 86400
            too_big = limit.max_size is not None and total > limit.max_size
            if not (too_old or too_big):
                break
            gone.append(r)
            total -= r.bytes
    floor = max((limit.min_free for limit in limits.values()), default=0)
    free += sum(r.bytes for r in gone)
    for r in done:
        if free >= floor:
            break
        if r not in gone:
            gone.append(r)
            free += r.bytes
    return gone, free < floor
