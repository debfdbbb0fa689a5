"""Logging for the command: levels by -v/-q, and the noise of libraries kept out of the owner's log.

A long-running command (``serve``, ``publish``) also keeps a log file (:func:`log_file`): every line
the console shows, with the tracebacks the console leaves out (there a failure is one line, naming
the file). The file is written by a thread of its own, so a slow disk never holds up the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import queue
import sys
from collections.abc import Iterator
from pathlib import Path

from camcast.runtime.health import HEALTH

#: The log file's size before it is rotated (bytes), and how many old ones are kept: a server left
#: running for months keeps at most 4 MB of log, enough for a few hundred tracebacks.
LOG_FILE_BYTES = 1_000_000
LOG_FILE_BACKUPS = 3
#: Lines waiting for the file's thread; past this (a stalled disk) lines are dropped from the file
#: only, never from the console, and never block the loop.
LOG_QUEUE = 10_000
FORMAT = "%(asctime)s %(levelname)s %(message)s"
#: The part a failed write of the log file names (:mod:`camcast.runtime.health`).
LOG_PART = "log file"


class _DropClientErrors(logging.Filter):
    """aiohttp logs every malformed request with a traceback at ERROR; that is the client's mistake, not
    the server's, and anyone could flood the log with it. Server-side failures are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, HttpProcessingError)


class ConsoleFormatter(logging.Formatter):
    """One line a record: a traceback becomes a pointer to the log file (when there is one), unless
    ``-vv`` asked for everything on the console."""

    def __init__(self, full: bool) -> None:
        super().__init__(FORMAT, datefmt="%H:%M:%S")
        self.full = full
        self.file: Path | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self.full or not record.exc_info:
            return super().format(record)
        line = logging.Formatter.format(self, _without_traceback(record))
        return line + (f" (traceback in {self.file})" if self.file is not None else "")


def _without_traceback(record: logging.LogRecord) -> logging.LogRecord:
    brief = logging.makeLogRecord(record.__dict__)
    brief.exc_info = brief.exc_text = brief.stack_info = None
    return brief


_console: ConsoleFormatter | None = None


def setup_logging(verbose: int, quiet: bool) -> None:
    global _console
    level = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    logging.basicConfig(level=level)
    _console = ConsoleFormatter(full=verbose >= 2)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(_console)
    logging.getLogger("aiohttp.server").addFilter(_DropClientErrors())
    if verbose < 2:
        # aioice logs every ICE connectivity check at INFO; the viewer log says who connected.
        for noisy in ("aiohttp.access", "asyncssh", "libav", "aioice", "aiortc", "linuxpy"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        import av.logging

        # FFmpeg's own messages can quote a source URL with its password: only with -vv.
        av.logging.set_level(None if verbose < 2 else av.logging.VERBOSE)
    except ImportError:
        pass


@contextlib.contextmanager
def log_file(path: Path) -> Iterator[None]:
    """While the context is open, also log to ``path`` (mode 0600, rotated), tracebacks included. A
    file that cannot be opened is one warning; logging goes on to the console."""
    from camcast.errors import CamcastError
    from camcast.security.files import private_dir

    try:
        private_dir(path.parent)
        handler = _LogFile(path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8")
        path.chmod(0o600)
    except (OSError, CamcastError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) else str(exc)
        logging.getLogger("camcast").warning("no log file %s: %s", path, detail or exc)
        yield
        return
    handler.setFormatter(logging.Formatter(FORMAT))
    lines: queue.Queue[logging.LogRecord] = queue.Queue(LOG_QUEUE)
    into = _Enqueue(lines)
    listener = logging.handlers.QueueListener(lines, handler)
    root = logging.getLogger()
    root.addHandler(into)
    if _console is not None:
        _console.file = path
    listener.start()
    try:
        yield
    finally:
        root.removeHandler(into)
        if _console is not None:
            _console.file = None
        listener.stop()
        with contextlib.suppress(OSError):  # a full disk: the last lines are lost, nothing else
            handler.close()


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file, on its thread. A line the disk refuses (full) is lost from the file alone, and
    the owner is told once (:data:`~camcast.runtime.health.HEALTH`), not with a traceback on the
    console for each line as logging's own handler would."""

    _failed = False  # the line being written was refused

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)
        if not self._failed:
            HEALTH.worked(LOG_PART)

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed = True
        exc = sys.exc_info()[1]
        detail = exc.strerror if isinstance(exc, OSError) else str(exc)
        HEALTH.failed(LOG_PART, f"cannot write {self.baseFilename}: {detail}; lines are lost from it")


class _Enqueue(logging.handlers.QueueHandler):
    """Hands records to the file's thread; drops them (for the file only) when it has fallen behind."""

    def enqueue(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(record)
