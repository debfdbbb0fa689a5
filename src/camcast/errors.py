"""Errors camcast reports to its user, and how each one ends the program.

The tree::

    CamcastError            anything camcast explains in one line (exit 1)
    ├── ConfigError         a bad flag, config key or value; names the key and what is allowed (exit 2)
    ├── SourceError         a camera, file or URL that cannot be opened or read (exit 2)
    ├── ServeError          the server cannot start, e.g. its port is taken (exit 2)
    └── UploadError         a remote store refused or lost a transfer (exit 2 when it stops start-up;
                            while publishing, failed uploads are retried instead)

Foreign exceptions (``OSError``, ``av.FFmpegError``, ``ftplib.all_errors``, asyncssh's) are translated
into these at one boundary per module, with ``raise ... from exc`` so the cause stays in debug logs.
The CLI prints ``camcast: <message>`` and exits with ``exit_code``; it never shows a traceback.
"""

from __future__ import annotations


class CamcastError(Exception):
    """An error with a message meant for the user; ``exit_code`` is the process exit status."""

    exit_code = 1


class ConfigError(CamcastError):
    """A flag, config key or value is invalid; the message names it and the allowed values."""

    exit_code = 2


class SourceError(CamcastError):
    """A video source cannot be opened or read."""

    exit_code = 2


class ServeError(CamcastError):
    """The HTTP server cannot start (port in use, address not available, TLS files unreadable)."""

    exit_code = 2


class UploadError(CamcastError):
    """A remote store refused, timed out or lost a transfer."""

    exit_code = 2
