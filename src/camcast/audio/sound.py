"""One camera's sound: its input, and an encoder per codec that outputs listen to.

The input is the camera's microphone (:class:`~camcast.audio.microphone.MicrophoneCapture`), the
sound its source carries (:class:`~camcast.audio.source.SourceSound`) or the test pattern's beep
(:class:`~camcast.audio.beep.Beep`). It runs as a part of its own under the
supervisor, so a microphone that fails never touches the pictures, and it hands its chunks to
:meth:`Sound.receive` on the event loop; each :class:`~camcast.audio.encode.AudioRendition` encodes
them only while an output listens to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from camcast.audio.beep import Beep
from camcast.audio.encode import AudioRendition
from camcast.audio.microphone import MicrophoneCapture, microphone_for
from camcast.audio.source import SourceSound
from camcast.errors import ConfigError
from camcast.frames import AudioFormat, AudioPacket, Chunk, Source
from camcast.sources.media import MediaSource
from camcast.sources.pattern import PatternSource
from camcast.sources.pending import PendingSource

#: The codec each output carries sound in: Opus where the client takes it (WebRTC, RTSP), AAC-LC
#: where one does not (Safari's HLS, MP4 players, RTMP).
CODECS = ("opus", "aac")


class AudioInput(Protocol):
    """What a camera's sound comes from: it runs until cancelled, says whether it is ``on``
    (``silenced`` by the shutter, ``unavailable``, ``off``) and how loud (dBFS), and hands its chunks
    to ``deliver``."""

    device: str
    state: str
    level: float | None
    deliver: Callable[[Chunk], None]

    @property
    def part(self) -> str: ...

    async def run(self) -> None: ...


class Sound:
    """A camera's input and its encoders by codec (see the module docstring)."""

    def __init__(self, camera: str, input: AudioInput) -> None:
        self.camera = camera
        self.input = input
        self.renditions: dict[str, AudioRendition] = {}
        #: Readers of the chunks themselves (sound events), on the event loop.
        self.hearing: list[Callable[[Chunk], None]] = []
        input.deliver = self.receive
        if isinstance(input, SourceSound):
            input.deliver_packet = self.forward

    # What the status shows: the input's.
    @property
    def device(self) -> str:
        return self.input.device

    @property
    def state(self) -> str:
        return self.input.state

    @property
    def level(self) -> float | None:
        return self.input.level

    @property
    def part(self) -> str:
        return self.input.part

    async def run(self) -> None:
        await self.input.run()

    def rendition(self, codec: str) -> AudioRendition:
        """The sound in ``codec`` (one of :data:`CODECS`), made the first time it is asked for: the
        source's own packets when its sound is in that codec, else an encoder."""
        if codec not in self.renditions:
            own = self.input.format if isinstance(self.input, SourceSound) else None
            passed = own if own is not None and own.codec == codec else None
            self.renditions[codec] = AudioRendition(codec, f"{self.camera}-{codec}", passed)
        return self.renditions[codec]

    def receive(self, chunk: Chunk) -> None:
        for rendition in self.renditions.values():
            rendition.receive(chunk)
        for hear in self.hearing:
            hear(chunk)

    def forward(self, packet: AudioPacket, format: AudioFormat) -> None:
        """A packet of the source's own sound, for the rendition of its codec to pass through."""
        rendition = self.renditions.get(packet.codec)
        if rendition is not None:
            rendition.forward(packet, format)

    def close(self) -> None:
        for rendition in self.renditions.values():
            rendition.close()


def sound_for(
    camera: str, audio: str, device: str | None, where: str, paused: Callable[[], bool], source: Source
) -> Sound | None:
    """A camera's sound as its ``audio`` setting says: None for ``off``; ``source`` is what the
    camera's ``source`` carries (a file's or a stream's sound track, the test pattern's beep); else a
    microphone (see :func:`~camcast.audio.microphone.microphone_for`)."""
    if audio == "off":
        return None
    if audio == "source":
        if isinstance(source, PatternSource):
            return Sound(camera, Beep(camera, paused))
        heard = isinstance(source, MediaSource) and source.kind != "v4l2" and source.has_sound
        if isinstance(source, PendingSource) or heard:
            # (A stream not reached yet: its sound once it is.)
            own = source.sound_format if isinstance(source, MediaSource) else None
            return Sound(camera, SourceSound(camera, source.describe(), paused, own))
        raise ConfigError(
            f'audio = "source": {where} carries no sound (a video file or stream with a sound track '
            'does; the test pattern has its beep); name a microphone as audio = "hw:CARD=...,DEV=..." '
            '(camcast sources lists them), or set audio = "off"',
            camera=camera,
        )
    microphone: MicrophoneCapture | None = microphone_for(camera, audio, device, where, paused)
    return None if microphone is None else Sound(camera, microphone)
