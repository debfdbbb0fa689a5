"""The RTSP server: each camera at ``rtsp://HOST:PORT/NAME`` (the first also at ``/``), H.264 over
RTP (trackID=0), and Opus (trackID=1) when the camera's audio is on and the client may hear it, to
clients that take it over TCP (interleaved in the RTSP connection) or UDP (their ports).

Access is the HTTP server's gate (:class:`~camcast.security.gate.Gate`): without accounts a loopback
client is the local user; otherwise a share link's ``?token=`` with the stream scope, or an account
by Basic authentication, which is taken only over RTSPS (TLS, when the server has a certificate) or
from this computer. Every playing session is in the viewer log. A session's client that stops reading
skips to the next keyframe while its buffer is full, and is dropped after
:data:`~camcast.rtsp.session.DROP_AFTER` seconds of it; a session with no request, RTCP report or TCP
connection for :data:`SESSION_TIMEOUT` seconds ends. A malformed request gets its status and the
connection is closed; nobody else notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

from camcast.net import host_of
from camcast.rtsp.protocol import (
    METHODS,
    Interleaved,
    Parser,
    ProtocolError,
    Request,
    Transport,
    response,
)
from camcast.rtsp.session import RtspSession
from camcast.rtsp.stream import RtpStream
from camcast.security.deliveries import Delivery
from camcast.security.gate import REALM, Asking, Gate, Principal
from camcast.security.gate import Refused as NotLetIn
from camcast.security.viewers import ViewerLog

log = logging.getLogger(__name__)

#: Seconds a session lives without a request or a report (RFC 2326's default is 60).
SESSION_TIMEOUT = 60
#: The most sessions one connection may set up (a client sets up one, with its tracks).
MAX_SESSIONS = 4
VIDEO_TRACK, SOUND_TRACK = "trackID=0", "trackID=1"


class Refused(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.headers = headers or {}


class RtspServer:
    """See the module docstring. ``streams`` are the cameras' RTP streams by name, in order."""

    def __init__(
        self,
        streams: Mapping[str, RtpStream],
        titles: Mapping[str, str],
        gate: Gate,
        viewers: ViewerLog,
        tls: ssl.SSLContext | None,
        max_connections: int = 2000,
        max_per_address: int = 100,
    ) -> None:
        self.streams = dict(streams)
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.titles = dict(titles)
        self.gate = gate
        self.viewers = viewers
        self.tls = tls
        self.sessions: dict[str, RtspSession] = {}
        self._connections: set[Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._connection, host, port, ssl=self.tls)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def playing(self, camera: str) -> int:
        return sum(1 for s in self.sessions.values() if s.camera == camera and s.playing)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(self, reader, writer)
        same = sum(1 for c in self._connections if c.address == connection.address)
        if len(self._connections) >= self.max_connections or same >= self.max_per_address:
            # The HTTP server's limits (max_connections, max_connections_per_address) hold here too.
            log.warning("RTSP: refused a connection from %s: too many open", connection.address)
            writer.write(response(503, "0", {"Connection": "close"}))
            writer.close()
            return
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)


