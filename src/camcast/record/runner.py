"""Recording over the set of cameras: a recorder per camera, fed motion's events; the limits kept
(at start, after every file, and every minute: oldest first, by age and size per camera and by the
disk's free space); and finished clips copied to the cameras' ``copy_to`` stores. Run
:meth:`Recorders.start`, then its :meth:`Recorders.children` under the server's supervisor.

What is on disk is also held in memory (:attr:`Recorders.index`: listed once at the start, added to as
each file is finished, pruned by each sweep), so the server lists, finds and sweeps recordings without
reading the sidecars again; the files and their sidecars are the index's journal."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import math
import shutil
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from camcast.camera import Camera
from camcast.config import CameraSettings
from camcast.errors import CamcastError, ConfigError
from camcast.motion.events import Event, EventLog
from camcast.publish import open_store
from camcast.publish.store import RemoteStore
from camcast.publish.target import parse_target
from camcast.record import catalog
from camcast.record.clip import Recording
from camcast.record.names import sidecar
from camcast.record.recorder import Recorder
from camcast.record.retention import Limits, to_delete
from camcast.runtime.outbox import Outbox
from camcast.runtime.plan import Plan
from camcast.runtime.supervisor import Factory
from camcast.security.files import private_dir

log = logging.getLogger(__name__)

#: Seconds between sweeps for the limits (a file finishing sweeps too).
SWEEP_EVERY = 60.0
#: Seconds between passes of the copies' retention on a store.
PRUNE_EVERY = 3600.0
#: Waits before the attempts to copy a clip (seconds): four attempts over about 3 minutes.
COPY_BACKOFF = (5.0, 30.0, 120.0)


def limits_of(settings: CameraSettings) -> Limits:
    return Limits(settings.record_max_days, settings.record_max_size, settings.record_min_free)


class Recorders:
    """The cameras' recorders and what keeps their files within limits."""

    def __init__(self, cameras: Sequence[Camera], folder: Path, events: EventLog) -> None:
        self.folder = folder
        self.events = events  # motion's: a cut-off clip names the events it holds
        self.pictures = events.pictures  # motion's event pictures, copied with their clips
        self.recorders: dict[str, Recorder] = {}
        #: Every finished recording on disk by file name, oldest first; replaced whole, never changed
        #: in place (a sweep's thread makes the next one).
        self.index: dict[str, Recording] = {}
        self.free: int | None = None  # bytes free on the recordings' disk, as the last sweep found
        self._sweep_now = asyncio.Event()
        self._copies: dict[str, Outbox[Recording]] = {}
        self._stores: dict[str, RemoteStore] = {}
        self._pruned: dict[str, float] = {}
        for camera in cameras:
            rendition = camera.rendition("record", codec="h264")
            sound = camera.sound.rendition("aac") if camera.sound is not None else None
            self.recorders[camera.name] = Recorder(
                camera.hub, rendition, camera.settings, folder, self._finished, sound
            )
            if camera.settings.record_copy_to:  # a bad URL fails now, before anything runs
                self._stores[camera.name] = copy_store(camera.settings)
                self._copies[camera.name] = Outbox(f"{camera.name}: copy_to", size=256)

    def on_event(self, kind: str, event: Event) -> None:
        recorder = self.recorders.get(event.camera)
        if recorder is not None:
            recorder.on_event(kind, event)

    def describe(self, motion_on: Mapping[str, bool]) -> list[str]:
        """A line per recording camera for the start-up banner, and a warning line for a camera that
        records events while motion is off."""
        lines = []
        for name, recorder in self.recorders.items():
            s = recorder.settings
            if s.record == "off":
                continue
            if s.record == "events":
                what = f"motion events ({s.record_pre_seconds:g} s before, {s.record_post_seconds:g} s after)"
            else:
                what = f"continuously, in files of {s.record_file_minutes:g} min"
            keep = f"{s.record_max_days:g} days" if s.record_max_days else "no age limit"
            most = f", at most {s.record_max_size / 1024**3:.3g} GiB" if s.record_max_size else ""
            free = s.record_min_free / 1024**3
            lines.append(
                f"{name} records {what} to {self.folder / name}; keeps {keep}{most}, leaves {free:.3g} GiB "
                "free; camcast recordings lists them"
            )
            if s.record == "events" and not motion_on.get(name):
                lines.append(f"{name} records motion events, but motion is off: nothing is recorded until "
                             "it is on (--motion, or enabled = true in [motion])")  # fmt: skip
        return lines

    def check(self, settings: Mapping[str, CameraSettings]) -> Plan:
        """Reloaded settings: the mode and the limits apply at once when committed (a new ``copy_to``
        is a restart-only setting)."""
        changes = [(self.recorders[name], new) for name, new in settings.items() if name in self.recorders]

        def commit() -> None:
            for recorder, new in changes:
                recorder.change(new)
            self._sweep_now.set()

        return Plan(commit)

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        """Recover what a crash cut off, then start recording; everything is closed with ``stack``."""
        await asyncio.to_thread(self._recover)
        self.index = {r.name: r for r in await asyncio.to_thread(catalog.recordings, self.folder)}
        for store in self._stores.values():
            stack.push_async_callback(store.aclose)
        for recorder in self.recorders.values():
            stack.push_async_callback(recorder.aclose)
            recorder.start()

    def children(self) -> list[tuple[str, Factory]]:
        """What runs under the supervisor: the sweeps for the limits, and each camera's copier."""
        found: list[tuple[str, Factory]] = [("recordings: limits", self._sweeps)]
        return found + [(f"{name}: copy_to", functools.partial(self._copier, name)) for name in self._copies]

    # --- limits ----------------------------------------------------------------------------------------
    def recordings(self, cameras: Collection[str]) -> list[Recording]:
        """The finished recordings of ``cameras``, oldest first (from memory)."""
        return [r for r in self.index.values() if r.camera in cameras]

    def limits(self, camera: str) -> dict[str, object]:
        """The limits ``camera`` records within, and where it stands: bytes its recordings use, the
        disk's free bytes (the last sweep's), for the page and its banner."""
        recorder = self.recorders.get(camera)
        if recorder is None:
            return {}
        s = recorder.settings
        used = sum(r.bytes for r in self.index.values() if r.camera == camera)
        return {"max_days": s.record_max_days, "max_size": s.record_max_size, "min_free": s.record_min_free,
                "used": used, "free": self.free, "disk_short": recorder.full}  # fmt: skip

    def forget(self, recording: Recording) -> None:
        """``recording`` was deleted (the owner's page)."""
        self.index = {name: r for name, r in self.index.items() if name != recording.name}

    def _finished(self, recording: Recording) -> None:
        self.index = {**self.index, recording.name: recording}
        log.info("%s: recorded %s (%.1f s, %.1f MB)", recording.camera, recording.path, recording.seconds,
                 recording.bytes / 1e6)  # fmt: skip
        self._sweep_now.set()
        outbox = self._copies.get(recording.camera)
        if outbox is not None:
            outbox.put(recording)

    async def _sweeps(self) -> None:
        while True:
            try:
                short, gone = await asyncio.to_thread(self.sweep, list(self.index.values()))
            except (CamcastError, OSError) as exc:
                log.warning("recordings: %s", exc)
            else:
                self.index = {name: r for name, r in self.index.items() if name not in gone}
                self._apply(short)
            self._sweep_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sweep_now.wait(), SWEEP_EVERY)

    def sweep(self, found: list[Recording]) -> tuple[bool, set[str]]:
        """Delete what of ``found`` (the index) is past the limits, oldest first (in a worker thread);
        returns whether the disk is still short of the free space asked for, and the names deleted."""
        limits = {name: limits_of(r.settings) for name, r in self.recorders.items()}
        writing = frozenset(r.clip.path.name for r in self.recorders.values() if r.clip is not None)
        private_dir(self.folder)
        free = shutil.disk_usage(self.folder).free
        self.free = free
        gone, short = to_delete(found, limits, time.time(), free, writing)
        for recording in gone:
            catalog.delete(recording)
        if gone:
            log.info("recordings: deleted %d, oldest first, to stay within the limits", len(gone))
        return short, {r.name for r in gone}

    def _apply(self, short: bool) -> None:
        """Stop recording while the disk is short (one warning), resume when it is not."""
        for recorder in self.recorders.values():
            if short and not recorder.full and recorder.mode != "off":
                log.warning("%s: recording stops: the disk has less than %.3g GiB free even with the old "
                            "recordings deleted; it resumes when there is room", recorder.name,
                            recorder.settings.record_min_free / 1024**3)  # fmt: skip
            elif recorder.full and not short:
                log.warning("%s: recording resumes: the disk has room again", recorder.name)
            recorder.set_full(short)

    def _recover(self) -> None:
        """Files a crash cut off get a sidecar (listed as incomplete: they play to their last fragment)."""
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("*/*/*.mp4"):
            if not sidecar(path).exists():
                recovered = catalog.recover(path, write=True, events=self._events_in)
                if recovered is not None:
                    log.warning("%s: %s was cut off (%.1f s kept); listed as incomplete", recovered.camera,
                                path, recovered.seconds)  # fmt: skip

    def _events_in(self, camera: str, start: float, end: float) -> tuple[str, ...]:
        """The events of ``camera`` that started between ``start`` and ``end`` (a cut-off clip's)."""
        return tuple(e.id for e in self.events.events() if e.camera == camera and start <= e.start <= end)

    def clips_by_event(self) -> dict[str, Recording]:
        """Each event's clip (the first that names it), from the index."""
        found: dict[str, Recording] = {}
        for recording in self.index.values():
            for event in recording.events:
                found.setdefault(event, recording)
        return found

    # --- copies ----------------------------------------------------------------------------------------
    async def _copier(self, name: str) -> None:
        outbox, store = self._copies[name], self._stores[name]
        while True:
            recording = await outbox.get()
            for attempt in range(len(COPY_BACKOFF) + 1):
                try:
                    await self._copy(store, recording)
                    await self._prune(store, name)
                    break
                except (CamcastError, OSError) as exc:
                    if attempt == len(COPY_BACKOFF):
                        log.warning(
                            "%s: %s not copied to %s: %s", name, recording.name, store.describe(), exc
                        )
                        break
                    log.info(
                        "%s: copying %s to %s: %s; retrying", name, recording.name, store.describe(), exc
                    )
                    await asyncio.sleep(COPY_BACKOFF[attempt])

    async def _prune(self, store: RemoteStore, camera: str) -> None:
        """The copies' own retention: the camera's day folders on the store older than ``max_days``
        go (at most once an hour); a folder not named as a day is never touched."""
        days = self.recorders[camera].settings.record_max_days
        if days is None or time.monotonic() - self._pruned.get(camera, -math.inf) < PRUNE_EVERY:
            return
        self._pruned[camera] = time.monotonic()
        cutoff = datetime.date.today() - datetime.timedelta(days=math.ceil(days))
        for entry in await store.list(camera):
            try:
                day = datetime.date.fromisoformat(entry.name)
            except ValueError:
                continue
            if entry.is_dir and day < cutoff:
                for inside in await store.list(f"{camera}/{entry.name}"):
                    if not inside.is_dir:
                        await store.delete(f"{camera}/{entry.name}/{inside.name}")
                log.info("%s: copies of %s deleted from %s (older than %g days)", camera, entry.name,
                         store.describe(), days)  # fmt: skip

    async def _copy(self, store: RemoteStore, recording: Recording) -> None:
        """The clip, its sidecar and its events' pictures, each uploaded atomically, streamed from the
        disk (a clip may be hours of video: it is never read whole into memory)."""
        day = recording.path.parent.name
        folder = f"{recording.camera}/{day}"
        await store.makedirs(folder)
        for path in (recording.path, sidecar(recording.path),
                     *(self.pictures / f"{event}.jpg" for event in recording.events)):  # fmt: skip
            if not await asyncio.to_thread(path.is_file):
                continue  # deleted meanwhile, or an event without a picture
            await store.put_file(f"{folder}/{path.name}", path)


def copy_store(settings: CameraSettings) -> RemoteStore:
    assert settings.record_copy_to is not None
    try:
        target = parse_target(settings.record_copy_to, settings.upload_password)
    except ConfigError as exc:
        raise ConfigError(exc.message, key="record_copy_to", camera=settings.id) from None
    return open_store(
        target, ca_file=settings.ca_file, fingerprint=settings.fingerprint, active=settings.active,
        identity=settings.identity, s3_access_key=settings.s3_access_key,
        s3_secret_key=settings.s3_secret_key,
    )  # fmt: skip
