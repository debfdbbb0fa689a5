"""The status line: one live line on a terminal (rich), or a plain log line every so often when not."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

log = logging.getLogger("camcast")

#: Seconds between status lines when stdout is not a terminal (a terminal gets a live line every second).
LOG_STATUS_EVERY = 30.0
#: How the states in the line are coloured on a terminal.
STYLES = {"[live]": "bold green", "[PAUSED]": "bold yellow", "[OFFLINE]": "bold red", "[DOWN]": "bold red"}


class StatusLine:
    """Shows ``render()``: live on a terminal, else as a log line every LOG_STATUS_EVERY seconds."""

    def __init__(self, render: Callable[[], str], quiet: bool) -> None:
        self.render = render
        self.tty = sys.stdout.isatty() and not quiet
        self.quiet = quiet

    async def run(self) -> None:
        if self.quiet:
            return
        if not self.tty:
            while True:
                await asyncio.sleep(LOG_STATUS_EVERY)
                log.info("%s", self.render())
        from rich.console import Console
        from rich.live import Live

        with (
            Live(self._text(), console=Console(), refresh_per_second=2, transient=True) as live,
            _logs_above(),
        ):
            while True:
                await asyncio.sleep(1.0)
                live.update(self._text())

    def _text(self) -> Text:
        from rich.text import Text

        text = Text(self.render(), no_wrap=True, overflow="ellipsis")
        for word, style in STYLES.items():
            text.highlight_words([word], style)
        return text


@contextlib.contextmanager
def _logs_above() -> Iterator[None]:
    """Point the log handlers at the streams rich redirects while the line is live, so that log lines
    print above the status line instead of through it."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.setStream(sys.stderr) for h in handlers]
    try:
        yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)
