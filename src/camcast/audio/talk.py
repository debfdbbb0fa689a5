"""Talking back: the owner's voice, from the browser's microphone, played on a speaker by the camera.

A :class:`Speaker` is one camera's ALSA playback device (``audio_out``). It is opened only while
someone talks (the owner holds the page's push-to-talk button) and closed as soon as they let go; one
owner talks at a time. The voice comes as decoded frames (aiortc decodes the browser's Opus): each is
resampled to 48 kHz mono on the event loop and written by the speaker's own worker thread, so a
device that blocks never holds the loop; a device that cannot be opened or written is one warning in
the health record (:data:`~camcast.runtime.health.HEALTH`), and the talk ends.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any

import av

from camcast.audio.microphone import use_system_config
from camcast.frames import RATE
from camcast.runtime.health import HEALTH
from camcast.runtime.worker import Worker

log = logging.getLogger(__name__)

#: Frames (20 ms each) waiting for the device: half a second; past it the newest is refused (a gap).
QUEUE = 25


class Speaker:
    """Camera ``camera``'s speaker, the ALSA playback device ``device``."""

    def __init__(self, camera: str, device: str) -> None:
        self.camera = camera
        self.device = device
        #: Who talks now (their name as the viewer log has it), or None.
        self.talking: str | None = None
        self.frames = 0
        self._resampler: Any = None
        self._worker: Worker | None = None
        self._output: _Output | None = None  # the talk's device, its worker's thread alone touches
        use_system_config()  # ALSA's device names, before a thread opens the device

    @property
    def part(self) -> str:
        return f"{self.camera}: speaker"

    def start(self, who: str) -> bool:
        """``who`` starts talking; False when someone else talks now."""
        if self.talking is not None:
            return False
        self.talking = who
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        # A worker and a device of its own per talk: one that starts as the last ends never meets it.
        self._worker = Worker(f"speaker-{self.camera}", QUEUE, when_full="refuse")
        self._output = _Output(self.device)
        log.info("%s: %s talks on %s", self.camera, who, self.device)
        return True

    def play(self, frame: av.AudioFrame) -> None:
        """One frame of the voice (on the event loop)."""
        if self._worker is None or self._worker.closed:
            return
        frame.pts = None  # the resampler counts on its own: the voice is played as it comes
        assert self._output is not None
        for out in self._resampler.resample(frame):
            job = self._worker.submit(self._output.write, out)
            if job is not None:
                job.add_done_callback(functools.partial(self._written, self._output))

    def stop(self) -> None:
        """The talk ends: what waits is played, then the device is closed."""
        if self.talking is not None:
            log.info("%s: %s stopped talking", self.camera, self.talking)
        self.talking = None
        worker, self._worker = self._worker, None
        output, self._output = self._output, None
        if worker is not None and output is not None and not worker.closed:
            worker.submit(output.close, force=True)
            worker.close(drain=True)

    def _written(self, output: _Output, job: Any) -> None:
        """A frame of ``output``'s talk written, or not: a failure ends that talk, never a later one."""
        if job.cancelled() or output is not self._output:
            return
        exc = job.exception()
        if exc is None:
            self.frames += 1
            HEALTH.worked(self.part)
            return
        HEALTH.failed(self.part, f"{self.device}: {exc}; the talk ends")
        self.stop()


class _Output:
    """One talk's ALSA playback device: opened by the first frame written, closed at the end (both in
    the talk's worker thread)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._container: Any = None
        self._stream: Any = None

    def write(self, frame: av.AudioFrame) -> None:
        if self._container is None:
            try:
                self._container = av.open(self.device, "w", format="alsa")
                self._stream = self._container.add_stream("pcm_s16le", rate=RATE)
                self._stream.layout = "mono"
            except av.FFmpegError as exc:
                self._container = None
                raise OSError(exc.strerror or str(exc)) from None
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(av.FFmpegError, ValueError):
                for packet in self._stream.encode(None):
                    container.mux(packet)
            container.close()
