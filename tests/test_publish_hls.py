"""`publish --hls`: video segments and a playlist to a folder, pyftpdlib (FTP) and OpenSSH (SFTP), read
back by ffprobe; the bounds when the link is slow; nothing uploaded while the shutter is closed."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from camcast.camera import Camera
from camcast.config import CameraSettings
from camcast.publish.hls import MAX_PENDING, HlsPublisher
from camcast.publish.local import LocalStore
from tests.media import ffprobe_json
from tests.peers import pyftpdlib_server, sshd_server
from tests.test_publish import publishing, upload_password  # noqa: F401 - an autouse fixture
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)

SOURCE = ("--source", "pattern", "--size", "320x240", "--fps", "15")


def playlist_names(folder: Path) -> list[str]:
    try:
        text = (folder / "hls" / "index.m3u8").read_text()
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.endswith(".m4s")] + re.findall(r'URI="([^"]+)"', text)


def media_sequence(folder: Path) -> int:
    try:
        return int(re.findall(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", (folder / "hls" / "index.m3u8").read_text())[0])
    except (FileNotFoundError, IndexError):
        return -1


async def test_hls_to_a_folder_ftp_and_sftp(tmp_path: Path) -> None:
    """The same video goes to a folder, FTP and SFTP at once: every playlist read names only files that
    are there, segments that left the window are deleted, nothing temporary is left, and ffprobe reads
    the published playlist as H.264 at the configured size."""
    with pyftpdlib_server(tmp_path / "ftp") as ftp, sshd_server(tmp_path) as ssh:
        known = tmp_path / "home" / ".ssh" / "known_hosts"
        known.parent.mkdir()
        known.write_text(ssh.host_key_line + "\n")
        sites = {
            str(tmp_path / "site"): tmp_path / "site",
            ftp.url + "cam/": ftp.root / "cam",
            f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{ssh.root}/site": ssh.root / "site",
        }
        video = ("--hls", "--hls-segment", "1", "--hls-window", "3", "--every", "5")
        async with contextlib.AsyncExitStack() as stack:
            for url in sites:
                extra = ("--identity", str(ssh.identity)) if url.startswith("sftp") else ()
                await stack.enter_async_context(publishing(*SOURCE, "--to", url, *video, *extra))
            for folder in sites.values():
                while media_sequence(folder) < 4:  # 7 segments published, 4 of them left the window
                    names = playlist_names(folder)
                    assert all((folder / "hls" / name).exists() for name in names), names
                    await asyncio.sleep(0.1)
        for folder in sites.values():
            assert len(playlist_names(folder)) == 4  # three segments and their init segment
            segments = sorted((folder / "hls").glob("seg-*.m4s"))
            assert 3 <= len(segments) <= 3 + 3 + 1, segments  # listed, and those that left lately
            assert not list(folder.rglob(".camcast-*"))
            streams = ffprobe_json(str(folder / "hls" / "index.m3u8"))["streams"]
            assert streams == [{"codec_name": "h264", "width": 320, "height": 240}]
            assert 'data-hls="hls/index.m3u8"' in (folder / "stream.html").read_text()


@contextlib.asynccontextmanager
async def video_publisher(store: LocalStore, paused: list[bool]) -> AsyncIterator[HlsPublisher]:
    camera = Camera.open(CameraSettings(source="pattern", size=(160, 120), fps=15))
    video = camera.rendition("publish", codec="h264")
    publisher = HlsPublisher(video, store, segment_seconds=1, window=6, paused=lambda: paused[0])
    await publisher.prepare()
    tasks = [asyncio.create_task(camera.run()), asyncio.create_task(publisher.run())]
    try:
        yield publisher
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await camera.aclose()


async def test_slow_link_drops_the_oldest_segments_and_marks_the_gap(tmp_path: Path) -> None:
    """Segments come faster than a slow link takes them: at most MAX_PENDING wait, the oldest are
    dropped (counted), and the playlist marks the gap with EXT-X-DISCONTINUITY."""

    class SlowStore(LocalStore):
        async def put_atomic(self, path: str, data: bytes) -> None:
            if path.endswith(".m4s"):
                await asyncio.sleep(2.5)  # a segment takes 2.5 s to go up; one is made every second
            await super().put_atomic(path, data)

    async with video_publisher(SlowStore(tmp_path), [False]) as publisher:
        most = 0
        while publisher.stats.dropped < 2 or publisher.stats.segments < 3:
            most = max(most, publisher.waiting)
            await asyncio.sleep(0.05)
            assert publisher.stats.dropped < 20, "never caught up"
    assert most <= MAX_PENDING
    text = (tmp_path / "hls" / "index.m3u8").read_text()
    assert "#EXT-X-DISCONTINUITY\n" in text


def newest(publisher: HlsPublisher) -> int:
    """The hub's number of the newest frame the publisher's rendition was handed (0 before any)."""
    latest = publisher.rendition.latest
    return latest.seq if latest is not None else 0


async def test_nothing_is_uploaded_while_the_shutter_is_closed(tmp_path: Path) -> None:
    """Closing the shutter stops the video uploads (the encoder is let go); opening it resumes them
    after an EXT-X-DISCONTINUITY."""
    paused = [False]
    async with video_publisher(LocalStore(tmp_path), paused) as publisher:
        await until(lambda: publisher.stats.segments >= 2)
        paused[0] = True
        await until(lambda: publisher.rendition.listeners == [])  # the encoder is let go

        def frames_after(n: int) -> Callable[[], bool]:
            seq = newest(publisher)
            return lambda: newest(publisher) >= seq + n

        await until(frames_after(15))  # a second of capture: a segment already going up has landed
        closed_at = publisher.stats.segments
        await until(frames_after(45))  # three segments' worth of capture: none is made
        assert publisher.stats.segments == closed_at
        paused[0] = False
        await until(lambda: publisher.stats.segments >= closed_at + 2)
    text = (tmp_path / "hls" / "index.m3u8").read_text()
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
