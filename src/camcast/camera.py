"""A camera: one unit of source, hub and renditions, built from one camera's settings.

The program holds a set of cameras; the server and the publisher are runners over that set. Each
camera captures on its own, and one camera's failure (unplugged, upstream gone) never touches another:
its source shows an offline card and reconnects by itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from camcast.audio.sound import Sound, sound_for
from camcast.audio.source import SourceSound
from camcast.config import DEFAULT_CAMERA, CameraSettings
from camcast.config.video import VideoSize
from camcast.drawing import Info, drawing_steps, shared_settings, shared_steps
from camcast.encode.h264 import H264Encoder
from camcast.encode.rendition import Encoder, Rendition
from camcast.encode.stripes import JpegEncoder
from camcast.errors import CamcastError, ConfigError, SourceError
from camcast.frames import DEFAULT_SIZE
from camcast.hub import Hub
from camcast.picture.steps import Step
from camcast.runtime.plan import Plan
from camcast.sources import Source, ThreadedSource, open_source
from camcast.sources.controls import Control, set_controls
from camcast.sources.controls import Value as ControlValue
from camcast.sources.media import MediaSource
from camcast.sources.pattern import PatternSource
from camcast.sources.pending import PendingSource

log = logging.getLogger(__name__)


def open_camera_source(settings: CameraSettings) -> Source:
    """The camera's source, opened so that a bad device or file fails now, not after start-up.

    Drawing needs pixels, so a camera's own MJPEG is decoded when anything is drawn or reshaped.
    """
    passthrough = settings.passthrough and not settings.needs_pixels()
    source = open_source(
        settings.source, settings.size, settings.fps, passthrough, settings.warmup, settings.pattern_timecode,
        sound=settings.audio == "source",
    )  # fmt: skip
    if isinstance(source, ThreadedSource):
        source.start()
    check_crop(settings, source)
    return source


def check_crop(settings: CameraSettings, source: Source) -> None:
    """A ConfigError when the crop box does not fit the source's picture."""
    box = settings.crop
    width, height = getattr(source, "width", 0), getattr(source, "height", 0)
    if box is not None and width and (box.x + box.w > width or box.y + box.h > height):
        raise ConfigError(
            f"{box.x},{box.y},{box.w},{box.h} does not fit the {width}x{height} picture of "
            f"{source.describe()}: x+w must be at most {width} and y+h at most {height}",
            key="crop",
            camera=settings.id,
        )


