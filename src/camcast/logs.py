"""Logging for the command: levels by -v/-q, and the noise of libraries kept out of the owner's log."""

from __future__ import annotations

import logging


class _DropClientErrors(logging.Filter):
    """aiohttp logs every malformed request with a traceback at ERROR; that is the client's mistake, not
    the server's, and anyone could flood the log with it. Server-side failures are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, HttpProcessingError)


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
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
