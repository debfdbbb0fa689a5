"""Fan-out under load: many fast viewers and a deliberately slow one, against the real server process."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest

from camcast.encode import jpeg
from tests.conftest import camcast_server
from tests.mjpeg import read_parts

pytestmark = pytest.mark.timeout(120)

FPS = 20
SECONDS = 5.0
FAST_VIEWERS = 50


async def fast_viewer(session: aiohttp.ClientSession, url: str, stop: float) -> tuple[int, int]:
    """Read parts until ``stop`` (monotonic); return (parts, parts that were not complete JPEGs)."""
    parts = bad = 0
    async with session.get(url) as resp:
        async for part in read_parts(resp):
            parts += 1
            body = part.body
            framed = body.startswith(jpeg.SOI) and body.endswith(jpeg.EOI)
            # Every part's framing is checked; every fifth is fully decoded (decoding all would slow
            # this client below the rate it is measuring).
            if not framed or (parts % 5 == 0 and not jpeg.is_complete(body)):
                bad += 1
            if time.monotonic() >= stop:
                break
    return parts, bad


async def slow_viewer(host: str, port: int, stop: float) -> tuple[int, int, int]:
    """An HTTP/1.0 viewer with a tiny receive buffer reading ~40 KB/s: (parts, incomplete parts, bytes)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, port))
    await loop.sock_sendall(sock, b"GET /stream.mjpg HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    data = bytearray()
    try:
        while time.monotonic() < stop:
            chunk = await loop.sock_recv(sock, 2048)
            if not chunk:
                break
            data += chunk
            await asyncio.sleep(0.05)
    finally:
        sock.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert b"200 OK" in head.split(b"\r\n", 1)[0]
    assert b"chunked" not in head.lower()
    parts = bad = 0
    for piece in body.split(b"--camcastframe\r\n")[1:]:
        headers, sep, rest = piece.partition(b"\r\n\r\n")
        if not sep:
            continue  # the last, unfinished part at the moment the viewer stopped
        length = int(headers.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
        if len(rest) < length + 2:
            continue  # cut off by the viewer leaving, not by the server
        parts += 1
        if rest[length : length + 2] != b"\r\n" or not jpeg.is_complete(rest[:length]):
            bad += 1
    return parts, bad, len(data)


async def test_fifty_fast_viewers_keep_full_rate_beside_a_slow_one() -> None:
    """50 viewers get the full rate while a slow viewer skips frames; memory stays flat; no torn parts."""
    args = ("--source", "pattern", "--size", "320x240", "--fps", str(FPS), "--quality", "90")
    async with camcast_server(*args) as server:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            warm_stop = time.monotonic() + 1.0
            await asyncio.gather(
                *(fast_viewer(session, server.url + "/stream.mjpg", warm_stop) for _ in range(5))
            )
            rss_before = server.rss_kib()
            stop = time.monotonic() + SECONDS
            fast = [fast_viewer(session, server.url + "/stream.mjpg", stop) for _ in range(FAST_VIEWERS)]
            slow_task = asyncio.create_task(slow_viewer("127.0.0.1", server.port, stop))
            sample = asyncio.create_task(_peak_rss(server, stop))
            results = await asyncio.gather(*fast)
            slow_parts, slow_bad, slow_bytes = await slow_task
            rss_peak = await sample
    rates = sorted(parts / SECONDS for parts, _ in results)
    assert sum(bad for _, bad in results) == 0
    assert rates[0] >= FPS * 0.85, rates
    assert slow_bad == 0
    assert 1 <= slow_parts < FPS * SECONDS / 2, (slow_parts, slow_bytes)
    assert rss_peak - rss_before < 15 * 1024, (rss_before, rss_peak)


async def _peak_rss(server: object, stop: float) -> int:
    peak = 0
    while time.monotonic() < stop:
        peak = max(peak, server.rss_kib())  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)
    return peak
