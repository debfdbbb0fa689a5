"""A camera's microphone: opened only when the owner turns audio on, closed while the shutter is.

One capture per camera, read in a thread of its own (FFmpeg's ALSA input, through PyAV: 48 kHz mono,
16-bit). It keeps the sound's level (RMS over each period, in dBFS) for the owner's status and
``/metrics``, and says whether it listens: ``on`` while it captures, ``silenced`` while the privacy
shutter is closed (the device is closed then, not muted), ``unavailable`` while the device cannot be
opened (unplugged, busy: one warning, tried again every :data:`RETRY` seconds, and a line when it
works again; an unplugged card is seen in ``/proc/asound`` before ALSA is asked), ``off`` once
stopped.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from camcast.errors import ConfigError
from camcast.runtime.health import HEALTH
from camcast.sources.alsa import camera_microphone, find_microphones

#: What the microphone is opened at: what Opus takes as it is, one channel (a webcam's own).
RATE = 48_000
#: Seconds between attempts to open a microphone that is not there: soon at first, then every 30 s.
RETRY = (2.0, 5.0, 10.0, 30.0)
#: Where Debian keeps ALSA's configuration. The ALSA library in PyAV's wheels looks for it where it was
#: built (/tmp/vendor/...), and without it knows no device name but the numbered ``hw:N,M``.
SYSTEM_ALSA_CONFIG = Path("/usr/share/alsa/alsa.conf")
#: The quietest level shown, in dBFS (digital silence has no level).
FLOOR = -96.0


def dbfs(samples: np.ndarray) -> float:
    """The RMS level of 16-bit ``samples`` in dB below full scale (a full-scale sine reads -3)."""
    if samples.size == 0:
        return FLOOR
    rms = math.sqrt(float(np.mean(np.square(samples.astype(np.float64))))) / 32768.0
    return max(FLOOR, 20 * math.log10(rms)) if rms > 0 else FLOOR


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

    @property
    def part(self) -> str:
        """What its failures are listed as (:data:`HEALTH`)."""
        return f"{self.camera}: microphone"

    async def run(self) -> None:
        """Capture until cancelled (in a thread; cancelling closes the device). Each run has a stop of
        its own, so a run started again never revives the thread of the one before."""
        stop = threading.Event()
        try:
            await asyncio.shield(asyncio.to_thread(self._capture, stop))
        finally:
            stop.set()
            HEALTH.forget(self.part)

    def _capture(self, stop: threading.Event) -> None:
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
                self._listen(container, stop)
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

    def _listen(self, container: av.container.InputContainer, stop: threading.Event) -> None:
        """Read periods until stopped or the shutter closes; a device that ends by itself is an OSError."""
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray()
            if self.state != "on":
                self.state = "on"
                HEALTH.worked(self.part)
            self.samples += samples.shape[-1]
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
