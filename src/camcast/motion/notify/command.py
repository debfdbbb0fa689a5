"""A command run at each event's start and end: an argv list (no shell), with the event in
``CAMCAST_*`` environment variables and nothing of camcast's secrets, a time limit, and its output in
camcast's log. One runs at a time per camera; events waiting meanwhile stay in a bounded outbox. The
settings page's Test button runs it through the same :func:`run_command`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from camcast.motion.events import Event
from camcast.motion.notify import NotifyFailed
from camcast.runtime.health import HEALTH
from camcast.runtime.outbox import Outbox

log = logging.getLogger(__name__)

#: Seconds a command may run before it is killed.
TIME_LIMIT = 30.0
#: Lines of a command's output copied to the log (the rest is counted).
OUTPUT_LINES = 20


#: The only variables of camcast's own environment a command is given (besides the event's): never
#: the passwords and keys camcast may have been started with (CAMCAST_*_PASSWORD, AWS_*).
KEPT_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME")


def environment(kind: str, event: Event, pictures: Path) -> dict[str, str]:
    """The whole environment a command runs with: a few of camcast's own (:data:`KEPT_VARIABLES`),
    and the event's ``CAMCAST_*`` variables."""
    doc = event.to_json()
    kept = {name: os.environ[name] for name in KEPT_VARIABLES if name in os.environ}
    return {
        **kept,
        "CAMCAST_EVENT": kind,
        "CAMCAST_CAMERA": event.camera,
        "CAMCAST_EVENT_ID": event.id,
        "CAMCAST_KIND": event.kind,
        "CAMCAST_START": str(doc["start"]),
        "CAMCAST_END": str(doc["end"] or ""),
        "CAMCAST_PEAK": str(doc["peak"]),
        "CAMCAST_PICTURE": str(pictures / event.picture) if event.picture else "",
    }


async def run_command(
    argv: Sequence[str], env: dict[str, str], time_limit: float, said: Callable[[str], None] | None = None
) -> None:
    """Run ``argv`` (no shell) with ``env`` only, for at most ``time_limit`` seconds, each line of its
    output (stdout and stderr together) handed to ``said``. Raises :class:`NotifyFailed` naming what
    went wrong: not found, not executable, an argument the system refuses (a NUL byte), a time-out
    (the whole process group is killed), or a non-zero status (with its last line of output)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        raise NotifyFailed(f"cannot run {argv[0]}: {getattr(exc, 'strerror', None) or exc}") from None
    assert process.stdout is not None
    last = ""
    try:
        async with asyncio.timeout(time_limit):
            async for raw in process.stdout:
                last = raw.decode(errors="replace").rstrip()[:300] or last
                if said is not None:
                    said(last)
            code = await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        await process.wait()
        raise NotifyFailed(f"{argv[0]} ran past {time_limit:g} s and was stopped") from None
    if code != 0:
        raise NotifyFailed(f"{argv[0]} exited with status {code}" + (f": {last[:200]}" if last else ""))


def watch_environment(kind: str, camera: str, viewers: int) -> dict[str, str]:
    """The whole environment of an ``on_watch_command``: :data:`KEPT_VARIABLES` and its three."""
    kept = {name: os.environ[name] for name in KEPT_VARIABLES if name in os.environ}
    return {**kept, "CAMCAST_EVENT": kind, "CAMCAST_CAMERA": camera, "CAMCAST_VIEWERS": str(viewers)}


class WatchCommand:
    """Runs ``argv()`` when camera ``name`` goes from nobody watching to someone (``watched``) and
    back (``unwatched``), one at a time; changes waiting meanwhile stay in a bounded outbox."""

    kind = "watch command"
    #: The camera setting it follows (a reload that changes it ends what failed before).
    setting: str | None = "on_watch_command"

    def __init__(self, name: str, argv: Callable[[], Sequence[str]], time_limit: float = TIME_LIMIT) -> None:
        self.name = name
        self.argv = argv
        self.time_limit = time_limit
        self.watched = False
        self.outbox: Outbox[tuple[str, int]] = Outbox(f"{name}: on_watch_command")

    def watching(self, viewers: int) -> None:
        """The camera's count of viewers is now ``viewers`` (on the event loop)."""
        if (viewers > 0) != self.watched:
            self.watched = viewers > 0
            if self.argv():
                self.outbox.put(("watched" if self.watched else "unwatched", viewers))

    @property
    def part(self) -> str:
        """What its failures are listed as (:data:`HEALTH`)."""
        return f"{self.name}: on_watch_command"

    async def run(self) -> None:
        try:
            while True:
                kind, viewers = await self.outbox.get()
                argv = list(self.argv())
                if not argv:
                    continue
                try:
                    await run_command(argv, watch_environment(kind, self.name, viewers), self.time_limit)
                    HEALTH.worked(self.part)
                except NotifyFailed as exc:
                    HEALTH.failed(self.part, str(exc))
        finally:
            HEALTH.forget(self.part)


class Command:
    """Runs ``argv()`` (read at the time of running: a reload may change it) for each event."""

    kind = "command"
    #: The camera setting it follows (a reload that changes it ends what failed before).
    setting: str | None = "motion_on_event_command"

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

    @property
    def part(self) -> str:
        """What its failures are listed as (:data:`HEALTH`)."""
        return f"{self.name}: command"

    async def run(self) -> None:
        try:
            while True:
                kind, event = await self.outbox.get()
                argv = list(self.argv())
                if argv:
                    await self._run(argv, environment(kind, event, self.pictures))
        finally:
            HEALTH.forget(self.part)

    async def _run(self, argv: list[str], env: dict[str, str]) -> None:
        lines = 0

        def said(line: str) -> None:
            nonlocal lines
            lines += 1
            if lines <= OUTPUT_LINES:
                log.info("%s: %s: %s", self.name, argv[0], line)

        try:
            await run_command(argv, env, self.time_limit, said)
            HEALTH.worked(self.part)
        except NotifyFailed as exc:
            HEALTH.failed(self.part, str(exc))
        if lines > OUTPUT_LINES:
            log.info("%s: %s: (%d more lines)", self.name, argv[0], lines - OUTPUT_LINES)