class Connection:
    """One client's RTSP connection and the sessions it set up."""

    def __init__(
        self, server: RtspServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.address = str(peer[0])
        sock = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        self.local = str(sock[0])
        self.secure = writer.get_extra_info("sslcontext") is not None
        self.sessions: dict[str, RtspSession] = {}
        self.allowed: dict[str, Principal | None] = {}  # by camera: who proved they may watch it
        self.held: dict[str, Delivery[Principal]] = {}  # by camera: this connection as who watches it
        self.why = ""  # why camcast ended the connection (its principal no longer holds), if it did
        self.closing = False
        self.parser = Parser()

    def close(self) -> None:
        self.closing = True
        self.writer.close()

    @property
    def viewers(self) -> ViewerLog:
        return self.server.viewers

    def forget(self, session_id: str) -> None:
        self.server.sessions.pop(session_id, None)
        self.sessions.pop(session_id, None)

    async def run(self) -> None:
        try:
            while not self.closing:
                try:
                    data = await asyncio.wait_for(self.reader.read(65536), SESSION_TIMEOUT)
                except TimeoutError:
                    if self._alive():
                        continue
                    break
                if not data:
                    break
                for event in self.parser.feed(data):
                    if isinstance(event, Interleaved):
                        if not any(s.video.transport.tcp for s in self.sessions.values()):
                            raise ProtocolError(400, "interleaved data before any TCP session")
                        for session in self.sessions.values():
                            session.last_active = time.monotonic()
                        continue
                    self.writer.write(await self.answer(event))
                await self.writer.drain()
        except ProtocolError as exc:
            log.info("RTSP: %s: %s", self.address, exc.reason)
            with contextlib.suppress(ConnectionError, RuntimeError):
                self.writer.write(response(exc.status, "0", {"Connection": "close"}))
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            for session in list(self.sessions.values()):
                session.end(self.why)
            for delivery in self.held.values():
                self.server.gate.deliveries.remove(delivery)
            self.closing = True
            self.writer.close()

    def _cut(self, why: str) -> None:
        """Who watches no longer may (a link revoked, an account removed): every session of this
        connection is torn down with the connection."""
        self.why = why
        self.close()

    def _alive(self) -> bool:
        """Whether the connection's quiet spell is fine: a TCP session playing (its data flows), or a
        UDP session whose client still sends reports."""
        now = time.monotonic()
        return any(
            s.playing and (s.video.transport.tcp or now - s.last_active < SESSION_TIMEOUT)
            for s in self.sessions.values()
        )

    async def answer(self, request: Request) -> bytes:
        cseq = request.cseq
        if not cseq:
            raise ProtocolError(400, "no CSeq")
        session = self.sessions.get(request.session) if request.session else None
        if session is not None:
            session.last_active = time.monotonic()
        try:
            if request.method not in METHODS:
                if request.method in ("ANNOUNCE", "RECORD"):
                    raise Refused(405, "camcast serves streams; it does not take them",
                                  {"Allow": ", ".join(METHODS)})  # fmt: skip
                raise Refused(
                    501, f"{request.method[:20]} is not implemented", {"Public": ", ".join(METHODS)}
                )
            handler: Callable[[Request, RtspSession | None], Any] = getattr(
                self, "_" + request.method.lower()
            )
            status, headers, body = await handler(request, session)
        except Refused as exc:
            log.info("RTSP: %s %s %s: %d %s", self.address, request.method, request.path, exc.status, exc)
            return response(exc.status, cseq, exc.headers)
        return response(status, cseq, headers, body)

    # --- methods -------------------------------------------------------------------------------------
    async def _options(
        self, request: Request, session: RtspSession | None
    ) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Public": ", ".join(METHODS)}, b""

    async def _describe(
        self, request: Request, session: RtspSession | None
    ) -> tuple[int, dict[str, str], bytes]:
        camera = self._camera(request.path)
        await self._allowed(request, camera)
        stream = self.server.streams[camera]
        if await stream.describe() is None:
            raise Refused(503, "the camera has sent no video yet")
        who = self.allowed.get(camera)
        sound = who is None or who.audio  # a share link made without --audio: the pictures alone
        sdp = stream.sdp(self.local, self.server.titles.get(camera, camera), secrets.randbits(31), sound)
        base = request.uri.split("?", 1)[0].rstrip("/") + "/"
        return 200, {"Content-Type": "application/sdp", "Content-Base": base}, sdp.encode()

    async def _setup(
        self, request: Request, session: RtspSession | None
    ) -> tuple[int, dict[str, str], bytes]:
        path = request.path.rstrip("/")
        head, _, last = path.rpartition("/")
        track = VIDEO_TRACK
        if last.startswith(("trackID=", "streamid=")):
            track = last.replace("streamid=", "trackID=")
            if track not in (VIDEO_TRACK, SOUND_TRACK):
                raise Refused(404, "the stream's tracks are trackID=0 (video) and trackID=1 (sound)")
            path = head or "/"
        camera = self._camera(path)
        who = await self._allowed(request, camera)
        transport = Transport.parse(request.headers.get("transport", ""))
        if transport.tcp and max(transport.channels) > 255:
            raise Refused(400, "interleaved channels are 0 to 255")
        if track == SOUND_TRACK:
            return await self._setup_sound(camera, who, transport, session)
        if session is not None:
            raise Refused(459, "the video track is set up already")
        if request.session:
            raise Refused(454, "no such session")
        if len(self.sessions) >= MAX_SESSIONS:
            raise Refused(503, "too many sessions on one connection")
        session = RtspSession(self, self.server.streams[camera], camera, transport, who)
        if not transport.tcp:
            await session.video.open_udp(self.local)
        self.sessions[session.id] = session
        self.server.sessions[session.id] = session
        headers = {
            "Transport": transport.header(session.video.ssrc, session.video.server_ports),
            "Session": f"{session.id};timeout={SESSION_TIMEOUT}",
        }
        return 200, headers, b""

    async def _setup_sound(
        self, camera: str, who: Principal | None, transport: Transport, session: RtspSession | None
    ) -> tuple[int, dict[str, str], bytes]:
        """SETUP of the sound track, in the session its video was set up in."""
        if self.server.streams[camera].sound is None or not (who is None or who.audio):
            raise Refused(404, "no sound track: the camera's audio is off, or this link carries none")
        if session is None or session.camera != camera:
            raise Refused(455, "set up the video track (trackID=0) first, then the sound in its session")
        if session.sound is not None or session.playing:
            raise Refused(459, "the sound track is set up already" if session.sound else "already playing")
        if transport.tcp and set(transport.channels) & set(session.video.transport.channels):
            raise Refused(400, "the sound needs interleaved channels of its own")
        leg = session.add_sound(transport)
        if not transport.tcp:
            await leg.open_udp(self.local)
        headers = {
            "Transport": transport.header(leg.ssrc, leg.server_ports),
            "Session": f"{session.id};timeout={SESSION_TIMEOUT}",
        }
        return 200, headers, b""

    async def _play(self, request: Request, session: RtspSession | None) -> tuple[int, dict[str, str], bytes]:
        session = self._session(request, session)
        base = request.uri.split("?", 1)[0].rstrip("/")
        if base.endswith((VIDEO_TRACK, SOUND_TRACK)):
            base = base.rsplit("/", 1)[0]
        session.play()
        info = [
            f"url={base}/{track};seq={leg.sequence & 0xFFFF};rtptime={leg.rtp_time()}"
            for track, leg in zip((VIDEO_TRACK, SOUND_TRACK), session.legs, strict=False)
        ]
        headers = {
            "Session": f"{session.id};timeout={SESSION_TIMEOUT}",
            "Range": "npt=0.000-",
            "RTP-Info": ",".join(info),
        }
        return 200, headers, b""

    async def _pause(
        self, request: Request, session: RtspSession | None
    ) -> tuple[int, dict[str, str], bytes]:
        session = self._session(request, session)
        session.pause()
        return 200, {"Session": session.id}, b""

    async def _teardown(
        self, request: Request, session: RtspSession | None
    ) -> tuple[int, dict[str, str], bytes]:
        session = self._session(request, session)
        session.end()
        return 200, {"Session": session.id}, b""

    async def _get_parameter(
        self, request: Request, session: RtspSession | None
    ) -> tuple[int, dict[str, str], bytes]:
        return 200, ({"Session": session.id} if session else {}), b""

    _set_parameter = _get_parameter

    # --- helpers -------------------------------------------------------------------------------------
    def _session(self, request: Request, session: RtspSession | None) -> RtspSession:
        if session is None:
            raise Refused(454, "no such session" if request.session else "no Session header: SETUP first")
        return session

    def _camera(self, path: str) -> str:
        name = path.strip("/").split("/", 1)[0]
        if not name:
            return next(iter(self.server.streams))
        if name not in self.server.streams:
            raise Refused(404, f"no camera named {name[:40]!r}")
        return name

    async def _allowed(self, request: Request, camera: str) -> Principal | None:
        """Who asks, if they may watch ``camera``'s stream; raises 401 or 403 otherwise. A client
        that proved who it is on this connection (a token in DESCRIBE's URL, which clients leave out
        of the SETUP URL they make from Content-Base) stays that for the connection's later requests."""
        credentials = "token" in request.query or "authorization" in request.headers
        if not credentials and camera in self.allowed:
            return self.allowed[camera]
        host = request.uri.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
        # RTSP has no cookies: a browser's session never opens a stream here.
        asking = Asking(
            address=self.address, transport="rtsp", token=request.query.get("token"),
            authorization=request.headers.get("authorization"), host=host_of(host or self.local),
            secure=self.secure,
        )  # fmt: skip
        try:
            who = await self.server.gate.principal(asking)
        except NotLetIn as refused:
            status = 401 if refused.status == 401 else 403
            raise Refused(
                status, refused.reason, {"WWW-Authenticate": REALM} if status == 401 else {}
            ) from None
        if who is None:
            raise Refused(401, "sign in to watch this camera", {"WWW-Authenticate": REALM})
        if not who.may("stream", "viewer", camera):
            raise Refused(403, "not allowed for this account or link")
        self.allowed[camera] = who
        if camera not in self.held:
            what = f"RTSP {camera} for {self.address}"
            self.held[camera] = self.server.gate.deliveries.add(who, self._cut, what)
        return who
