"""Sources: the pattern, generated video files (decoded and MJPEG passthrough), and reconnecting."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest

from camcast.encode import jpeg
from camcast.errors import SourceError
from camcast.frames import Frame
from camcast.picture.jpeg import decode_rgb
from camcast.sources import open_source
from camcast.sources.media import MediaSource
from camcast.sources.pattern import PatternSource
from camcast.sources.threaded import ThreadedSource
from camcast.sources.v4l2 import Camera, Mode, choose_mode
from tests.media import image_of, jpeg_of


async def take(source: AsyncIterator[Frame], n: int, timeout: float = 10) -> list[Frame]:
    frames: list[Frame] = []

    async def collect() -> None:
        async for frame in source:
            frames.append(frame)
            if len(frames) == n:
                return

    await asyncio.wait_for(collect(), timeout)
    return frames


async def test_pattern_paces_frames_to_fps() -> None:
    """The pattern delivers frames at the configured rate, each one different."""
    source = PatternSource(320, 240, 20)
    start = time.monotonic()
    frames = await take(aiter(source), 21)
    elapsed = time.monotonic() - start
    await source.aclose()
    assert 0.9 <= elapsed <= 1.5
    assert [f.seq for f in frames] == list(range(1, 22))
    assert all(image_of(f) is not None and image_of(f).y.shape == (240, 320) for f in frames)
    a, b = image_of(frames[0]), image_of(frames[1])
    assert a is not None and b is not None
    assert not np.array_equal(a.y, b.y)


def test_pattern_draws_clock_and_counter_band() -> None:
    """Only the moving square and the clock band change between two frames."""
    source = PatternSource(640, 480, 30)
    a, b = source.draw(1, 1000.0), source.draw(2, 1000.5)
    changed_rows = np.flatnonzero((a.y != b.y).any(axis=1))
    assert changed_rows.size > 0
    assert changed_rows.max() < 480 * 2 // 3  # the gradient below the bars never changes


async def test_video_file_is_decoded_at_its_own_rate(video_file: Path) -> None:
    """A file plays at its timestamps (25 fps here) with its own size, as I420 frames."""
    source = open_source(str(video_file), None, None)
    assert isinstance(source, MediaSource)
    start = time.monotonic()
    frames = await take(aiter(source), 26)
    elapsed = time.monotonic() - start
    await source.aclose()
    assert 0.85 <= elapsed <= 1.6, elapsed
    assert image_of(frames[0]) is not None
    assert (frames[0].width, frames[0].height) == (320, 240)
    assert jpeg_of(frames[-1]) is None


async def test_video_file_rescaled_and_looped(video_file: Path) -> None:
    """--size rescales a file, and the file loops when it ends (50 frames at 25 fps)."""
    source = MediaSource(str(video_file), "file", size=(160, 120))
    frames = await take(aiter(source), 60, timeout=6)
    await source.aclose()
    assert all(image_of(f) is not None and image_of(f).y.shape == (120, 160) for f in frames)
    assert [f.seq for f in frames] == list(range(1, 61))


async def test_mjpeg_file_is_passed_through_without_reencoding(mjpeg_file: Path) -> None:
    """An MJPEG stream's own JPEG bytes reach the hub untouched (bar metadata), not re-encoded."""
    with av.open(str(mjpeg_file)) as container:
        originals = [bytes(p) for p in container.demux(video=0) if p.size]
    source = open_source(str(mjpeg_file), None, None)
    frames = await take(aiter(source), 5)
    await source.aclose()
    for frame, original in zip(frames, originals, strict=False):
        assert image_of(frame) is None and jpeg_of(frame) is not None
        assert jpeg_of(frame) == jpeg.clean_camera_jpeg(original)
        assert decode_rgb(jpeg_of(frame)).shape == (240, 320, 3)


async def test_passthrough_off_decodes_mjpeg(mjpeg_file: Path) -> None:
    """With passthrough off, MJPEG is decoded like any other codec."""
    source = open_source(str(mjpeg_file), None, None, passthrough=False)
    frames = await take(aiter(source), 2)
    await source.aclose()
    assert image_of(frames[0]) is not None and jpeg_of(frames[0]) is None


