"""The status line: one live line on a terminal, or a plain log line every so often when not."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

log = logging.getLogger("camcast")

#: Seconds between status lines when stdout is not a terminal (a terminal gets a live line every second).
LOG_STATUS_EVERY = 30.0


class StatusLine:
    """Shows ``render()``: live on a terminal, else as a log line every LOG_STATUS_EVERY seconds."""

    def __init__(self, render: Callable[[], str], quiet: bool) -> None:
        self.render = render
        self.tty = sys.stdout.isatty() and not quiet
        self.quiet = quiet

    async def run(self) -> None:
        if self.quiet:
            return
        period = 1.0 if self.tty else LOG_STATUS_EVERY
        try:
            while True:
                await asyncio.sleep(period)
                if self.tty:
                    sys.stdout.write("\r\x1b[2K" + self.render())
                    sys.stdout.flush()
                else:
                    log.info("%s", self.render())
        finally:
            if self.tty:
                sys.stdout.write("\n")