class Camera:
    """Source, hub and renditions of one camera. Run :meth:`run` as a task."""

    def __init__(self, settings: CameraSettings, source: Source) -> None:
        self.settings = settings
        self.name = settings.id
        #: A V4L2 camera's controls, set on every open: the config's, and what the owner set since.
        self.controls: dict[str, ControlValue] = dict(settings.controls)
        # The reader thread sets them on a reopened camera while the owner may set others.
        self._controls_lock = threading.Lock()
        #: The camera's sound, when the owner turned audio on (:meth:`open` finds its input).
        self.sound: Sound | None = None
        self.hub = Hub(
            self._wired(source), reopen=self._reopen, process=shared_steps(settings), name=self.name
        )
        self.info: Info = {
            "name": lambda: self.settings.title,
            "viewers": lambda: 0,
            "fps": lambda: f"{self.hub.rate_in.per_second():.0f}",
            # The LIVE badge says MIC too while the microphone is on.
            "mic": lambda: self.sound is not None and self.sound.state == "on",
        }
        self.renditions: dict[tuple[tuple[str, Any], ...], Rendition] = {}  # by codec and drawing
        #: By output, codec and variant (0: the main one, 1...: the smaller H.264 renditions): who uses which.
        self._outputs: dict[tuple[str, str, int], Rendition] = {}
        #: Other readers of the hub's pictures (motion), each saying whether it needs pixels now.
        self.pixel_readers: list[Callable[[], bool]] = []
        self._tasks: asyncio.TaskGroup | None = None

    @classmethod
    def open(cls, settings: CameraSettings) -> Camera:
        """The camera with its source opened and its controls set (blocking: call it in a thread). A
        control the camera does not have, or a value out of its range, is a ConfigError naming both."""
        camera = cls(settings, open_camera_source(settings))
        camera.sound = camera._sound()
        camera._wired(camera.hub.source)  # the sound's input is known now
        try:
            camera.apply_controls()
        except SourceError as exc:  # the camera captures; its controls did not answer
            log.warning("%s: controls not set: %s", settings.id, exc)
        except ConfigError as exc:
            raise ConfigError(
                exc.message if settings.id == DEFAULT_CAMERA else f"camera {settings.id}: {exc.message}"
            ) from None
        return camera

    def _sound(self) -> Sound | None:
        """The sound ``audio`` names, or None when audio is off (see
        :func:`~camcast.audio.sound.sound_for`)."""
        where = self.device or f"{self.describe()} (no camera found)"
        paused = lambda: self.hub.paused  # noqa: E731
        return sound_for(self.name, self.settings.audio, self.device, where, paused, self.hub.source)

    @classmethod
    def offline(cls, settings: CameraSettings) -> Camera:
        """The camera whose source could not be opened at start: it starts offline and is tried again
        as a lost source is (:class:`~camcast.sources.pending.PendingSource`)."""
        width, height = settings.size or DEFAULT_SIZE  # the source's size: the card is processed as a frame
        camera = cls(settings, PendingSource(settings.title, settings.source, width, height))
        camera.sound = camera._sound()
        camera._wired(camera.hub.source)
        return camera

    @property
    def device(self) -> str | None:
        """The V4L2 device the camera captures from, or None (the pattern, a file, a URL, a camera
        not found yet)."""
        return _device(self.hub.source)

    def apply_controls(
        self, values: Mapping[str, ControlValue] | None = None, source: Source | None = None
    ) -> list[Control]:
        """Set ``values`` (by default every control this camera keeps) on its device (``source``'s, when
        a new source is being opened), blocking; those given are kept and set again on every open.
        Returns the controls as they are now."""
        device = _device(source or self.hub.source)
        with self._controls_lock:
            values = dict(self.controls if values is None else values)
            if device is None:
                if values:
                    raise self._no_controls()
                return []
            found = set_controls(device, values)
            self.controls.update(values)
            return found

    def _no_controls(self) -> ConfigError:
        return ConfigError(
            f"{self.describe()} has no [controls]: they are a V4L2 camera's (set them in that camera's "
            "own [cameras.NAME.controls] table)"
        )

    def _reapply_controls(self, source: Source) -> None:
        """Set the kept controls again on ``source``, opened anew; a failure is one warning."""
        if not self.controls:
            return
        try:
            self.apply_controls(source=source)
        except CamcastError as exc:
            log.warning("%s: controls not set again: %s", self.name, exc)

    def _reopen(self) -> Source:
        """The source made anew (after the shutter opens, or for a camera not there at start), with
        the controls set on it."""
        source = self._wired(open_camera_source(self.settings))
        self._reapply_controls(source)
        return source

    def describe(self) -> str:
        return self.hub.source.describe()

    def _wired(self, source: Source) -> Source:
        """``source``, asking this camera whether to decode its H.264 (see :meth:`wants_pixels`)."""
        if isinstance(source, ThreadedSource):
            source.camera_name = self.name
        if isinstance(source, MediaSource):
            source.want_pixels = self.wants_pixels
            source.on_reopen = lambda: self._reapply_controls(source)
            if self.sound is not None and isinstance(self.sound.input, SourceSound):
                source.on_sound = self.sound.input.take
                source.on_sound_packet = self.sound.input.take_packet
        if isinstance(source, PendingSource):
            source.open_source = self._reopen
        if isinstance(source, PatternSource):
            source.flash = self.settings.audio == "source"  # in step with its beep
        return source

    def wants_pixels(self) -> bool:
        """Whether any rendition or other reader (motion) needs decoded pictures now: an H.264 source
        is decoded only then (an H.264 rendition with nothing to draw sends the source's packets as
        they are)."""
        if self.hub.process:  # masks or geometry: every frame is processed, whoever watches
            return True
        drawn = (r for r in self.renditions.values() if r.makes_pictures)
        return any(r.wants_pixels for r in drawn) or any(wants() for wants in self.pixel_readers)

    @property
    def video_sizes(self) -> tuple[VideoSize | None, ...]:
        """The H.264 renditions by variant: the main one's box (None: the picture's own size), then
        each smaller one's (``renditions``; one of each size)."""
        given = self.settings.renditions
        extra: dict[tuple[int, int], VideoSize] = {}
        for size in given[1:]:
            if (size.width, size.height) != (given[0].width, given[0].height):
                extra.setdefault((size.width, size.height), size)
        return (given[0] if given else None, *extra.values())

    def rendition(self, output: str, codec: str = "jpeg", variant: int = 0) -> Rendition:
        """The rendition ``output`` (serve, publish, snapshot) shows in ``codec`` (jpeg or h264), and
        for H.264 its ``variant`` (an index of :attr:`video_sizes`): shared with every output that
        draws the same thing in the same codec and size, so each frame is encoded once per distinct
        picture."""
        key = self._key(codec, variant, self.settings.drawing(output))
        rendition = self._outputs.get((output, codec, variant)) or self.renditions.get(key)
        if rendition is None:
            steps = drawing_steps(dict(key), self.info)
            encoder: Encoder
            if codec == "h264":
                fps = self.settings.fps or getattr(self.hub.source, "fps", None) or 30.0
                size = self.video_sizes[variant]
                box = None if size is None else (size.width, size.height)
                bitrate = (size and size.bitrate) or self.settings.video_bitrate
                crf = self.settings.video_crf
                encoder = H264Encoder(bitrate, self.settings.keyframe_every, fps, box=box, crf=crf)
            else:
                encoder = JpegEncoder(self.settings.quality)
            rendition = Rendition(
                encoder,
                steps,
                # an unchanged H.264 picture costs a few bytes, and a video needs every frame's time
                drop_same_frames=self.settings.drop_same_frames and codec == "jpeg",
                name=f"{self.name}-{codec}{len(self.renditions)}",
            )
            self.renditions[key] = rendition
            self.hub.subscribe(rendition.receive)
            if self._tasks is not None:
                self._tasks.create_task(rendition.run())
        self._outputs[(output, codec, variant)] = rendition
        return rendition

    def _key(
        self, codec: str, variant: int, drawing: tuple[tuple[str, Any], ...]
    ) -> tuple[tuple[str, Any], ...]:
        """A rendition's identity: its codec, its size for a smaller variant, and what it draws."""
        sized = (("size", str(self.video_sizes[variant])),) if variant else ()
        return (("codec", codec), *sized, *drawing)

    def check(self, settings: CameraSettings) -> Plan:
        """A reloaded configuration's settings for this camera (restart-only ones already at their
        running values), checked: what is drawn (caption, logo, badge), the geometry and the privacy
        masks are built now, and apply from the next frame once committed, with the viewers still
        connected; new controls are set on the device (and put back if another part refuses). A crop
        that does not fit, or a logo that does not load, is a ConfigError and nothing changes. A camera
        whose own pictures (JPEG, H.264) were passed through is decoded and encoded from the next frame
        while anything is masked or drawn, and passed through again once nothing is. Drawing
        differently per output waits for a restart."""
        device, undo = self._controls_plan(settings)
        by_rendition: dict[int, set[tuple[tuple[str, Any], ...]]] = {}
        for (output, _codec, _variant), rendition in self._outputs.items():
            by_rendition.setdefault(id(rendition), set()).add(settings.drawing(output))
        if any(len(drawings) > 1 for drawings in by_rendition.values()):
            note = "drawing differently per output ([serve] and [publish] tables)"
            return Plan(device=device, undo=undo, restart=[f"{self.name}: {note}"], part=self.name)
        check_crop(settings, self.hub.source)
        process = tuple(shared_steps(settings))
        restyle: dict[int, tuple[Rendition, tuple[Step, ...], tuple[tuple[str, Any], ...]]] = {}
        for (output, codec, variant), rendition in self._outputs.items():
            if id(rendition) not in restyle:
                drawing = settings.drawing(output)
                steps = tuple(drawing_steps(dict(drawing), self.info))
                restyle[id(rendition)] = (rendition, steps, self._key(codec, variant, drawing))

        def commit() -> None:
            reshaped = shared_settings(settings) != shared_settings(self.settings)
            self.settings = settings
            if reshaped:
                # Masks, geometry: the next frame any output sends carries them. A camera's own H.264
                # gives way to this camera's encoder, which starts with a keyframe.
                for rendition in self.renditions.values():
                    if isinstance(rendition.encoder, H264Encoder):
                        rendition.encoder.request_keyframe()
            self.hub.process = process
            for rendition, steps, key in restyle.values():
                rendition.steps = steps
                old_key = next(k for k, r in self.renditions.items() if r is rendition)
                if key != old_key and key not in self.renditions:
                    del self.renditions[old_key]
                    self.renditions[key] = rendition

        return Plan(commit, device, undo, part=self.name)

    def _controls_plan(
        self, settings: CameraSettings
    ) -> tuple[Callable[[], None] | None, Callable[[], bool]]:
        """The device step that sets the new ``[controls]`` (None when they did not change), and the
        undo that sets back the values the camera had before it."""
        wanted = dict(settings.controls)
        if wanted == dict(self.settings.controls):
            return None, lambda: False
        if wanted and self.device is None:
            error = self._no_controls()
            error.camera = self.name
            raise error
        kept = dict(self.controls)
        before: dict[str, ControlValue] = {}

        def device() -> None:
            path = self.device
            if path is None:
                return
            try:
                found = set_controls(path, wanted, check_only=True)  # all checked before any is set
            except ConfigError as exc:
                exc.camera = exc.camera or self.name
                raise
            before.update({c.name: c.value for c in found if c.name in wanted and c.value is not None})
            self.apply_controls(wanted)

        def undo() -> bool:
            path = self.device
            with self._controls_lock:
                self.controls = dict(kept)
            if path is None or not before:
                return False
            set_controls(path, dict(reversed(before.items())))
            return True

        return device, undo

    async def run(self) -> None:
        """Capture and encode until cancelled, or until the source ends by itself."""
        async with asyncio.TaskGroup() as tg:
            self._tasks = tg
            encoders = [tg.create_task(r.run()) for r in self.renditions.values()]
            try:
                await self.hub.run()
            finally:
                self._tasks = None
                for task in encoders:
                    task.cancel()

    async def aclose(self) -> None:
        for rendition in self.renditions.values():
            rendition.close()
        if self.sound is not None:
            self.sound.close()
        await self.hub.source.aclose()

    # --- what the status shows ---------------------------------------------------------------------------
    @property
    def frames_encoded(self) -> int:
        return sum(r.frames_encoded for r in self.renditions.values())

    def encodes_per_second(self, now: float) -> float:
        return sum(r.rate_encode.per_second(now) for r in self.renditions.values())


def _device(source: Source) -> str | None:
    """The V4L2 device ``source`` captures from (a camera source, or a pending one once found)."""
    device = getattr(source, "device", None)
    return device if isinstance(device, str) else None