async def test_lost_source_shows_offline_card_and_recovers(
    video_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a looped file disappears the source shows offline frames, then resumes when it returns."""
    monkeypatch.setattr("camcast.sources.threaded.RETRY_DELAYS", (0.3,))
    path = tmp_path / "live.mp4"
    os.link(video_file, path)
    source = MediaSource(str(path), "file")
    frames = aiter(source)
    await take(frames, 3)
    path.unlink()
    assert isinstance(source, ThreadedSource)
    deadline = time.monotonic() + 6
    while source.live and time.monotonic() < deadline:
        await take(frames, 1)
    assert not source.live, "the source did not notice the file was gone"
    offline = await take(frames, 1)
    assert image_of(offline[0]) is not None and (offline[0].width, offline[0].height) == (320, 240)
    os.link(video_file, path)
    deadline = time.monotonic() + 6
    while not source.live and time.monotonic() < deadline:
        await take(frames, 1)
    assert source.live, "the source did not come back"
    await source.aclose()


def test_unreadable_file_is_a_source_error(tmp_path: Path) -> None:
    """A file that is not a video fails at start with a SourceError, not an FFmpeg traceback."""
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    source = open_source(str(junk), None, None)
    assert isinstance(source, ThreadedSource)
    with pytest.raises(SourceError, match=r"junk\.mp4"):
        source.start()


CAMERA = Camera(
    "/dev/video0",
    "Test Cam",
    (
        Mode("YUYV", 640, 480, (30.0, 15.0)),
        Mode("MJPG", 640, 480, (30.0,)),
        Mode("MJPG", 1280, 720, (30.0,)),
        Mode("MJPG", 1920, 1080, (30.0,)),
        Mode("YUYV", 1920, 1080, (5.0,)),
    ),
)


def test_camera_mode_prefers_mjpeg_and_720p_by_default() -> None:
    """Without a size the largest mode up to 1280x720 is chosen, MJPEG first (passthrough)."""
    assert choose_mode(CAMERA, None, None, None) == CAMERA.modes[2]
    assert choose_mode(CAMERA, 640, 480, 30) == CAMERA.modes[1]
    assert choose_mode(CAMERA, 640, 480, 15) == CAMERA.modes[0]


def test_camera_mode_errors_list_what_is_offered() -> None:
    """An unsupported size or rate lists what the camera offers."""
    with pytest.raises(SourceError, match="offers 640x480, 1280x720, 1920x1080"):
        choose_mode(CAMERA, 800, 600, None)
    with pytest.raises(SourceError, match="at 60 fps; it offers 30 fps"):
        choose_mode(CAMERA, 1280, 720, 60)


async def test_http_mjpeg_url_source_passes_through_and_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another server's MJPEG stream is a source: passed through, shown offline when that server
    stops, and resumed when it is back on the same address, without restarting."""
    from tests.conftest import camcast_server, free_port

    monkeypatch.setattr("camcast.sources.threaded.RETRY_DELAYS", (0.3,))
    port = free_port()
    upstream = ("--source", "pattern", "--size", "160x120", "--fps", "10")
    async with camcast_server(*upstream, port=port):
        source = open_source(f"http://127.0.0.1:{port}/stream.mjpg", None, None)
        assert isinstance(source, MediaSource)
        frames = aiter(source)
        first = await take(frames, 3)
        assert all(jpeg_of(f) is not None for f in first)
        assert all(decode_rgb(jpeg_of(f)).shape == (120, 160, 3) for f in first)  # type: ignore[arg-type]
    deadline = time.monotonic() + 10
    while source.live and time.monotonic() < deadline:
        await take(frames, 1)
    assert not source.live
    card = (await take(frames, 1))[0]
    assert image_of(card) is not None and (card.width, card.height) == (160, 120)
    async with camcast_server(*upstream, port=port):
        deadline = time.monotonic() + 10
        while not source.live and time.monotonic() < deadline:
            await take(frames, 1)
        assert source.live
        assert jpeg_of((await take(frames, 1))[0]) is not None
    await source.aclose()


def test_a_files_pictures_keep_the_files_timing_however_late_they_are_read() -> None:
    """A file's pictures are placed on the clock by their own times: a reader woken late (a CPU taken
    by something else, a keyframe's decoding) does not move them, and a file played again goes on one
    picture's interval after its last."""
    from camcast.sources.media import MediaClock

    clock, rng = MediaClock(live=False), np.random.default_rng(1)
    start = 1000.0
    times = [clock.at(n / 15, start + n / 15 + rng.uniform(0, 0.2)) for n in range(300)]
    assert np.allclose(np.diff(times), 1 / 15, atol=1e-9)
    assert times[0] == pytest.approx(start, abs=0.2)
    again = [clock.at(n / 15, times[-1] + 0.01 + n / 15) for n in range(3)]  # played again from its start
    assert np.allclose(np.diff([times[-1], *again]), 1 / 15, atol=1e-9)


def test_a_live_sources_pictures_keep_its_timing_through_network_jitter_and_drift() -> None:
    """A camera's pictures arrive 0–80 ms after they were taken, and its clock runs 100 ppm slow against
    ours: once a picture has come quickly, the intervals are the camera's to within a millisecond, the
    times never run ahead of the arrivals nor fall behind them by more than the jitter, and a camera
    restarting its clock (times going back) still gives times that only grow."""
    from camcast.sources.media import MediaClock

    clock, rng = MediaClock(live=True), np.random.default_rng(2)
    taken = [n / 30 for n in range(30 * 600)]  # ten minutes at 30 fps
    arrived = [
        1000.0 + t * 1.0001 + (0.0 if n % 50 == 0 else rng.uniform(0, 0.08)) for n, t in enumerate(taken)
    ]
    times = np.array([clock.at(t, now) for t, now in zip(taken, arrived, strict=True)])
    steps = np.diff(times[60:])
    assert np.abs(steps - 1 / 30).max() < 0.001
    lag = np.array(arrived) - times
    assert lag.min() >= 0 and lag[60:].max() < 0.1
    again = [clock.at(t, arrived[-1] + 1 + t) for t in (0.0, 1 / 30, 2 / 30)]  # its clock restarted
    assert again[0] > times[-1] and np.all(np.diff(again) > 0)


def test_a_microphones_level_and_whether_its_card_is_there(tmp_path: Path) -> None:
    """The level is the RMS in dBFS (a sine of amplitude 1/8 is -21, silence the floor); a card is
    there when the kernel lists it, by its id or its number (names without a card: ALSA decides)."""
    from camcast.audio.microphone import card_present
    from camcast.frames import FLOOR, dbfs

    t = np.arange(4800) / 48_000
    assert abs(dbfs((np.sin(2 * np.pi * 440 * t) * 32767 / 8).astype(np.int16)) + 21.07) < 0.05
    assert dbfs(np.zeros(480, np.int16)) == FLOOR
    (tmp_path / "asound" / "card1").mkdir(parents=True)
    (tmp_path / "asound" / "C920").symlink_to(tmp_path / "asound" / "card1")
    assert card_present("hw:CARD=C920,DEV=0", str(tmp_path)) and card_present("plughw:1,0", str(tmp_path))
    assert not card_present("hw:CARD=Loopback,DEV=1", str(tmp_path))
    assert not card_present("hw:2", str(tmp_path))
    assert card_present("default", str(tmp_path))
