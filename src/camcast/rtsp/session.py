"""One client's RTP session of one camera: per track (the video; the sound, when the client sets it up)
its sequence numbers, timestamps and SSRC and its transport (interleaved in the RTSP connection, or
its own UDP sockets); the viewer log entry while it plays, and the rule for a client that falls
behind (see :mod:`camcast.rtsp.server`)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, Protocol

from camcast.rtsp.protocol import Transport
from camcast.rtsp.rtp import OPUS_PAYLOAD_TYPE, PAYLOAD_TYPE, RtpFrame, headers, sender_report
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


class Leg:
    """One track of a session as it travels: its transport (interleaved channels, or UDP ports and
    the server's sockets for them), SSRC, sequence numbers, timestamp offset and RTCP counts."""

    def __init__(self, session: RtspSession, transport: Transport) -> None:
        self.session = session
        self.transport = transport
        self.ssrc = secrets.randbits(32)
        self.sequence = secrets.randbits(16)
        self.offset = secrets.randbits(32)
        self.packets = 0
        self.octets = 0
        self.udp: tuple[asyncio.DatagramTransport, asyncio.DatagramTransport] | None = None
        self.server_ports = (0, 0)
        self._last_report = 0.0

    async def open_udp(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        rtp, _ = await loop.create_datagram_endpoint(lambda: _Reports(self.session), local_addr=(host, 0))
        rtcp, _ = await loop.create_datagram_endpoint(lambda: _Reports(self.session), local_addr=(host, 0))
        self.udp = (rtp, rtcp)
        self.server_ports = (rtp.get_extra_info("sockname")[1], rtcp.get_extra_info("sockname")[1])

    def rtp_time(self) -> int:
        return self.offset & 0xFFFFFFFF

    def send(self, frame: RtpFrame, payload_type: int) -> None:
        """``frame``'s packets behind this leg's headers, and now and then a sender report."""
        connection = self.session.connection
        stamp = frame.timestamp + self.offset
        heads = headers(len(frame.payloads), self.sequence, stamp, self.ssrc, payload_type)
        self.sequence += len(heads)
        if self.transport.tcp:
            channel = b"$" + bytes([self.transport.channels[0]])
            parts: list[bytes] = []
            for head, payload in zip(heads, frame.payloads, strict=True):
                parts += [channel + (12 + len(payload)).to_bytes(2, "big") + head, payload]
            connection.writer.writelines(parts)
        elif self.udp is not None:
            address = (connection.address, self.transport.client_ports[0])
            for head, payload in zip(heads, frame.payloads, strict=True):
                self.udp[0].sendto(head + payload, address)
        self.packets += len(frame.payloads)
        self.octets += frame.size
        if frame.wall - self._last_report >= REPORT_EVERY:
            self._last_report = frame.wall
            self._report(frame.wall, stamp)

    def _report(self, wall: float, stamp: int) -> None:
        report = sender_report(self.ssrc, wall, stamp, self.sequence, self.octets, "camcast")
        connection = self.session.connection
        if self.transport.tcp:
            channel = self.transport.channels[1]
            connection.writer.write(b"$" + bytes([channel]) + len(report).to_bytes(2, "big") + report)
        elif self.udp is not None:
            self.udp[1].sendto(report, (connection.address, self.transport.client_ports[1]))

    def close(self) -> None:
        if self.udp is not None:
            for transport in self.udp:
                transport.close()
            self.udp = None


class RtspSession:
    """One client's stream of one camera: its video, and its sound once the client sets up the
    camera's sound track (:meth:`add_sound`)."""

    def __init__(
        self, connection: Link, stream: RtpStream, camera: str, transport: Transport, who: Principal | None
    ) -> None:
        self.id = secrets.token_hex(8)
        self.connection = connection
        self.camera = camera
        self.stream = stream
        self.who = who
        self.video = Leg(self, transport)
        self.sound: Leg | None = None
        self.playing = False
        self.waiting = True  # for a keyframe
        self.last_active = time.monotonic()
        self._slow_since: float | None = None
        self._viewing: Viewing | None = None

    @property
    def legs(self) -> tuple[Leg, ...]:
        return (self.video,) if self.sound is None else (self.video, self.sound)

    def add_sound(self, transport: Transport) -> Leg:
        """The sound track's leg (SETUP of trackID=1)."""
        self.sound = Leg(self, transport)
        return self.sound

    def play(self) -> None:
        if self.playing:
            return
        self.playing = True
        self.waiting = True
        self.stream.add(self.receive)
        if self.sound is not None:
            self.stream.add_sound(self.receive_sound)
        self.stream.request_keyframe()
        if self._viewing is None:
            who, via = (self.who.name, self.who.via) if self.who else ("anonymous", "anonymous")
            self._viewing = self.connection.viewers.start(
                self.connection.address, who, via, "rtsp", self.camera, sound=self.sound is not None
            )

    def pause(self) -> None:
        self.playing = False
        self.stream.remove(self.receive)
        self.stream.remove_sound(self.receive_sound)

    def end(self, why: str = "") -> None:
        """The session ends (torn down, its connection gone, or ended by camcast for ``why``)."""
        self.pause()
        if self._viewing is not None:
            self.connection.viewers.end(self._viewing, why or self.connection.why)
            self._viewing = None
        for leg in self.legs:
            leg.close()
        self.connection.forget(self.id)

    def receive(self, frame: RtpFrame) -> None:
        """An RTP stream receiver: the frame to this client, unless it is behind (see the module)."""
        if not self.playing or self.connection.closing:
            return
        if self.video.transport.tcp and not self._keeping_up():
            return
        if self.waiting:
            if not frame.keyframe:
                return
            self.waiting = False
        self.video.send(frame, PAYLOAD_TYPE)
        if self._viewing is not None:
            self._viewing.frames += 1

    def receive_sound(self, frame: RtpFrame) -> None:
        """The sound's receiver: from the first picture sent on, while the client keeps up."""
        if self.sound is None or not self.playing or self.waiting or self.connection.closing:
            return
        if self.sound.transport.tcp and self._slow_since is not None:
            return
        self.sound.send(frame, OPUS_PAYLOAD_TYPE)

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


class _Reports(asyncio.DatagramProtocol):
    """A UDP session's sockets: what the client sends (its RTCP reports) keeps the session alive."""

    def __init__(self, session: RtspSession) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.session.last_active = time.monotonic()
