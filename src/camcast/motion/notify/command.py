"""A command run at each event's start and end: an argv list (no shell), with the event in
``CAMCAST_*`` environment variables, a time limit, and its output in camcast's log. One runs at a
time per camera; events waiting meanwhile stay in a bounded outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from camcast.motion.events import Event
from camcast.motion.notify.outbox import Outbox

log = logging.getLogger(__name__)

#: Seconds a command may run before it is killed.
TIME_LIMIT = 30.0
#: Lines of a command's output copied to the log (the rest is counted).
OUTPUT_LINES = 20


def environment(kind: str, event: Event, pictures: Path) -> dict[str, str]:
    """The variables a command gets (besides camcast's own environment)."""
    doc = event.to_json()
    return {
        "CAMCAST_EVENT": kind,
        "CAMCAST_CAMERA": event.camera,
        "CAMCAST_EVENT_ID": event.id,
        "CAMCAST_START": str(doc["start"]),
        "CAMCAST_END": str(doc["end"] or ""),
        "CAMCAST_PEAK": str(doc["peak"]),
        "CAMCAST_PICTURE": str(pictures / event.picture) if event.picture else "",
    }


class Command:
    """Runs ``argv()`` (read at the time of running: a reload may change it) for each event."""

    kind = "command"

    def __init__(
        self, name: str, argv: Callable[[], Sequence[str]], pictures: Path, time_limit: float = TIME_LIMIT
    ) -> None:
        self.name = name
        self.argv = argv
        self.pictures = pictures
        self.time_limit = time_limit
        self.outbox: Outbox[tuple[str, Event]] = Outbox(f"{name}: command")

    def tell(self, kind: str, event: Event) -> None:
        if self.argv():
            self.outbox.put((kind, event))

    async def run(self) -> None:
        while True:
            kind, event = await self.outbox.get()
            argv = list(self.argv())
            if argv:
                await self._run(argv, environment(kind, event, self.pictures))

    async def _run(self, argv: list[str], env: dict[str, str]) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, env={**os.environ, **env}, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        except (OSError, ValueError) as exc:  # not found, not executable, a NUL in an argument
            log.warning("%s: cannot run %s: %s", self.name, argv[0], getattr(exc, "strerror", None) or exc)
            return
        assert process.stdout is not None
        try:
            async with asyncio.timeout(self.time_limit):
                await self._copy_output(process.stdout, argv[0])
                code = await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            await process.wait()
            log.warning("%s: %s ran past %g s and was stopped", self.name, argv[0], self.time_limit)
            return
        if code != 0:
            log.warning("%s: %s exited with status %d", self.name, argv[0], code)

    async def _copy_output(self, stream: asyncio.StreamReader, program: str) -> None:
        lines = 0
        async for raw in stream:
            lines += 1
            if lines <= OUTPUT_LINES:
                log.info("%s: %s: %s", self.name, program, raw.decode(errors="replace").rstrip()[:300])
        if lines > OUTPUT_LINES:
            log.info("%s: %s: (%d more lines)", self.name, program, lines - OUTPUT_LINES)
