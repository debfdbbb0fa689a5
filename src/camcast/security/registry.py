"""A small file shared by the command line and the server (the accounts, the share links and their
key, the scraper's token), held in memory.

A command reads it afresh at each use: a ``stat``, and the file again only when it changed. The server
marks its registries ``cached``: then a request reads memory only, never the disk, and the server's
watcher (:meth:`camcast.security.gate.Gate.watch`) calls :meth:`Registry.refresh` every
:data:`~camcast.security.gate.REFRESH_EVERY` seconds in its worker thread, so a change made from a
terminal (``camcast users remove``, ``camcast share --revoke``) reaches the server within a second.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from camcast.errors import ConfigError
from camcast.security.files import stamp, write_private

T = TypeVar("T")

_UNREAD = (-1, -1, -1)  # a stamp no file has: the first use reads the file


class Registry(Generic[T]):
    """The contents of ``path`` as ``parse`` makes them of its bytes (``empty`` when there is no file).
    ``parse`` raising OSError, ValueError, KeyError or TypeError marks the file damaged: :meth:`get`
    then raises ConfigError naming it, until the file is mended."""

    def __init__(self, path: Path, parse: Callable[[bytes], T], empty: T) -> None:
        self.path = path
        self.cached = False  # the server's: only refresh() reads the file
        self.generation = 0  # counts the changes seen, for those who keep what they derived from it
        self._parse = parse
        self._empty = empty
        self._stamp: tuple[int, int, int] | None = _UNREAD
        self._value = empty
        self._error: str | None = None

    def get(self, fresh: bool = False) -> T:
        """The contents (read now unless ``cached``, or ``fresh``: what a change is made to, so that a
        command's change made since is kept); ConfigError when the file is damaged."""
        if fresh or not self.cached:
            self.refresh()
        if self._error is not None:
            raise ConfigError(self._error)
        return self._value

    def refresh(self) -> bool:
        """Read the file again if it changed (blocking); returns whether it had. A file that cannot even
        be looked at (its folder's permissions) is damaged, as one that cannot be read."""
        try:
            current = stamp(self.path)
        except OSError as exc:
            self._error = f"cannot look at {self.path}: {exc.strerror or exc}; fix its folder's permissions"
            return False
        if current == self._stamp:
            return False
        try:
            value = self._empty if current is None else self._parse(self.path.read_bytes())
            error = None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            value, error = self._empty, f"{self.path} is unreadable or damaged ({exc}); fix or remove it"
        self._stamp, self._value, self._error = current, value, error
        self.generation += 1
        return True

    def write(self, data: bytes, value: T) -> None:
        """Replace the file with ``data`` (atomically, mode 0600), which ``value`` holds (blocking)."""
        write_private(self.path, data)
        self._stamp, self._value, self._error = stamp(self.path), value, None
        self.generation += 1
