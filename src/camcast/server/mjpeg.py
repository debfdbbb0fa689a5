"""``/stream.mjpg``: one multipart/x-mixed-replace stream per viewer, fed by a single fan-out.

The hub calls :meth:`Fanout.deliver` once per encoded frame; it writes the frame's prebuilt part (the
same bytes object for every viewer) straight to each viewer's transport. There is no task wake-up,
copy or queue per viewer and frame, which is what lets one Python process feed hundreds of viewers.

Backpressure comes from the socket: a viewer whose previous part is still in its transport buffer is
skipped for this frame and gets the newest frame at the first frame after its socket drains. So a slow
viewer holds at most one part in memory, never slows the others, and never gets a torn part: each part
is written whole, in one call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.http import HttpVersion11

from camcast.frames import BOUNDARY, JpegFrame
from camcast.hub import Hub

#: Seconds between checks that an idle viewer (no frames arriving, e.g. a stalled source) is still
#: connected; frames themselves notice a disconnect at once.
LIVENESS_CHECK = 2.0


@dataclass(eq=False)
class Viewer:
    """One open stream. ``interval`` (seconds) caps its frame rate; 0 sends every frame."""

    transport: asyncio.Transport
    chunked: bool
    interval: float = 0.0
    frames_sent: int = 0
    frames_skipped: int = 0
    bytes_sent: int = 0
    started: float = field(default_factory=time.time)
    _next_due: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, frame: JpegFrame) -> None:
        """Send ``frame`` if the socket is ready and the rate cap allows; otherwise skip it."""
        transport = self.transport
        if transport.is_closing():
            self.done.set()
            return
        if self.interval:
            if frame.time < self._next_due:
                return
            # Advance by whole intervals so the average rate is exact despite capture jitter; start
            # afresh after a gap (the first frame, a stalled source).
            self._next_due += self.interval
            if self._next_due <= frame.time:
                self._next_due = frame.time + self.interval
        if transport.get_write_buffer_size():
            self.frames_skipped += 1
            return
        data = frame.chunk if self.chunked else frame.part
        transport.write(data)
        self.frames_sent += 1
        self.bytes_sent += len(data)


class Fanout:
    """The set of open streams, attached to the hub only while there is at least one."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.viewers: set[Viewer] = set()

    def deliver(self, frame: JpegFrame) -> None:
        for viewer in tuple(self.viewers):
            viewer.offer(frame)

    def add(self, viewer: Viewer) -> None:
        if not self.viewers:
            self.hub.add_listener(self.deliver)
        self.viewers.add(viewer)
        # Show something at once rather than after the next capture (which may be seconds away when
        # the source is slow or offline).
        latest = self.hub.last_encoded
        if latest is not None:
            viewer.offer(latest)

    def discard(self, viewer: Viewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)
            if not self.viewers:
                self.hub.remove_listener(self.deliver)

    def close_all(self) -> None:
        for viewer in self.viewers:
            viewer.done.set()


async def stream(request: web.Request, fanout: Fanout, max_fps: float | None) -> web.StreamResponse:
    """Serve ``/stream.mjpg`` to one viewer until it disconnects or the server stops."""
    response = web.StreamResponse(
        headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
            "Pragma": "no-cache",
            "Connection": "close",
        }
    )
    chunked = request.version >= HttpVersion11
    if chunked:
        response.enable_chunked_encoding()
    response.force_close()
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    await response.write(f"--{BOUNDARY}\r\n".encode("ascii"))
    transport = request.transport
    if transport is None or transport.is_closing():
        return response
    assert isinstance(transport, asyncio.Transport)
    viewer = Viewer(transport, chunked, 1.0 / max_fps if max_fps else 0.0)
    request["viewer"] = viewer
    fanout.add(viewer)
    try:
        while not viewer.done.is_set():
            try:
                await asyncio.wait_for(viewer.done.wait(), LIVENESS_CHECK)
            except TimeoutError:
                if transport.is_closing():
                    break
    finally:
        fanout.discard(viewer)
    return response
