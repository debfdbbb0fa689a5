"""One client's RTP session of one camera: its sequence numbers, timestamps and SSRC, its transport
(interleaved in the RTSP connection, or its own UDP sockets), the viewer log entry while it plays, and
the rule for a client that falls behind (see :mod:`camcast.rtsp.server`)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, Protocol

from camcast.rtsp.protocol import Transport
from camcast.rtsp.rtp import RtpFrame, headers, sender_report
from camcast.rtsp.stream import RtpStream
from camcast.security.gate import Principal
from camcast.security.viewers import Session as Viewing
from camcast.security.viewers import ViewerLog

log = logging.getLogger(__name__)

#: Bytes a TCP client may leave unread before it skips to the next keyframe.
HIGH_WATER = 2 * 1024 * 1024
#: Seconds a TCP client may stay over HIGH_WATER before it is dropped.
DROP_AFTER = 10.0
#: Seconds between RTCP sender reports.
REPORT_EVERY = 5.0


class Link(Protocol):
    """The RTSP connection a session belongs to, as the session uses it."""

    address: str
    writer: asyncio.StreamWriter
    closing: bool
    why: str  # why camcast ended the connection, if it did

    @property
    def viewers(self) -> ViewerLog: ...

    def close(self) -> None: ...

    def forget(self, session_id: str) -> None: ...


class RtspSession:
    """One client's stream of one camera."""

    def __init__(
        self, connection: Link, stream: RtpStream, camera: str, transport: Transport, who: Principal | None
    ) -> None:
        self.id = secrets.token_hex(8)
        self.connection = connection
        self.camera = camera
        self.stream = stream
        self.transport = transport
        self.who = who
        self.ssrc = secrets.randbits(32)
        self.sequence = secrets.randbits(16)
        self.offset = secrets.randbits(32)
        self.playing = False
        self.waiting = True  # for a keyframe
        self.packets = 0
        self.octets = 0
        self.last_active = time.monotonic()
        self._last_report = 0.0
        self._slow_since: float | None = None
        self._viewing: Viewing | None = None
        self.udp: tuple[asyncio.DatagramTransport, asyncio.DatagramTransport] | None = None
        self.server_ports = (0, 0)

    async def open_udp(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        rtp, _ = await loop.create_datagram_endpoint(lambda: _Reports(self), local_addr=(host, 0))
        rtcp, _ = await loop.create_datagram_endpoint(lambda: _Reports(self), local_addr=(host, 0))
        self.udp = (rtp, rtcp)
        self.server_ports = (rtp.get_extra_info("sockname")[1], rtcp.get_extra_info("sockname")[1])

    def play(self) -> None:
        if self.playing:
            return
        self.playing = True
        self.waiting = True
        self.stream.add(self.receive)
        self.stream.request_keyframe()
        if self._viewing is None:
            who, via = (self.who.name, self.who.via) if self.who else ("anonymous", "anonymous")
            self._viewing = self.connection.viewers.start(
                self.connection.address, who, via, "rtsp", self.camera
            )

    def pause(self) -> None:
        self.playing = False
        self.stream.remove(self.receive)

    def end(self, why: str = "") -> None:
        """The session ends (torn down, its connection gone, or ended by camcast for ``why``)."""
        self.pause()
        if self._viewing is not None:
            self.connection.viewers.end(self._viewing, why or self.connection.why)
            self._viewing = None
        if self.udp is not None:
            for transport in self.udp:
                transport.close()
            self.udp = None
        self.connection.forget(self.id)

    def rtp_time(self) -> int:
        return self.offset & 0xFFFFFFFF

    def receive(self, frame: RtpFrame) -> None:
        """An RTP stream receiver: the frame to this client, unless it is behind (see the module)."""
        if not self.playing or self.connection.closing:
            return
        if self.transport.tcp and not self._keeping_up():
            return
        if self.waiting:
            if not frame.keyframe:
                return
            self.waiting = False
        stamp = frame.timestamp + self.offset
        heads = headers(len(frame.payloads), self.sequence, stamp, self.ssrc)
        self.sequence += len(heads)
        if self.transport.tcp:
            channel = b"$" + bytes([self.transport.channels[0]])
            parts: list[bytes] = []
            for head, payload in zip(heads, frame.payloads, strict=True):
                parts += [channel + (12 + len(payload)).to_bytes(2, "big") + head, payload]
            self.connection.writer.writelines(parts)
        elif self.udp is not None:
            address = (self.connection.address, self.transport.client_ports[0])
            for head, payload in zip(heads, frame.payloads, strict=True):
                self.udp[0].sendto(head + payload, address)
        if self._viewing is not None:
            self._viewing.frames += 1
        self.packets += len(frame.payloads)
        self.octets += frame.size
        if frame.wall - self._last_report >= REPORT_EVERY:
            self._last_report = frame.wall
            self._report(frame.wall, stamp)

    def _keeping_up(self) -> bool:
        """False while the client's unread bytes are over HIGH_WATER (it waits for the next keyframe);
        a client over it for DROP_AFTER seconds is dropped."""
        if self.connection.writer.transport.get_write_buffer_size() <= HIGH_WATER:
            self._slow_since = None
            return True
        now = time.monotonic()
        self.waiting = True
        self.stream.skips += 1
        if self._slow_since is None:
            self._slow_since = now
        elif now - self._slow_since > DROP_AFTER:
            log.warning("RTSP: %s stopped reading %s; dropped", self.connection.address, self.camera)
            self.connection.close()
        return False

    def _report(self, wall: float, stamp: int) -> None:
        report = sender_report(self.ssrc, wall, stamp, self.sequence, self.octets, "camcast")
        if self.transport.tcp:
            channel = self.transport.channels[1]
            self.connection.writer.write(b"$" + bytes([channel]) + len(report).to_bytes(2, "big") + report)
        elif self.udp is not None:
            self.udp[1].sendto(report, (self.connection.address, self.transport.client_ports[1]))


class _Reports(asyncio.DatagramProtocol):
    """A UDP session's sockets: what the client sends (its RTCP reports) keeps the session alive."""

    def __init__(self, session: RtspSession) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.session.last_active = time.monotonic()
