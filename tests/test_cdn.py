"""A CDN edge in front of the video: Debian's nginx with proxy_cache, in front of camcast's /hls/ and in
front of the S3 bucket it publishes to. Two hundred HLS readers through it cost about one request per
segment upstream; ffmpeg plays through it."""

from __future__ import annotations

import asyncio
import collections
import re
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import camcast_server
from tests.media import ffmpeg_frames
from tests.peers import S3_KEY, S3_SECRET, S3Peer, nginx_server
from tests.test_publish import publishing

pytestmark = pytest.mark.timeout(120)

PATTERN = ("--source", "pattern", "--size", "320x240", "--fps", "15")
READERS = 200


async def hls_reader(session: aiohttp.ClientSession, playlist: str, seconds: float) -> set[str]:
    """A player's requests, without the player: reload the playlist twice a segment, fetch the init
    segment and each segment not fetched yet (from the newest three). Returns the files it got."""
    base = playlist.rsplit("/", 1)[0] + "/"
    got: set[str] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with session.get(playlist) as resp:
            assert resp.status == 200
            text = await resp.text()
        names = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)
        segments = [line for line in text.splitlines() if line.endswith(".m4s") and not line.startswith("#")]
        names += segments[-3:]
        for name in names:
            if name not in got:
                async with session.get(base + name) as resp:
                    assert resp.status == 200, name
                    await resp.read()
                got.add(name)
        await asyncio.sleep(0.5)
    return got


async def many_readers(playlist: str, seconds: float) -> list[set[str]]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await asyncio.gather(*(hls_reader(session, playlist, seconds) for _ in range(READERS)))


def fetches_per_file(fetches: list[tuple[str, str, str]], pattern: str) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for uri, _, status in fetches:
        name = uri.rsplit("/", 1)[-1]
        if re.fullmatch(pattern, name):
            counts[name] += 1
            assert status == "200", (uri, status)
    return dict(counts)


async def test_nginx_cache_in_front_of_camcast(tmp_path: Path) -> None:
    """200 readers of /hls/ through nginx: each gets every segment, and camcast serves each segment
    file about once (nginx collapses the misses and keeps immutable files); ffmpeg plays 10 s through
    the same edge at the same time."""
    async with camcast_server(*PATTERN) as server:
        with nginx_server(tmp_path, server.url + "/") as edge:
            playlist = edge.url + "/hls/index.m3u8"
            readers = asyncio.create_task(many_readers(playlist, 8))
            frames = await ffmpeg_frames(playlist, 10)
            got = await readers
    assert frames >= 10 * 15 * 0.9, frames
    assert min(len(g) for g in got) >= 6  # the init segment and 5 or more segments each
    per_segment = fetches_per_file(edge.upstream_fetches(), r"seg-[0-9a-f]+-\d+\.m4s")
    assert per_segment and max(per_segment.values()) <= 2, per_segment
    assert sum(per_segment.values()) <= 1.2 * len(per_segment), per_segment


async def test_nginx_cache_in_front_of_the_bucket(
    s3_peer: S3Peer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The video published to S3, read by 200 readers through nginx in front of the bucket: each
    segment is fetched from the bucket about once, the playlist about once a second."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    s3_peer.create_bucket("edge")
    args = (*PATTERN, "--to", s3_peer.url("edge", "cam/"), "--hls", "--hls-segment", "1", "--every", "5")
    async with publishing(*args):
        with nginx_server(tmp_path, s3_peer.public("edge", "")) as edge:
            playlist = edge.url + "/cam/hls/index.m3u8"

            async def ready() -> bool:
                async with aiohttp.ClientSession() as session, session.get(playlist) as resp:
                    return resp.status == 200 and (await resp.text()).count("#EXTINF") >= 2

            deadline = time.monotonic() + 30
            while not await ready():
                assert time.monotonic() < deadline, "no playlist in the bucket"
                await asyncio.sleep(0.3)
            seconds = 6
            got = await many_readers(playlist, seconds)
    assert min(len(g) for g in got) >= 4
    fetches = edge.upstream_fetches()
    per_segment = fetches_per_file(fetches, r"seg-[0-9a-f]+-\d+\.m4s")
    assert per_segment and max(per_segment.values()) <= 2, per_segment
    playlist_fetches = sum(1 for uri, _, _ in fetches if uri.endswith("index.m3u8"))
    # max-age=1: about one a second (the wait for the first playlist included), not one per reader
    # (200 readers would be hundreds); seen up to 23 in 11 s with another test loading the machine.
    assert playlist_fetches <= 3 * (seconds + 5), playlist_fetches
