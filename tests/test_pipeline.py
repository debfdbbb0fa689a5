"""The pipeline in one process: hub, renditions, the MJPEG fan-out over a socket pair, and the camera's
sharing of renditions. Fast, and checked for leaked threads and descriptors."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable

import pytest

from camcast.camera import Camera
from camcast.config import CameraSettings
from camcast.encode import jpeg
from camcast.encode.rendition import Rendition
from camcast.encode.stripes import JpegEncoder
from camcast.frames import EncodedFrame, Yuv420, of_image, of_jpeg
from camcast.hub import Hub
from camcast.picture.jpeg import decode_rgb
from camcast.server.mjpeg import BOUNDARY, Fanout, Part, Viewer
from camcast.sources.pattern import PatternSource
from tests.waiting import until

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("no_leaks")]


async def running(*jobs: Awaitable[None]) -> list[asyncio.Task[None]]:
    return [asyncio.ensure_future(job) for job in jobs]


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_each_frame_is_encoded_once_for_every_listener() -> None:
    """Three listeners of one rendition get the very same encoded frames; one encode per frame."""
    hub = Hub(PatternSource(160, 120, 30))
    rendition = Rendition(JpegEncoder(80))
    hub.subscribe(rendition.receive)
    got: list[list[EncodedFrame]] = [[], [], []]
    for seen in got:
        rendition.add_listener(seen.append)
    tasks = await running(hub.run(), rendition.run())
    try:
        await until(lambda: len(got[0]) >= 15)
    finally:
        await stop(tasks)
        rendition.close()
    n = min(len(seen) for seen in got)
    assert all(got[0][i] is got[1][i] is got[2][i] for i in range(n))
    assert rendition.frames_encoded <= len(got[0]) + 1
    assert [f.seq for f in got[0]] == sorted({f.seq for f in got[0]})
    assert jpeg.is_complete(got[0][-1].payload.data)


async def test_nothing_is_encoded_without_a_listener_and_snapshots_share() -> None:
    """With no listener a rendition encodes nothing; concurrent snapshots of one frame share one encode."""
    hub = Hub(PatternSource(160, 120, 30))
    rendition = Rendition(JpegEncoder(80))
    hub.subscribe(rendition.receive)
    tasks = await running(hub.run(), rendition.run())
    try:
        await until(lambda: hub.frames_in >= 5)
        assert rendition.frames_encoded == 0
        hub.pause()  # frames stop changing: one card a second
        await until(lambda: hub.latest is not None and hub.latest.seq == rendition.latest.seq)  # type: ignore[union-attr]
        a, b, c = await asyncio.gather(rendition.snapshot(), rendition.snapshot(), rendition.snapshot())
        assert a is b is c
        assert rendition.frames_encoded == 1
    finally:
        await stop(tasks)
        rendition.close()


async def test_a_cameras_own_jpeg_passes_through_unless_drawn_on() -> None:
    """A JPEG frame with nothing drawn on it is handed on as it is (no encode); a caption decodes it."""
    data = jpeg.encode(Yuv420.blank(64, 48, 100), 80)
    plain = Rendition(JpegEncoder(80))
    plain.receive(of_jpeg(1, data, 64, 48))
    assert (await plain.snapshot()).payload.data is data and plain.frames_encoded == 0

    def draw(image: Yuv420, wall: float) -> Yuv420:
        image.y[:8] = 255
        return image

    drawn = Rendition(JpegEncoder(80), [draw])
    drawn.receive(of_jpeg(1, data, 64, 48))
    result = await drawn.snapshot()
    assert result.payload.data != data and drawn.frames_encoded == 1
    assert decode_rgb(result.payload.data)[0, 0].min() > 240
    for r in (plain, drawn):
        r.close()


async def test_outputs_that_draw_the_same_share_one_rendition() -> None:
    """serve and publish share a rendition when they draw the same, whatever tables say it."""
    same = CameraSettings(source="pattern", size=(160, 120), text="hi", outputs={"serve": {"text": "hi"}})
    camera = Camera(same, PatternSource(160, 120, 10))
    assert camera.rendition("serve") is camera.rendition("publish")
    await camera.aclose()
    differs = CameraSettings(source="pattern", size=(160, 120), outputs={"publish": {"text": "PUB"}})
    camera = Camera(differs, PatternSource(160, 120, 10))
    assert camera.rendition("serve") is not camera.rendition("publish")
    assert camera.rendition("snapshot") is camera.rendition("serve")
    await camera.aclose()


async def test_fanout_writes_whole_parts_and_skips_a_full_socket() -> None:
    """Over a real socket pair: a viewer gets whole multipart parts; one whose socket is full skips
    frames instead of queueing them, and gets the newest once it drains."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    rendition = Rendition(JpegEncoder(80))
    fanout = Fanout(rendition)
    viewer = Viewer(transport, chunked=False, fd=ours.fileno())  # type: ignore[arg-type]
    fanout.add(viewer)
    pattern = PatternSource(320, 240, 30)
    try:
        frames = [await rendition.encode(of_image(i, pattern.draw(i, 1000.0 + i / 30))) for i in range(1, 40)]
        for frame in frames:  # far more than the small socket buffer holds, and nobody reads yet
            fanout.deliver(frame)
        assert viewer.frames_sent < len(frames)  # the rest were skipped, not queued
        assert transport.get_write_buffer_size() < 2 * len(Part.of(frames[0]).chunk)
        received = bytearray()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = theirs.recv(1 << 16)
            except BlockingIOError:
                if not transport.get_write_buffer_size():
                    break
                await asyncio.sleep(0.01)
                continue
            received += chunk
        parts = bytes(received).split(f"\r\n--{BOUNDARY}\r\n".encode())
        complete = [p for p in parts if p]
        assert len(complete) == viewer.frames_sent
        for part in complete:
            head, _, body = part.partition(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            assert len(body) == length and jpeg.is_complete(body)
    finally:
        fanout.discard(viewer)
        transport.close()
        theirs.close()
        rendition.close()
