"""The one way a new configuration comes in while camcast runs: SIGHUP (the file as it is now) and the
settings page (the file with the owner's edits) both load it as a start-up would and apply it through
the same function, one at a time (:mod:`camcast.reload` says what applies at once).

Restart-only settings (declared on the setting: :func:`camcast.config.fields.setting`) keep their
running values here, in one place, before any part sees the new configuration."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from camcast.config import Config
from camcast.config.edit import SERVER, ConfigFile, Edit, FieldErrors, apply_edits, checked
from camcast.config.fields import fields_of, running, waiting
from camcast.errors import CamcastError, ConfigError

log = logging.getLogger("camcast")


class Reloader:
    """The one way a new configuration comes in: SIGHUP (the file as it is now) and the owner's page
    (the file with their edits) both load it as a start-up would, and apply it with ``apply``, one at
    a time. ``config`` is the configuration that runs (restart-only settings at the values camcast
    started with); ``loaded`` the file's as last applied, which the settings page shows."""

    def __init__(
        self, file: ConfigFile, config: Config, apply: Callable[[Config], Awaitable[list[str]]]
    ) -> None:
        self.file = file
        self.config = config
        self.loaded = config
        self.applied_at = time.time()  # when ``config`` was applied (Unix time)
        #: The last reload that changed nothing: when (Unix time), and why, until one applies.
        self.refused: tuple[float, str] | None = None
        #: What the file asks for that waits for a restart, as of the last reload that applied.
        self.waiting: list[str] = []
        self._apply = apply
        self._lock = asyncio.Lock()

    async def reload(self) -> list[str]:
        """Load the file and apply it; returns the settings that wait for a restart. Raises
        CamcastError (ConfigError) when it does not load: the running configuration stays."""
        async with self._lock:
            try:
                config = await asyncio.to_thread(self.file.load)
                return await self._applied(config)
            except CamcastError as exc:
                self.refused = (time.time(), str(exc))
                raise

    async def save(self, edits: Sequence[Edit]) -> Saved:
        """Make ``edits`` to the file, check the result as a start-up would, write it atomically (mode
        0600 once it holds a password) and apply it; returns what waits for a restart. Raises
        :class:`FieldErrors` and leaves the file as it was when a value is refused (or the camera
        refuses the new controls)."""
        async with self._lock:
            before = await asyncio.to_thread(self.file.text)
            text = apply_edits(before, self.loaded, edits)
            config = await asyncio.to_thread(checked, self.file, text)
            private = await asyncio.to_thread(self.file.write, text, holds_secret(config))
            try:
                restart = await self._applied(config)
            except ConfigError as exc:  # a part refused, or a camera refused its new controls
                await asyncio.to_thread(self.file.write, before)
                self.refused = (time.time(), str(exc))
                raise FieldErrors({(exc.camera or SERVER, exc.key or ""): exc.message}) from None
            except CamcastError as exc:  # a camera that did not answer
                await asyncio.to_thread(self.file.write, before)
                self.refused = (time.time(), str(exc))
                raise FieldErrors({(SERVER, ""): str(exc)}) from None
            log.warning("configuration changed on the settings page")
            if private:
                log.warning(
                    "%s holds a password now: made readable by this user alone (0600)", self.file.path
                )
            return Saved(restart, private)

    async def _applied(self, config: Config) -> list[str]:
        effective, restart = settle(self.config, config)
        restart += await self._apply(effective)
        self.config, self.loaded, self.applied_at, self.refused = effective, config, time.time(), None
        self.waiting = restart
        return restart

    def describe(self) -> dict[str, object]:
        """For the owner's status: when the running configuration was applied, what waits for a
        restart, and the last reload refused since (when, why)."""
        refused = None if self.refused is None else {"at": self.refused[0], "why": self.refused[1]}
        return {"applied": self.applied_at, "waiting": self.waiting, "refused": refused}


@dataclass(frozen=True)
class Saved:
    """A save from the settings page: what waits for a restart, and whether the file was made private
    (0600) because it now holds a password."""

    restart: list[str]
    private: bool = False


def holds_secret(config: Config) -> bool:
    """Whether any secret setting (a password, a key) has a value in ``config``."""
    return any(
        getattr(part, key)
        for part in (config.server, *config.cameras)
        for key, f in fields_of(type(part)).items()
        if f.metadata["secret"]
    )


def settle(now: Config, new: Config) -> tuple[Config, list[str]]:
    """``new`` as it can apply while ``now`` runs: every restart-only setting at its running value, and
    the cameras that run (a camera added or removed waits for a restart); with the names of what
    waits."""
    restart = waiting(now.server, new.server)
    by_id = {c.id: c for c in new.cameras}
    if set(by_id) != {c.id for c in now.cameras}:
        restart.append("the set of cameras")
    cameras = []
    for camera in now.cameras:
        wanted = by_id.get(camera.id, camera)
        restart += [f"{camera.id}: {key}" for key in waiting(camera, wanted)]
        cameras.append(running(camera, wanted))
    return dataclasses.replace(new, server=running(now.server, new.server), cameras=tuple(cameras)), restart
