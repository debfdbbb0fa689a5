"""``publish --hls``: H.264 video as plain HLS on a web host or a bucket, cut from the camera's one
shared H.264 encode.

Each finished segment is uploaded (its init segment first, once), and only then is the playlist
replaced, atomically (``put_atomic``), so a player never reads a playlist naming a file that is not
there yet. The playlist lists ``window`` segments; a segment that leaves it is deleted a playlist's
length later (RFC 8216 §6.2.2: a player that read the previous playlist may still fetch it).

Memory is bounded whatever the link does: at most :data:`MAX_PENDING` finished segments wait for
upload. Past that the oldest is dropped, and the next one published carries an
``EXT-X-DISCONTINUITY``, as does the first after an upload given up or a closed shutter (nothing is
uploaded while the owner has paused the camera; the encoder is let go meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from camcast.audio.encode import AudioRendition
from camcast.encode.h264 import H264Encoder
from camcast.encode.rendition import Rendition
from camcast.errors import UploadError
from camcast.hls import names
from camcast.hls.playlist import MediaPlaylist, Segment
from camcast.hls.segmenter import Finished, Segmenter
from camcast.publish.store import RemoteStore
from camcast.runtime.health import HEALTH

log = logging.getLogger(__name__)

#: The folder the video goes to, beside the pages; the playlist is FOLDER/PLAYLIST.
FOLDER = "hls"
PLAYLIST = "index.m3u8"
#: Finished segments that may wait for upload; a slower link loses the oldest.
MAX_PENDING = 3
#: Seconds between looks at the shutter.
PAUSE_POLL = 0.25
#: Seconds between retries of a failed upload (the segment is given up when a newer one waits).
RETRY = (0.5, 1.0, 2.0, 5.0)


@dataclass
class HlsStats:
    segments: int = 0
    dropped: int = 0
    failures: int = 0
    last_seconds: float = 0.0  # the last segment's upload, playlist included
    last_delay: float = 0.0  # from its first frame's capture to the playlist naming it

    def line(self) -> str:
        return (
            f"video {self.segments} segments · {self.last_seconds * 1000:.0f} ms up · "
            f"{self.last_delay:.1f} s behind · dropped {self.dropped}"
        )


class HlsPublisher:
    """Publishes ``rendition`` (an H.264 rendition), with ``sound`` (the camera's AAC, while its audio
    is on) in the segments, to ``store`` under :data:`FOLDER`, except while ``paused()``. Run
    :meth:`run` as a task."""

    def __init__(
        self,
        rendition: Rendition,
        store: RemoteStore,
        *,
        segment_seconds: float,
        window: int,
        paused: Callable[[], bool] = lambda: False,
        sound: AudioRendition | None = None,
    ) -> None:
        assert isinstance(rendition.encoder, H264Encoder), "HLS is cut from an H.264 rendition"
        self.rendition = rendition
        self.sound = sound
        self.encoder = rendition.encoder
        self.store = store
        self.window = window
        self.paused = paused
        self.stats = HlsStats()
        self.segmenter = Segmenter(
            max(segment_seconds, self.encoder.keyframe_every),
            part_target=None,
            window=2,  # the publisher keeps its own list; the segmenter only holds what it is making
            need_keyframe=self.encoder.request_keyframe,
            on_segment=self._finished,
            sound=sound.format if sound is not None else None,
        )
        self._pending: deque[Finished] = deque()
        self._failures = 0  # uploads failed in a row: how long the next pause is
        self._wake = asyncio.Event()
        self._listed: deque[Segment] = deque()
        self._media_sequence = 0
        self._discontinuity_sequence = 0
        self._gap = False  # the next segment published follows a dropped one
        self._leaving: deque[tuple[int, Segment]] = deque()  # (segments published when it left, segment)
        self._inits: set[str] = set()  # uploaded init segments
        self._cleaned = False

    @property
    def waiting(self) -> int:
        """Finished segments waiting for upload (at most :data:`MAX_PENDING`)."""
        return len(self._pending)

    def path(self, name: str) -> str:
        return posixpath.join(FOLDER, name)

    async def prepare(self) -> None:
        await self.store.makedirs(FOLDER)

    # --- input (on the event loop, from the rendition's listener) --------------------------------------
    def _finished(self, segment: Finished) -> None:
        self._pending.append(segment)
        while len(self._pending) > MAX_PENDING:
            self._drop(self._pending.popleft(), "the link is slower than the video")
        self._wake.set()

    def _drop(self, segment: Finished, why: str) -> None:
        self.stats.dropped += 1
        self._gap = True
        log.debug("video segment %s not published: %s", segment.uri, why)

    # --- running ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._follow_shutter(), name="hls-shutter")
                tg.create_task(self._uploader(), name="hls-upload")
        finally:
            HEALTH.forget(self._part)

    @property
    def _part(self) -> str:
        """What its failures are listed as (:data:`HEALTH`)."""
        return f"publishing video to {self.store.describe()}"

    async def _follow_shutter(self) -> None:
        attached = False
        try:
            while True:
                want = not self.paused()
                if want and not attached:
                    self._listen(True)
                    self.encoder.request_keyframe()
                elif attached and not want:
                    self._listen(False)
                    self.segmenter.interrupt()
                    self._pending.clear()  # nothing filmed before the shutter closed goes up after
                attached = want
                await asyncio.sleep(PAUSE_POLL)
        finally:
            if attached:
                self._listen(False)

    def _listen(self, on: bool) -> None:
        """Start (or stop) taking the pictures, and the sound with them."""
        if on:
            self.rendition.add_listener(self.segmenter.push)
            if self.sound is not None:
                self.sound.add_listener(self.segmenter.push_sound)
        else:
            self.rendition.remove_listener(self.segmenter.push)
            if self.sound is not None:
                self.sound.remove_listener(self.segmenter.push_sound)

    async def _uploader(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._publish_with_retry(self._pending.popleft())

    async def _publish_with_retry(self, segment: Finished) -> None:
        """Upload ``segment``, backing off while the store fails (the pauses grow with the failures in
        a row, whatever segment each was for); a newer segment waiting replaces it."""
        while True:
            try:
                await self._publish(segment)
                self._failures = 0
                HEALTH.worked(self._part)
                return
            except UploadError as exc:
                self.stats.failures += 1
                HEALTH.failed(self._part, f"a segment: {exc}; retrying")
                await asyncio.sleep(RETRY[min(self._failures, len(RETRY) - 1)])
                self._failures += 1
                if self._pending:
                    self._drop(segment, "a newer segment waits")
                    return

    async def _publish(self, segment: Finished) -> None:
        started = time.monotonic()
        if segment.init_uri not in self._inits:
            await self.store.put_atomic(self.path(segment.init_uri), segment.init)
            self._inits.add(segment.init_uri)
        await self.store.put_atomic(self.path(segment.uri), segment.data)
        entry = Segment(
            segment.uri, segment.duration, segment.date, segment.init_uri,
            discontinuity=segment.discontinuity or (self._gap and bool(self._listed)),
        )  # fmt: skip
        listed = self._listed.copy()
        listed.append(entry)
        media_sequence, discontinuity_sequence = self._media_sequence, self._discontinuity_sequence
        leaving = []
        while len(listed) > self.window:
            gone = listed.popleft()
            leaving.append(gone)
            media_sequence += 1
            discontinuity_sequence += gone.discontinuity
        if listed[0].discontinuity and len(listed) == 1:
            listed[0] = replace(listed[0], discontinuity=False)  # nothing before it to break from
        playlist = MediaPlaylist(
            self.segmenter.segment_target, media_sequence, tuple(listed),
            discontinuity_sequence=discontinuity_sequence,
        )  # fmt: skip
        await self.store.put_atomic(self.path(PLAYLIST), playlist.render().encode())
        # The playlist is up: only now does its state move on (a failure above leaves it as it was).
        self._listed, self._media_sequence = listed, media_sequence
        self._discontinuity_sequence = discontinuity_sequence
        self._gap = False
        self.stats.segments += 1
        self.stats.last_seconds = time.monotonic() - started
        self.stats.last_delay = time.time() - segment.date
        self._leaving.extend((self.stats.segments, gone) for gone in leaving)
        await self._delete_old()

    async def _delete_old(self) -> None:
        """Delete what left the playlist a playlist's length ago, init segments nothing names any
        more, and (once) the files of an earlier run."""
        try:
            while self._leaving and self.stats.segments - self._leaving[0][0] > self.window:
                _, gone = self._leaving[0]
                await self.store.delete(self.path(gone.uri))
                self._leaving.popleft()
            named = {s.init for s in self._listed} | {s.init for _, s in self._leaving}
            for init in self._inits - named:
                await self.store.delete(self.path(init))
                self._inits.discard(init)
            if not self._cleaned:
                for entry in await self.store.list(FOLDER):
                    ours = names.parse(entry.name)
                    if ours is not None and ours.run != self.segmenter.run:
                        await self.store.delete(self.path(entry.name))
                self._cleaned = True
        except UploadError as exc:
            log.debug("old video files not deleted yet: %s", exc)  # tried again after the next segment
