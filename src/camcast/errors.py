"""Errors camcast reports to its user, and how each one ends the program.

The tree::

    CamcastError            anything camcast explains in one line (exit 1)
    ├── ConfigError         a bad flag, config key or value; names the key and what is allowed (exit 2)
    ├── SourceError         a camera, file or URL that cannot be opened or read (exit 2)
    ├── ServeError          the server cannot start, e.g. its port is taken (exit 2)
    └── UploadError         a remote store failed a transfer (exit 2 when it stops start-up;
        │                   while publishing, failed uploads are retried instead)
        ├── UploadRefused   the server answered no (permissions, a full disk, a bad path): trying the
        │                   same thing again on a new connection would fail the same way
        └── UploadLost      the connection failed (reset, timeout, closed): a new connection may work

Foreign exceptions (``OSError``, ``av.FFmpegError``, ``ftplib.all_errors``, asyncssh's) are translated
into these at one boundary per module, with ``raise ... from exc`` so the cause stays in debug logs.
The CLI prints ``camcast: <message>`` and exits with ``exit_code``; it never shows a traceback.

A :class:`ConfigError` about one setting carries its ``key`` (and the camera, when the setting is a
camera's) instead of naming a flag: only the CLI knows which flag, or which config table, the value
came from, and it says so.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable

_MENTION = re.compile(r"\x00([a-z_]+)\x00")


def mention(key: str) -> str:
    """A setting named inside an error message: the CLI shows it as its flag for the command at hand
    (``--ca-file``), or as the config key."""
    return f"\x00{key}\x00"


def suggest(wrong: str, known: Iterable[str], what: str) -> str:
    """For a message about a mistyped name: ``did you mean 'quality'?`` when one of ``known`` is close
    to ``wrong``, else ``WHAT: a, b, c``."""
    names = list(known)
    close = difflib.get_close_matches(wrong, names, n=1, cutoff=0.75)
    return f"did you mean {close[0]!r}?" if close else f"{what}: {', '.join(names)}"


def default_flag(key: str) -> str:
    return "--" + key.replace("_", "-")


class CamcastError(Exception):
    """An error with a message meant for the user; ``exit_code`` is the process exit status."""

    exit_code = 1

    def render(self, flag: Callable[[str], str] = default_flag) -> str:
        """The message, with every :func:`mention` of a setting shown by ``flag(key)``."""
        return _MENTION.sub(lambda m: flag(m.group(1)), Exception.__str__(self))

    def __str__(self) -> str:
        return self.render()


class ConfigError(CamcastError):
    """A flag, config key or value is invalid; the message names it and the allowed values.

    With ``key``, the message is about that setting's value and does not name it: the CLI puts the
    flag or the config table in front (``--logo x.png: no such file``). ``camera`` names the camera
    whose setting it is.
    """

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None, camera: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.camera = camera

    def render(self, flag: Callable[[str], str] = default_flag) -> str:
        message = _MENTION.sub(lambda m: flag(m.group(1)), self.message)
        return message if self.key is None else f"{flag(self.key)} {message}"


class SourceError(CamcastError):
    """A video source cannot be opened or read. ``hint`` is advice for someone typing a command
    (``try --source pattern``): the message ends with it, :attr:`detail` is the message without it."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(f"{message} ({hint})" if hint else message)
        self.detail = message


class ServeError(CamcastError):
    """The HTTP server cannot start (port in use, address not available, TLS files unreadable)."""

    exit_code = 2


class UploadError(CamcastError):
    """A remote store refused, timed out or lost a transfer."""

    exit_code = 2


class UploadRefused(UploadError):
    """The remote server refused the operation; a new connection would not help."""


class UploadLost(UploadError):
    """The connection to the remote server failed; a new connection may succeed."""
