"""``/metrics``: the server's counters in the Prometheus text format (prometheus-client).

Everything shown is read at scrape time from counters camcast keeps anyway: frames captured and
encoded (per frame), encode seconds (per encode), stream parts and bytes sent and slow-viewer skips
(per frame, for all of its viewers at once), viewers by kind (the viewer log's open sessions), source
reconnects, the shutter, and each publisher's uploads. Nothing is counted per viewer per frame, so
watching costs the same with or without a scraper.

The route needs the owner, or the scraper's bearer token (``camcast metrics-token``), which opens
``/metrics`` and nothing else.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from camcast import __version__
from camcast.publish.publisher import UPLOAD_BUCKETS
from camcast.runtime.health import HEALTH
from camcast.server.state import ServerState

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: How the viewer log's routes count as kinds of viewer.
KINDS = {"stream": "mjpeg", "hls": "hls", "webrtc": "webrtc", "rtsp": "rtsp", "snapshot": "pictures"}
#: The kind of every other route (the pages).
PAGES = "pages"


class CamcastCollector(Collector):
    """Reads a server's state into metric families at each scrape."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        st = self.state
        info = GaugeMetricFamily("camcast_info", "camcast's version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        started = GaugeMetricFamily("camcast_uptime_seconds", "Seconds since the server started")
        started.add_metric([], time.monotonic() - st.started)
        yield started

        captured = CounterMetricFamily("camcast_frames_captured", "Frames from the source", labels=["camera"])
        encoded = CounterMetricFamily(
            "camcast_frames_encoded", "Frames encoded, per codec", labels=["camera", "codec"]
        )
        encode_seconds = CounterMetricFamily(
            "camcast_encode_seconds", "Seconds spent drawing and encoding", labels=["camera", "codec"]
        )
        viewers = GaugeMetricFamily("camcast_viewers", "Viewers now, by kind", labels=["camera", "kind"])
        parts = CounterMetricFamily(
            "camcast_stream_frames_sent", "MJPEG pictures sent, over all viewers", labels=["camera"]
        )
        sent = CounterMetricFamily(
            "camcast_stream_bytes_sent", "MJPEG bytes sent, over all viewers", labels=["camera"]
        )
        skips = CounterMetricFamily(
            "camcast_slow_viewer_skips", "Frames slow viewers skipped", labels=["camera", "stream"]
        )
        reconnects = CounterMetricFamily(
            "camcast_source_reconnects", "Times the source came back after going offline", labels=["camera"]
        )
        paused = GaugeMetricFamily(
            "camcast_paused", "1 while the privacy shutter is closed", labels=["camera"]
        )
        up = GaugeMetricFamily("camcast_source_up", "1 while the source delivers pictures", labels=["camera"])
        microphone = GaugeMetricFamily(
            "camcast_microphone_on", "1 while the camera's microphone is open", labels=["camera"]
        )
        level = GaugeMetricFamily("camcast_audio_level_dbfs", "The microphone level (RMS)", labels=["camera"])
        kinds: Counter[tuple[str, str]] = Counter(
            (s.camera, KINDS.get(s.route, PAGES)) for s in st.viewers.open.values()
        )
        for name, served in st.cameras.items():
            camera, hub = served.camera, served.camera.hub
            captured.add_metric([name], hub.frames_in)
            per_codec: dict[str, list[float]] = {}
            for rendition in camera.renditions.values():
                totals = per_codec.setdefault(rendition.encoder.codec, [0, 0.0])
                totals[0] += rendition.frames_encoded
                totals[1] += rendition.encode_seconds
            for codec, (frames, seconds) in per_codec.items():
                encoded.add_metric([name, codec], frames)
                encode_seconds.add_metric([name, codec], seconds)
            for kind in (*KINDS.values(), PAGES):
                viewers.add_metric([name, kind], kinds[(name, kind)])
            parts.add_metric([name], served.fanout.parts_sent)
            sent.add_metric([name], served.fanout.bytes_sent)
            skips.add_metric([name, "mjpeg"], served.fanout.slow_skips)
            skips.add_metric([name, "webrtc"], served.webrtc.skips)
            if st.rtsp is not None:
                skips.add_metric([name, "rtsp"], st.rtsp.streams[name].skips)
            reconnects.add_metric([name], getattr(hub.source, "reconnects", 0))
            paused.add_metric([name], 1 if hub.paused else 0)
            up.add_metric([name], 1 if hub.live else 0)
            mic = camera.sound
            microphone.add_metric([name], 1 if mic is not None and mic.state == "on" else 0)
            if mic is not None and mic.level is not None:
                level.add_metric([name], mic.level)
        yield from (captured, encoded, encode_seconds, viewers, parts, sent, skips, reconnects, paused, up)
        yield from (microphone, level)
        yield from self._uploads()
        yield from self._motion()
        yield from self._recording()
        yield from self._runners()
        yield from _health()

    def _runners(self) -> Iterator[Metric]:
        """Each supervised part: whether it runs, and its failures (bugs) and refusals since the start."""
        supervisor = self.state.supervisor
        if supervisor is None:
            return
        running = GaugeMetricFamily("camcast_runner_up", "1 while the part runs", labels=["runner"])
        failures = CounterMetricFamily(
            "camcast_runner_failures", "Unexpected failures of a part (each restarted)", labels=["runner"]
        )
        refusals = CounterMetricFamily(
            "camcast_runner_stops", "Stops of a part for a known reason (each restarted)", labels=["runner"]
        )
        for child in supervisor:
            running.add_metric([child.name], 1 if child.state == "running" else 0)
            failures.add_metric([child.name], child.failures)
            refusals.add_metric([child.name], child.refusals)
        yield from (running, failures, refusals)

    def _recording(self) -> Iterator[Metric]:
        now = GaugeMetricFamily(
            "camcast_recording", "1 while a recording is being written", labels=["camera"]
        )
        written = CounterMetricFamily(
            "camcast_record_bytes", "Bytes of video recorded (as the packets came)", labels=["camera"]
        )
        files = CounterMetricFamily("camcast_record_files", "Recordings finished", labels=["camera"])
        failures = CounterMetricFamily("camcast_record_failures", "Recordings cut short by a failed write",
                                       labels=["camera"])  # fmt: skip
        full = GaugeMetricFamily(
            "camcast_record_disk_short", "1 while recording waits for free space", labels=["camera"]
        )
        gaps = CounterMetricFamily(
            "camcast_record_gaps", "Recordings ended early: the disk fell behind", labels=["camera"]
        )
        recording = self.state.recording
        for name, recorder in (recording.recorders if recording is not None else {}).items():
            now.add_metric([name], float(recorder.recording))
            written.add_metric([name], recorder.bytes)
            files.add_metric([name], recorder.files)
            failures.add_metric([name], recorder.failures)
            full.add_metric([name], float(recorder.full))
            gaps.add_metric([name], recorder.gaps)
        yield from (now, written, files, failures, full, gaps)

    def _motion(self) -> Iterator[Metric]:
        on = GaugeMetricFamily("camcast_motion", "1 while motion is watched", labels=["camera"])
        active = GaugeMetricFamily(
            "camcast_motion_active", "1 while a motion event is open", labels=["camera"]
        )
        events = CounterMetricFamily(
            "camcast_motion_events", "Motion events started since the server started", labels=["camera"]
        )
        analyses = CounterMetricFamily(
            "camcast_motion_analyses", "Pictures the detector analysed", labels=["camera"]
        )
        lights = CounterMetricFamily(
            "camcast_motion_light_changes", "Changes of the whole picture (lights) not taken for motion",
            labels=["camera"],
        )  # fmt: skip
        motion = self.state.motion
        for name, watcher in (motion.watchers if motion is not None else {}).items():
            on.add_metric([name], float(watcher.enabled))
            active.add_metric([name], float(watcher.active))
            events.add_metric([name], watcher.started)
            analyses.add_metric([name], watcher.analyses)
            lights.add_metric([name], watcher.lights)
        yield from (on, active, events, analyses, lights)

    def _uploads(self) -> Iterator[Metric]:
        publishers = self.state.publishers
        if not publishers:
            return
        duration = HistogramMetricFamily(
            "camcast_upload_seconds", "Seconds to upload a picture and its files", labels=["camera"]
        )
        failures = CounterMetricFamily("camcast_upload_failures", "Uploads that failed", labels=["camera"])
        skipped = CounterMetricFamily(
            "camcast_upload_skipped",
            "Pictures replaced by a newer one before their upload",
            labels=["camera"],
        )
        withheld = CounterMetricFamily(
            "camcast_upload_withheld", "Pictures not taken while the shutter was closed", labels=["camera"]
        )
        last = GaugeMetricFamily(
            "camcast_last_upload_timestamp_seconds", "Unix time of the last good upload", labels=["camera"]
        )
        for name, publisher in publishers.items():
            stats = publisher.stats
            cumulative, buckets = 0, []
            for bound, count in zip((*UPLOAD_BUCKETS, float("inf")), stats.duration_counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            duration.add_metric([name], buckets, stats.duration_sum)
            failures.add_metric([name], stats.failures)
            skipped.add_metric([name], stats.skipped)
            withheld.add_metric([name], stats.withheld)
            if stats.last_ok is not None:
                last.add_metric([name], stats.last_ok)
        yield from (duration, failures, skipped, withheld, last)


def registry(state: ServerState) -> CollectorRegistry:
    """A registry of its own (not prometheus-client's global one) holding this server's collector."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(CamcastCollector(state))
    return reg


def exposition(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)


def _health() -> Iterator[Metric]:
    """What fails without stopping (:mod:`camcast.runtime.health`): each part failing now, and every
    part's failures since the start."""
    failing = GaugeMetricFamily(
        "camcast_failing", "1 while a part fails (a write, a notifier, an upload)", labels=["part"]
    )
    now = HEALTH.failing()
    for part in now:
        failing.add_metric([part], 1)
    failures = CounterMetricFamily("camcast_failures", "Failures of a part that went on", labels=["part"])
    for part, count in sorted(HEALTH.failures.items()):
        failures.add_metric([part], count)
    yield from (failing, failures)
