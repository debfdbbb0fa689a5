"""The periodic publisher: a picture every N seconds to a remote store, with the viewer pages (and,
with :class:`~camcast.publish.hls.HlsPublisher`, the video).

The schedule never waits for the network. Each tick takes the newest frame and hands it to the
uploader through a one-picture slot; if the uploader is still busy (a slow link, a server that went
away), the waiting picture is replaced by the newer one and counted as skipped, never queued. Failed
uploads are retried with backoff; the log says once when the target goes down and once when it is back.
While the owner has paused the camera, nothing is uploaded.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import json
import logging
import posixpath
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from camcast import pages
from camcast.config import CameraSettings
from camcast.encode.rendition import Rendition
from camcast.errors import CamcastError, UploadError
from camcast.frames import EncodedFrame
from camcast.publish import hls
from camcast.publish.retention import Retention
from camcast.publish.store import RemoteStore
from camcast.runtime.health import HEALTH
from camcast.runtime.plan import Plan

log = logging.getLogger(__name__)

#: Seconds between retries while the target is down: quick at first, then once a minute.
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: Seconds of pictures the near-live ring keeps (stream/000.jpg …), so a page polling stream.json
#: once a second always finds the frames it has not shown yet.
RING_SECONDS = 4.0


@dataclass
class PublishOptions:
    every: float
    name: str = "webcam.jpg"
    archive: str | None = None  # a strftime pattern, e.g. archive/%Y/%m/%d/%H%M%S.jpg
    keep_days: float | None = None
    keep: int | None = None
    stream_fps: float | None = None
    pages: bool = True
    title: str = "camcast"

    @classmethod
    def of(cls, s: CameraSettings, source: str) -> PublishOptions:
        """A camera's publishing options; ``source`` describes its source, for the pages' title."""
        return cls(
            every=s.every, name=s.name, archive=s.archive_pattern if s.archive else None,
            keep_days=s.keep_days, keep=s.keep, stream_fps=s.stream_fps,
            title=f"camcast · {s.title} · {source}",
        )  # fmt: skip


#: Upper bounds (seconds) of the upload-duration histogram's buckets, as Prometheus reads them.
UPLOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class PublishStats:
    uploads: int = 0
    failures: int = 0
    skipped: int = 0
    withheld: int = 0  # pictures not taken because the shutter was closed (one per interval)
    last_ok: float | None = None  # Unix time of the last finished upload
    last_seconds: float = 0.0
    last_bytes: int = 0
    next_at: float = 0.0  # monotonic time of the next tick
    down_since: float | None = None
    stream_frames: int = 0
    #: Uploads (of a picture and what goes with it) per duration bucket (UPLOAD_BUCKETS, then +Inf),
    #: and their total duration: the histogram /metrics shows.
    duration_counts: list[int] = field(default_factory=lambda: [0] * (len(UPLOAD_BUCKETS) + 1))
    duration_sum: float = 0.0

    def record(self, seconds: float) -> None:
        self.last_seconds = seconds
        self.duration_sum += seconds
        self.duration_counts[bisect.bisect_left(UPLOAD_BUCKETS, seconds)] += 1

    def line(self) -> str:
        last = time.strftime("%H:%M:%S", time.localtime(self.last_ok)) if self.last_ok else "never"
        next_in = max(0.0, self.next_at - time.monotonic())
        state = "DOWN" if self.down_since else "ok"
        return (
            f"upload [{state}] last {last} ({self.last_seconds * 1000:.0f} ms, {self.last_bytes} B) · "
            f"next in {next_in:.0f} s · uploads {self.uploads} · failures {self.failures} · "
            f"skipped {self.skipped}"
        )


class Publisher:
    """Publishes ``rendition``'s pictures to ``store`` as ``options`` say, except while ``paused()``
    (the owner closed the shutter). Run :meth:`run` as a task."""

    def __init__(
        self,
        rendition: Rendition,
        store: RemoteStore,
        options: PublishOptions,
        paused: Callable[[], bool] = lambda: False,
        video: hls.HlsPublisher | None = None,
    ) -> None:
        self.rendition = rendition
        self.video = video
        self.paused = paused
        self.store = store
        self.options = options
        self.stats = PublishStats()
        self.retention = Retention(store, options.archive, options.keep_days, options.keep)
        self._slot: EncodedFrame | None = None
        self._slot_ready = asyncio.Event()
        self._rescheduled = asyncio.Event()  # the interval changed (a reloaded config)
        self._reupload: asyncio.Task[None] | None = None  # the pages, uploaded again after a reload
        self._made: set[str] = {""}
        self._failures = 0  # uploads failed in a row: how long the next pause is

    @property
    def _part(self) -> str:
        """What its failures are listed as (:data:`HEALTH`)."""
        return f"publishing to {self.store.describe()}"

    def line(self) -> str:
        """The status line's part for this publisher."""
        return self.stats.line() + (f" · {self.video.stats.line()}" if self.video else "")

    # --- start-up -------------------------------------------------------------------------------------
    async def prepare(self) -> None:
        """Connect, create the folders, clean a crash's leftovers and upload the pages; raises
        UploadError at once if the target is unusable (a start-up check, not retried)."""
        await self.store.makedirs("")
        if self.options.stream_fps:
            await self._makedirs("stream")
        if self.video:
            await self.video.prepare()
        folders = [""] + (["stream"] if self.options.stream_fps else [])
        folders += [hls.FOLDER] if self.video else []
        await self.retention.clean_temp_files(folders)
        if self.options.pages:
            await self.upload_pages()

    def pages(self) -> dict[str, bytes]:
        """The files of the published site: the viewer pages, their script, style and icon."""
        o = self.options
        links = {"index": "index.html", "refresh": "refresh.html", "script": "script.html"}
        if o.stream_fps or self.video:
            links["stream"] = "stream.html"
        common = {
            "title": o.title,
            "links": links,
            "every": o.every,
            "asset_base": ".",
            "snapshot": o.name,
            "stream": "",
            "meta": "webcam.json",
            # The published video carries the camera's sound: every page says so.
            "mic": True if self.video is not None and self.video.sound is not None else None,
        }
        files = {f"{page}.html": pages.render(page, **common).encode() for page in links}  # type: ignore[arg-type]
        if self.video:  # the video, or (where the browser plays none) a note pointing to the other pages
            video = posixpath.join(hls.FOLDER, hls.PLAYLIST)
            files["stream.html"] = pages.render("stream", **common, hls=video).encode()  # type: ignore[arg-type]
        elif o.stream_fps:
            files["stream.html"] = pages.render("stream", **common, ring="stream.json").encode()  # type: ignore[arg-type]
        for asset in pages.ASSETS:
            files[asset] = pages.asset(asset)
        return files

    def check(self, options: PublishOptions) -> Plan:
        """A reloaded configuration's options (restart-only ones already at their running values):
        the interval, file name, archive and retention apply from the next picture once committed,
        and the pages are uploaded again. Pruning that was off starts only at the next start."""
        old = self.options
        retention = Retention(self.store, options.archive, options.keep_days, options.keep)
        restart = []
        if retention.active and not self.retention.active:
            restart.append("keep_days/keep (pruning starts at the next start)")

        def commit() -> None:
            self.retention.pattern, self.retention.keep_days, self.retention.keep = (
                retention.pattern, retention.keep_days, retention.keep,
            )  # fmt: skip
            self.options = options
            if options.every != old.every:
                self._rescheduled.set()
            if options.pages and (options.name, options.every, options.title) != (old.name, old.every,
                                                                                   old.title):  # fmt: skip
                if self._reupload is not None:
                    self._reupload.cancel()  # the newer pages supersede the ones going up
                self._reupload = asyncio.create_task(self._pages_again(), name="publish-pages")

        return Plan(commit, restart=restart)

    async def _pages_again(self) -> None:
        try:
            await self.upload_pages()
        except UploadError as exc:  # the new settings hold; the pages follow at the next start
            log.warning("the pages were not uploaded again after the reload: %s", exc)

    async def upload_pages(self) -> None:
        for path, data in self.pages().items():
            await self.store.put_atomic(path, data)

    # --- running --------------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._schedule(), name="publish-schedule")
                tg.create_task(self._uploader(), name="publish-upload")
                if self.options.stream_fps:
                    tg.create_task(self._stream(), name="publish-stream")
                if self.retention.active:
                    tg.create_task(self.retention.run(), name="publish-retention")
                if self.video:
                    tg.create_task(self.video.run(), name="publish-video")
        finally:
            HEALTH.forget(self._part)

    async def _schedule(self) -> None:
        every = self.options.every
        start = time.monotonic()
        tick = 0
        while True:
            if self.options.every != every:  # reloaded: a new interval, counted from now
                every, start, tick = self.options.every, time.monotonic(), 0
            self.stats.next_at = start + tick * every
            delay = self.stats.next_at - time.monotonic()
            if delay > 0:
                self._rescheduled.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._rescheduled.wait(), delay)
                if self._rescheduled.is_set():
                    continue
            tick = max(tick + 1, int((time.monotonic() - start) / every) + 1)  # skip ticks missed
            if self.paused():
                self.stats.withheld += 1
                continue
            try:
                frame = await self.rendition.snapshot()
            except CamcastError as exc:
                log.warning("no picture to publish: %s", exc)
                continue
            if self._slot is not None:
                self.stats.skipped += 1  # the uploader is behind: the newer picture wins
            self._slot = frame
            self._slot_ready.set()

    async def _uploader(self) -> None:
        while True:
            await self._slot_ready.wait()
            self._slot_ready.clear()
            frame, self._slot = self._slot, None
            if frame is None:
                continue
            await self._with_retry(functools.partial(self._publish, frame), lambda: self._slot is not None)

    async def _publish(self, frame: EncodedFrame) -> None:
        o = self.options
        started = time.monotonic()
        await self.store.put_atomic(o.name, frame.payload.data)
        meta = {
            "captured": round(frame.wall, 3),
            "captured_iso": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(frame.wall)),
            "every": o.every,
            "width": frame.width,
            "height": frame.height,
        }
        await self.store.put_atomic("webcam.json", json.dumps(meta).encode())
        if o.archive:
            path = time.strftime(o.archive, time.localtime(frame.wall))
            await self._makedirs(posixpath.dirname(path))
            await self.store.put_atomic(path, frame.payload.data)
        self.stats.uploads += 1
        self.stats.last_ok = time.time()
        self.stats.record(time.monotonic() - started)
        self.stats.last_bytes = len(frame.payload.data)

    async def _stream(self) -> None:
        """The near-live ring: stream/NNN.jpg at stream_fps, and stream.json naming the newest."""
        fps = self.options.stream_fps or 1.0
        size = max(8, round(fps * RING_SECONDS))
        start = time.monotonic()
        seq = 0
        last_sent = -1
        while True:
            due = start + seq * (1.0 / fps)
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            seq = max(seq + 1, int((time.monotonic() - start) * fps) + 1)
            if self.paused() or self.stats.down_since is not None:
                continue  # while down, the main uploader's retries decide when the target is back
            frame = await self.rendition.snapshot()
            if frame.seq == last_sent:
                continue
            index = self.stats.stream_frames % size
            ring = {"newest": index, "seq": self.stats.stream_frames, "size": size, "fps": fps,
                    "captured": round(frame.wall, 3)}  # fmt: skip
            try:
                await self.store.put_atomic(f"stream/{index:03d}.jpg", frame.payload.data)
                await self.store.put_atomic("stream.json", json.dumps(ring).encode())
            except UploadError as exc:
                log.debug("stream frame not uploaded: %s", exc)
                continue
            last_sent = frame.seq
            self.stats.stream_frames += 1

    async def _makedirs(self, folder: str) -> None:
        if folder in self._made:
            return
        await self.store.makedirs(folder)
        self._made.add(folder)

    async def _with_retry(self, attempt: Callable[[], Awaitable[None]], newer: Callable[[], bool]) -> None:
        """Run ``attempt`` until it succeeds, backing off; give up early when a newer picture waits
        (which is tried after the same pause: the pauses grow with the failures in a row, whatever
        picture each was for, so a store down for hours is asked once a minute, not once a second)."""
        while True:
            try:
                await attempt()
            except UploadError as exc:
                self.stats.failures += 1
                if self.stats.down_since is None:
                    self.stats.down_since = time.time()
                HEALTH.failed(self._part, f"{exc}; retrying")
                self._made = {""}  # the folders may have to be made again (a new server)
                await asyncio.sleep(BACKOFF[min(self._failures, len(BACKOFF) - 1)])
                self._failures += 1
                if newer():
                    return  # the next attempt is with the newer picture
                continue
            self._failures = 0
            if self.stats.down_since is not None:
                HEALTH.worked(self._part)
                self.stats.down_since = None
            return
