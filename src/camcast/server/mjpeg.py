"""``/stream.mjpg``: one multipart/x-mixed-replace stream per viewer, fed by a single fan-out.

The rendition calls :meth:`Fanout.deliver` once per encoded frame. It builds the frame's multipart part
once (headers, JPEG, the next boundary, and the HTTP/1.1 chunk framing around them) and hands the same
bytes to every viewer's socket: no task wake-up, copy or queue per viewer and frame, which is
what lets one Python process feed hundreds of viewers. On Linux the part is put in a memory file once
per frame and sent with ``sendfile``, so the kernel passes page references instead of copying the frame
into every socket: measured, this halves the kernel's share of the fan-out (docs/benchmarks.md). TLS
connections, which must encrypt, and other systems use the transport's ordinary ``write``.

Backpressure comes from the socket: a viewer whose previous part is still in its transport buffer is
skipped for this frame and gets the newest frame at the first frame after its socket drains. So a slow
viewer holds at most one part in memory, never slows the others, and never gets a torn part: each part
is written whole, in order, before the next one is considered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.http import HttpVersion11

from camcast.encode.rendition import Rendition
from camcast.frames import EncodedFrame

#: Seconds between checks that an idle viewer (no frames arriving, e.g. a stalled source) is still
#: connected; frames themselves notice a disconnect at once.
LIVENESS_CHECK = 2.0

#: Multipart boundary of ``/stream.mjpg``; fixed so a part can be built once per frame for all viewers.
BOUNDARY = "camcastframe"

GOLDEN = (5**0.5 - 1) / 2

_memfd_create = getattr(os, "memfd_create", None)


#: The request's MJPEG viewer, for the handler that logs how many pictures it was sent.
VIEWER: web.RequestKey[Viewer | None] = web.RequestKey("viewer")


@dataclass(frozen=True, slots=True)
class Part:
    """One frame framed for the stream, built once for every viewer.

    ``chunk`` is the whole HTTP/1.1 chunk; the multipart part (headers, JPEG, and the *next* boundary,
    so a browser shows the frame as soon as it arrives: Chromium renders a part only when the
    following boundary is seen, as mjpg-streamer's framing also accounts for) stands in it at
    ``[start, end)``, so one buffer serves both chunked and connection-delimited responses.
    """

    captured: float
    chunk: bytes
    start: int
    end: int

    @classmethod
    def of(cls, frame: EncodedFrame) -> Part:
        data = frame.payload.data
        head = (
            "Content-Type: image/jpeg\r\n"
            f"Content-Length: {len(data)}\r\n"
            f"X-Timestamp: {frame.wall:.6f}\r\n\r\n"
        ).encode("ascii")
        tail = f"\r\n--{BOUNDARY}\r\n".encode("ascii")
        size = len(head) + len(data) + len(tail)
        prefix = f"{size:x}\r\n".encode("ascii")
        chunk = b"".join((prefix, head, data, tail, b"\r\n"))
        return cls(frame.time, chunk, len(prefix), len(prefix) + size)


@dataclass(eq=False)
class Viewer:
    """One open stream. ``interval`` (seconds) caps its frame rate; 0 sends every frame.

    ``fd`` is the socket's descriptor when parts may be sent with ``sendfile`` (plain TCP on Linux),
    else -1.
    """

    transport: asyncio.Transport
    chunked: bool
    interval: float = 0.0
    fd: int = -1
    frames_sent: int = 0
    _next_due: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, part: Part, memfd: int = -1) -> None:
        """Send ``part`` if the socket is ready and the rate cap allows; otherwise skip it.

        ``memfd``, when given, is a file holding ``part.chunk``, for ``sendfile``.
        """
        self.send(part.captured, part.chunk, part.start, part.end, memfd)

    def send(self, captured: float, data: bytes, part_start: int, part_end: int, memfd: int) -> bool | None:
        """The per-viewer hot path of :meth:`offer`: ``data`` is the frame's chunk, holding its part at
        ``[part_start, part_end)``; ``captured`` is the monotonic capture time. Returns True when sent,
        False when skipped because this viewer is still sending an older part, None when not due."""
        transport = self.transport
        if transport.is_closing():
            self.done.set()
            return None
        if self.interval:
            if captured < self._next_due:
                return None
            # Advance by whole intervals so the average rate is exact despite capture jitter; start
            # afresh after a gap (the first frame, a stalled source).
            self._next_due += self.interval
            if self._next_due <= captured:
                self._next_due = captured + self.interval
        if transport.get_write_buffer_size():
            return False  # still sending an older part: this viewer skips this frame
        start, end = (0, len(data)) if self.chunked else (part_start, part_end)
        sent = 0
        if memfd >= 0 and self.fd >= 0:
            # The transport's buffer is empty (checked above), so writing to its socket directly
            # keeps the byte order; asyncio's own loop.sendfile relies on the same rule.
            try:
                sent = os.sendfile(self.fd, memfd, start, end - start)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.done.set()
                return None
        if start + sent < end:
            transport.write(memoryview(data)[start + sent : end])
        self.frames_sent += 1
        return True


class Fanout:
    """The set of open streams, attached to the rendition only while there is at least one."""

    def __init__(self, rendition: Rendition) -> None:
        self.rendition = rendition
        self.viewers: set[Viewer] = set()
        self.last: Part | None = None
        self._turn = 0.0
        #: Counted once per frame, never per viewer: parts sent and their bytes, and slow-viewer skips.
        self.parts_sent = 0
        self.bytes_sent = 0
        self.slow_skips = 0

    def deliver(self, frame: EncodedFrame) -> None:
        part = self.last = Part.of(frame)
        data, captured, part_start, part_end = part.chunk, part.captured, part.start, part.end
        memfd = -1
        if _memfd_create is not None and any(v.fd >= 0 for v in self.viewers):
            memfd = _frame_file(data)
        # Start each frame at a different viewer, so that no one is always served last: the wait for
        # the others' sends is shared out instead of falling on the same viewers every frame.
        # The start moves by the golden ratio of the round each frame, which visits the positions
        # evenly whatever the number of viewers.
        viewers = tuple(self.viewers)
        self._turn = (self._turn + GOLDEN) % 1.0
        turn = int(self._turn * len(viewers))
        sent = skipped = 0
        try:
            for viewer in viewers[turn:] + viewers[:turn]:
                result = viewer.send(captured, data, part_start, part_end, memfd)
                if result:
                    sent += 1
                elif result is False:
                    skipped += 1
        finally:
            self.parts_sent += sent
            self.bytes_sent += sent * (part_end - part_start)
            self.slow_skips += skipped
            if memfd >= 0:
                os.close(memfd)

    def add(self, viewer: Viewer) -> None:
        if not self.viewers:
            self.rendition.add_listener(self.deliver)
        self.viewers.add(viewer)
        # Show something at once rather than after the next capture (which may be seconds away when
        # the source is slow or offline).
        latest = self.rendition.last_encoded
        if latest is not None:
            if self.last is None or self.last.captured != latest.time:
                self.last = Part.of(latest)
            viewer.offer(self.last)

    def discard(self, viewer: Viewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)
            if not self.viewers:
                self.rendition.remove_listener(self.deliver)

    def close_all(self) -> None:
        for viewer in self.viewers:
            viewer.done.set()


def _frame_file(data: bytes) -> int:
    """A sealed-by-convention memory file holding ``data``; it is never written again once sent."""
    assert _memfd_create is not None
    fd: int = _memfd_create("camcast-frame", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        raise
    return fd


def _sendfile_fd(transport: asyncio.Transport) -> int:
    """The socket descriptor if parts may bypass the transport (plain TCP, Linux), else -1."""
    if _memfd_create is None or transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    with contextlib.suppress(AttributeError, OSError):
        return int(sock.fileno())
    return -1


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
    # Chunked framing exists in HTTP/1.1 only (aiohttp refuses it for any other version a client
    # claims); other versions get the stream delimited by closing the connection, as HTTP/1.0 does.
    chunked = request.version == HttpVersion11
    if chunked:
        response.enable_chunked_encoding()
    response.force_close()
    # A client gone before these are written raises ConnectionError, which the server's error
    # middleware takes as the quiet end of a visit.
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    await response.write(f"--{BOUNDARY}\r\n".encode("ascii"))
    transport = request.transport
    if transport is None or transport.is_closing():
        return response
    assert isinstance(transport, asyncio.Transport)
    viewer = Viewer(transport, chunked, 1.0 / max_fps if max_fps else 0.0, _sendfile_fd(transport))
    request[VIEWER] = viewer
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
