"""A camera's microphone: opened only when the owner turns audio on, closed while the shutter is.

One capture per camera, read in a thread of its own (FFmpeg's ALSA input, through PyAV: 48 kHz mono,
16-bit). It keeps the sound's level (RMS over each period, in dBFS) for the owner's status and
``/metrics``, hands each period to the camera's :class:`~camcast.audio.sound.Sound` (``deliver``),
stamped with the monotonic clock pictures are stamped with, and says whether it listens: ``on`` while it
captures, ``silenced`` while the privacy shutter is closed (the device is closed then, not muted),
``unavailable`` while the device cannot be opened (unplugged, busy: one warning, tried again every
:data:`RETRY` seconds, and a line when it works again; an unplugged card is seen in ``/proc/asound``
before ALSA is asked), ``off`` once stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from camcast.errors import ConfigError
from camcast.frames import RATE, Chunk, dbfs
from camcast.runtime.health import HEALTH
from camcast.sources.alsa import camera_microphone, find_microphones

#: Seconds between attempts to open a microphone that is not there: soon at first, then every 30 s.
RETRY = (2.0, 5.0, 10.0, 30.0)
#: Where Debian keeps ALSA's configuration. The ALSA library in PyAV's wheels looks for it where it was
#: built (/tmp/vendor/...), and without it knows no device name but the numbered ``hw:N,M``.
SYSTEM_ALSA_CONFIG = Path("/usr/share/alsa/alsa.conf")
#: How much of the gap between a period's counted time and when it was read is taken in per period:
#: the sound card's clock and the monotonic clock drift apart by parts per million (tens of ms an
#: hour), which this follows, while a period read late by the scheduler moves the stamps by 1/50 of it.
FOLLOW = 0.02
#: Seconds the counted time may stray from the reads before it is set from them anew (an overrun).
RESYNC = 0.1


class MicrophoneCapture:
    """Capture from ALSA ``device`` for camera ``camera`` while :meth:`run` runs; ``paused`` says
    whether the camera's shutter is closed."""

    def __init__(self, camera: str, device: str, paused: Callable[[], bool]) -> None:
        self.camera = camera
        self.device = device
        self.paused = paused
        self.state = "off"
        self.level: float | None = None  # dBFS of the newest period, None before the first
        self.samples = 0  # captured since the start
        #: Called with each period (on the event loop), by :class:`~camcast.audio.sound.Sound`.
        self.deliver: Callable[[Chunk], None] = lambda chunk: None

    @property
    def part(self) -> str:
        """What its failures are listed as (:data:`HEALTH`)."""
        return f"{self.camera}: microphone"

    async def run(self) -> None:
        """Capture until cancelled (in a thread; cancelling closes the device). Each run has a stop of
        its own, so a run started again never revives the thread of the one before."""
        stop = threading.Event()
        loop = asyncio.get_running_loop()

        def deliver(chunk: Chunk) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens any more
                loop.call_soon_threadsafe(self.deliver, chunk)

        try:
            await asyncio.shield(asyncio.to_thread(self._capture, stop, deliver))
        finally:
            stop.set()
            HEALTH.forget(self.part)

    def _capture(self, stop: threading.Event, deliver: Callable[[Chunk], None]) -> None:
        failures = 0
        while not stop.is_set():
            if self.paused():
                self.state, self.level = "silenced", None
                stop.wait(0.2)
                continue
            try:
                if not card_present(self.device):  # asked of the kernel: ALSA would print each attempt
                    raise OSError("no such sound card now (unplugged?)")
                container = av.open(
                    self.device, format="alsa", options={"sample_rate": str(RATE), "channels": "1"}
                )
            except (av.FFmpegError, OSError) as exc:
                failures = self._failed(exc, failures, stop)
                continue
            try:
                self._listen(container, stop, deliver)
                failures = 0
            except (av.FFmpegError, OSError) as exc:  # unplugged while capturing
                failures = self._failed(exc, failures, stop)
            finally:
                container.close()
        self.state, self.level = "off", None

    def _failed(self, exc: Exception, failures: int, stop: threading.Event) -> int:
        """The microphone could not be read: say so once (:data:`HEALTH`), wait, and count."""
        self.state, self.level = "unavailable", None
        HEALTH.failed(self.part, f"{self.device}: {exc}; trying again, every {RETRY[-1]:g} s at most")
        stop.wait(RETRY[min(failures, len(RETRY) - 1)])
        return failures + 1

    def _listen(
        self, container: av.container.InputContainer, stop: threading.Event, deliver: Callable[[Chunk], None]
    ) -> None:
        """Read periods until stopped or the shutter closes; a device that ends by itself is an OSError.

        A period's time is its first sample's: counted on from the first period's (the sound card's
        clock is steadier than when a thread gets to read), following the reads by :data:`FOLLOW`.
        """
        origin: float | None = None  # the monotonic time of the first sample counted from
        counted = 0
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray().reshape(-1).astype(np.int16, copy=False)
            read = time.monotonic() - len(samples) / RATE  # the period just ended: its first sample
            if origin is None or abs(read - (origin + counted / RATE)) > RESYNC:
                origin, counted = read, 0
            else:
                origin += (read - (origin + counted / RATE)) * FOLLOW
            deliver(Chunk(samples, origin + counted / RATE))
            counted += len(samples)
            if self.state != "on":
                self.state = "on"
                HEALTH.worked(self.part)
            self.samples += len(samples)
            self.level = dbfs(samples)
            if stop.is_set() or self.paused():
                return
        raise OSError("the microphone stopped sending")


def use_system_config() -> None:
    """Point the ALSA library at the system's configuration (see :data:`SYSTEM_ALSA_CONFIG`), unless
    the environment already names one."""
    if "ALSA_CONFIG_PATH" not in os.environ and SYSTEM_ALSA_CONFIG.is_file():
        os.environ["ALSA_CONFIG_PATH"] = str(SYSTEM_ALSA_CONFIG)


def card_present(device: str, proc: str = "/proc") -> bool:
    """Whether the sound card ``device`` names (``hw:CARD=ID,...``, ``hw:N,...``) is there now; True
    for names that say no card (``default``): ALSA finds those."""
    match = re.match(r"(?:plug)?hw:(?:CARD=)?([^,]+)", device)
    if match is None:
        return True
    card = match[1]
    return (Path(proc) / "asound" / (f"card{card}" if card.isdigit() else card)).exists()


def microphone_for(
    camera: str, audio: str, device: str | None, where: str, paused: Callable[[], bool]
) -> MicrophoneCapture | None:
    """The capture of the microphone a camera's ``audio`` setting names: None for ``off``; for ``auto``
    the one on the same USB device as the camera's V4L2 ``device`` (``where`` names the camera in the
    ConfigError when it has none); else the ALSA device named."""
    if audio == "off":
        return None
    if audio == "auto":
        found = camera_microphone(device, find_microphones()) if device is not None else None
        if found is None:
            raise ConfigError(
                f'audio = "auto": {where} has no microphone of its own; name a microphone as '
                'audio = "hw:CARD=...,DEV=..." (camcast sources lists them), or set audio = "off"',
                camera=camera,
            )
        audio = found.device
    use_system_config()  # once, at the start, before any capture thread opens a device
    return MicrophoneCapture(camera, audio, paused)
