"""The one way a new configuration comes in while camcast runs: SIGHUP (the file as it is now) and the
settings page (the file with the owner's edits) both load it as a start-up would and apply it through
the same function, one at a time (:mod:`camcast.reload` says what applies at once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from camcast.config import Config
from camcast.config.edit import SERVER, ConfigFile, Edit, FieldErrors, apply_edits, checked
from camcast.errors import CamcastError, ConfigError

log = logging.getLogger("camcast")


class Reloader:
    """The one way a new configuration comes in: SIGHUP (the file as it is now) and the owner's page
    (the file with their edits) both load it as a start-up would, and apply it with ``apply``, one at
    a time. ``config`` is the configuration last applied."""

    def __init__(
        self, file: ConfigFile, config: Config, apply: Callable[[Config], Awaitable[list[str]]]
    ) -> None:
        self.file = file
        self.config = config
        self._apply = apply
        self._lock = asyncio.Lock()

    async def reload(self) -> list[str]:
        """Load the file and apply it; returns the settings that wait for a restart. Raises
        CamcastError (ConfigError) when it does not load: the running configuration stays."""
        async with self._lock:
            config = await asyncio.to_thread(self.file.load)
            return await self._applied(config)

    async def save(self, edits: Sequence[Edit]) -> list[str]:
        """Make ``edits`` to the file, check the result as a start-up would, write it atomically and
        apply it; returns the settings that wait for a restart. Raises :class:`FieldErrors` and leaves
        the file as it was when a value is refused (or the camera refuses the new controls)."""
        async with self._lock:
            before = await asyncio.to_thread(self.file.text)
            text = apply_edits(before, self.config, edits)
            config = await asyncio.to_thread(checked, self.file, text)
            await asyncio.to_thread(self.file.write, text)
            try:
                restart = await self._applied(config)
            except ConfigError as exc:  # a camera refused its new controls
                await asyncio.to_thread(self.file.write, before)
                raise FieldErrors({(exc.camera or SERVER, exc.key or ""): exc.message}) from None
            except CamcastError as exc:  # a camera that did not answer
                await asyncio.to_thread(self.file.write, before)
                raise FieldErrors({(SERVER, ""): str(exc)}) from None
            log.warning("configuration changed on the settings page")
            return restart

    async def _applied(self, config: Config) -> list[str]:
        restart = await self._apply(config)
        self.config = config
        return restart
