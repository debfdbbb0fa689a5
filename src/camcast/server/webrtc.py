"""WebRTC by WHEP (RFC 9725): the live picture in a browser in a tenth of a second, from one encode.

A viewer ``POST``s an SDP offer to ``/whep`` and gets the answer (201, with a ``Location`` to
``DELETE`` when done). Every peer is sent the same H.264 packets: the camera's one shared H.264
rendition (the one HLS is cut from) hands each encoded frame to :class:`WebRtcOutput`, which gives it
to every peer's :class:`PacketTrack`; aiortc packs the packet into RTP for that peer without encoding
anything (a track may return an ``av.Packet``). So encodes per second are the capture rate whatever
the number of peers, and the encoder runs only while someone watches (HLS or WebRTC).

Keyframes: a peer starts at a keyframe, asked of the shared encoder when it starts; a picture-loss or
full-picture request (RTCP PLI/FIR) from a peer asks for one too. The encoder grants at most one
keyframe request a second, whatever the number of peers (:meth:`H264Encoder.request_keyframe`).

Slow peers: each peer holds at most :data:`MAX_QUEUE` frames not yet sent. One that falls that far
behind drops them all and skips to the next keyframe; it never queues without bound nor holds up the
others, which are fed from the same frame without waiting for anyone.

ICE: host candidates on the address the server listens on (loopback by default, so nothing leaves the
machine), and STUN/TURN servers only when configured (``--ice-server``): aiortc's default STUN server
is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import logging
import re
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import aioice.ice
import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription

from camcast.config.parse import ICE_URL
from camcast.encode.h264 import CLOCK, H264Encoder
from camcast.encode.rendition import Rendition
from camcast.errors import CamcastError
from camcast.frames import EncodedFrame

log = logging.getLogger(__name__)

#: The largest offer read, in bytes. A browser's offer for one video stream is 4–6 KiB.
MAX_OFFER = 32 * 1024
#: The most media sections an offer may have (a WHEP client offers video, perhaps audio).
MAX_MEDIA = 8
#: Frames a peer may have waiting before it drops them and skips to the next keyframe: about a quarter
#: of a second at 30 fps, far past what a peer that keeps up ever holds (one).
MAX_QUEUE = 8
#: Seconds a new session has to connect (ICE and DTLS) before it is closed.
CONNECT_TIMEOUT = 20.0
#: Most WebRTC sessions the server holds at once, over every camera: each peer costs its own
#: encryption and packets (see docs/benchmarks.md), so the cap keeps the server answering.
MAX_SESSIONS = 100
SDP_TYPE = "application/sdp"


class OfferError(CamcastError):
    """An offer that is not a usable SDP offer for H.264 video (the client's error: a 400)."""


# --- ICE: which host addresses to offer ----------------------------------------------------------------
# aioice gathers host candidates on every interface but loopback, with no way to choose them per
# connection. It looks them up through its module function get_host_addresses at gathering time, which
# runs in the task that sets the local description; the addresses this server chose are passed there in
# a context variable, and any other aioice user in the process keeps the default.
_HOSTS: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar("camcast_ice", default=None)
_default_host_addresses = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    chosen = _HOSTS.get()
    return _default_host_addresses(use_ipv4, use_ipv6) if chosen is None else list(chosen)


aioice.ice.get_host_addresses = _host_addresses


def host_addresses(listen_host: str) -> tuple[str, ...] | None:
    """The addresses to gather ICE host candidates on for a server listening on ``listen_host``: that
    address itself (127.0.0.1 by default), the addresses a host name resolves to, or None (every
    interface, aioice's choice) for a wildcard address."""
    try:
        address = ipaddress.ip_address(listen_host)
    except ValueError:
        try:
            infos = socket.getaddrinfo(listen_host, None, type=socket.SOCK_DGRAM)
        except OSError:
            return None  # listening there fails next, with its own message
        return tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if address.is_unspecified:
        return None
    return (str(address),)


def ice_servers(urls: Sequence[str], turn_password: str | None) -> list[RTCIceServer]:
    """aiortc's ICE servers for ``urls`` (checked by :func:`camcast.config.parse.parse_ice_server`).
    aiortc uses the first STUN and the first TURN server only."""
    servers = []
    for url in urls:
        match = ICE_URL.fullmatch(url)
        assert match is not None, url
        if match["scheme"] == "stun":
            servers.append(RTCIceServer(url))
        else:
            bare = url.replace(f"{match['user']}@", "", 1)
            servers.append(RTCIceServer(bare, username=match["user"], credential=turn_password or ""))
    return servers


def reachable(offer: str, hosts: tuple[str, ...] | None, relayed: bool) -> str:
    """``offer`` without the candidates this server could never reach: when it gathers on loopback
    only and has no TURN relay, only the peer's loopback candidates are kept. Browsers hide their host
    addresses behind mDNS names (``….local``), which would otherwise be resolved by multicast on the
    LAN, for nothing; a peer on the same machine is still found, by its checks (peer-reflexive)."""
    if relayed or hosts is None or not all(ipaddress.ip_address(h).is_loopback for h in hosts):
        return offer
    kept = []
    for line in offer.split("\r\n"):
        if line.startswith("a=candidate:"):
            fields = line.split()
            try:
                if len(fields) < 5 or not ipaddress.ip_address(fields[4]).is_loopback:
                    continue
            except ValueError:  # a name: mDNS
                continue
        kept.append(line)
    return "\r\n".join(kept)


# --- offers ---------------------------------------------------------------------------------------------
_LINE = re.compile(r"[a-z]=[\x20-\x7e\t]*")


def check_offer(body: bytes) -> str:
    """``body`` as an SDP offer camcast can answer, or :class:`OfferError` saying what is wrong.

    Checked before aiortc sees it: printable ASCII lines of the form ``x=...``, at most
    :data:`MAX_MEDIA` media sections, a video section offering H.264 in packetization mode 1 (what
    camcast sends), ICE credentials and a DTLS fingerprint. Then aiortc's own parser must accept it.
    """
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise OfferError("the offer is not an SDP text (bytes outside ASCII)") from None
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    if not lines or lines[0] != "v=0":
        raise OfferError("the offer is not SDP: it must start with v=0")
    bad = next((n for n, line in enumerate(lines, 1) if not _LINE.fullmatch(line)), None)
    if bad is not None:
        raise OfferError(f"line {bad} of the offer is not an SDP line (x=value)")
    media = [line for line in lines if line.startswith("m=")]
    if len(media) > MAX_MEDIA:
        raise OfferError(f"the offer has {len(media)} media sections; at most {MAX_MEDIA} are read")
    try:
        parsed = SessionDescription.parse("\r\n".join(lines) + "\r\n")
    except Exception as exc:  # aiortc's parser raises whatever the text trips it on
        raise OfferError(f"the offer is not valid SDP ({type(exc).__name__})") from None
    video = [m for m in parsed.media if m.kind == "video"]
    if not video:
        raise OfferError("the offer has no video section")
    if not any(_sends_h264(m) for m in video):
        raise OfferError("the offer has no H.264 in packetization mode 1, which camcast sends")
    for m in parsed.media:  # aiortc's parser gives each section the session-level values too
        if not (m.ice and m.ice.usernameFragment and m.ice.password):
            raise OfferError("the offer has no ICE user fragment and password (a=ice-ufrag, a=ice-pwd)")
        if not (m.dtls and m.dtls.fingerprints):
            raise OfferError("the offer has no DTLS fingerprint and role (a=fingerprint, a=setup)")
    return "\r\n".join(lines) + "\r\n"


def _sends_h264(media: Any) -> bool:
    for codec in media.rtp.codecs:
        if codec.mimeType.lower() == "video/h264" and str(codec.parameters.get("packetization-mode")) == "1":
            return True
    return False


# --- one peer's video --------------------------------------------------------------------------------
class PacketTrack(MediaStreamTrack):
    """One peer's video: the shared encoder's H.264 packets, handed to aiortc as they are."""

    kind = "video"

    def __init__(self, request_keyframe: Callable[[], object]) -> None:
        super().__init__()
        self._request_keyframe = request_keyframe
        self._queue: deque[EncodedFrame] = deque()
        self._ready = asyncio.Event()
        self._started = False  # aiortc asks for frames once the peer is connected
        self._need_keyframe = True
        self.frames_sent = 0
        self.skips = 0

    def offer(self, frame: EncodedFrame) -> None:
        """Take the shared encoder's newest frame (on the event loop; never blocks)."""
        if not self._started or self.readyState != "live":
            return
        if self._need_keyframe:
            if not frame.payload.keyframe:
                return
            self._need_keyframe = False
        if len(self._queue) >= MAX_QUEUE:
            # This peer fell behind: what it holds is too old to show. Start again at a keyframe.
            self._queue.clear()
            self._need_keyframe = True
            self.skips += 1
            self._request_keyframe()
            return
        self._queue.append(frame)
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        if not self._started:
            self._started = True
            self._request_keyframe()  # a peer starts at a keyframe: ask for one now, not in seconds
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        frame = self._queue.popleft()
        packet = av.Packet(frame.payload.data)
        packet.pts = round(frame.time * CLOCK)  # RTP timestamps from capture times
        packet.time_base = Fraction(1, CLOCK)
        self.frames_sent += 1
        return packet

    def stop(self) -> None:
        super().stop()
        self._ready.set()  # wake recv, which then ends


class WebRtcOutput:
    """One camera's WebRTC peers, fed from its H.264 rendition while there are any."""

    def __init__(self, rendition: Rendition) -> None:
        assert isinstance(rendition.encoder, H264Encoder), "WebRTC is sent from an H.264 rendition"
        self.rendition = rendition
        self.encoder = rendition.encoder
        self.tracks: set[PacketTrack] = set()
        self._skips_ended = 0  # skips of peers gone, so the total never goes down

    def request_keyframe(self) -> None:
        self.encoder.request_keyframe()

    def add(self, track: PacketTrack) -> None:
        if not self.tracks:
            self.rendition.add_listener(self.push)
        self.tracks.add(track)

    def remove(self, track: PacketTrack) -> None:
        if track in self.tracks:
            self._skips_ended += track.skips
        self.tracks.discard(track)
        if not self.tracks and self.push in self.rendition.listeners:
            self.rendition.remove_listener(self.push)

    def push(self, frame: EncodedFrame) -> None:
        for track in self.tracks:
            track.offer(frame)

    @property
    def skips(self) -> int:
        """Times a peer fell behind and skipped to a keyframe, since the start."""
        return self._skips_ended + sum(t.skips for t in self.tracks)


# --- sessions --------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Session:
    """One WHEP session: a peer connection sending one camera's video to one viewer."""

    id: str
    camera: str
    who: str
    pc: RTCPeerConnection
    track: PacketTrack
    output: WebRtcOutput
    created: float = field(default_factory=time.monotonic)
    on_end: list[Callable[[Session], None]] = field(default_factory=list)
    closed: bool = False
    watchdog: asyncio.Task[None] | None = None


#: What camcast sends: H.264 in packetization mode 1 (every profile aiortc declares; the packets are
#: constrained baseline), and RTX for retransmissions.
_H264_CODECS = [
    codec
    for codec in RTCRtpSender.getCapabilities("video").codecs
    if codec.mimeType.lower() == "video/rtx"
    or (codec.mimeType.lower() == "video/h264" and str(codec.parameters.get("packetization-mode")) == "1")
]


@dataclass
class IceSettings:
    """Where ICE gathers host candidates (None: every interface) and the STUN/TURN servers."""

    hosts: tuple[str, ...] | None = ("127.0.0.1",)
    servers: list[RTCIceServer] = field(default_factory=list)

    @property
    def relayed(self) -> bool:
        """Whether a TURN server relays for this server."""
        return any(isinstance(s.urls, str) and s.urls.startswith("turn") for s in self.servers)

    @property
    def stun_urls(self) -> list[str]:
        """STUN servers a browser may be told of (TURN credentials stay on the server)."""
        return [s.urls for s in self.servers if isinstance(s.urls, str) and s.urls.startswith("stun:")]


class WebRtc:
    """Every WHEP session of the server, by its unguessable id."""

    def __init__(self, ice: IceSettings) -> None:
        self.ice = ice
        self.sessions: dict[str, Session] = {}

    def count(self, camera: str) -> int:
        return sum(1 for s in self.sessions.values() if s.camera == camera)

    async def answer(self, offer: str, camera: str, output: WebRtcOutput, who: str) -> tuple[Session, str]:
        """Make a session sending ``output``'s video for ``offer`` (checked by :func:`check_offer`);
        return it and the SDP answer. Raises :class:`OfferError` when aiortc cannot answer it."""
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self.ice.servers)))
        track = PacketTrack(output.request_keyframe)
        session = Session(secrets.token_urlsafe(18), camera, who, pc, track, output)
        token = _HOSTS.set(self.ice.hosts)
        offer = reachable(offer, self.ice.hosts, relayed=self.ice.relayed)
        try:
            # The sending transceiver comes first, with H.264 (and retransmission) as its only codecs,
            # so that the offer's video section is matched to it and the answer picks H.264, whatever
            # the offer prefers.
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(_H264_CODECS)
            # RTCP picture-loss and full-picture requests reach the sender here; its own handling only
            # flags its encoder, which packets bypass. Ask the shared encoder instead (rate-limited).
            transceiver.sender._send_keyframe = output.request_keyframe  # type: ignore[method-assign]
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises what the offer trips it on
            await pc.close()
            raise OfferError(f"the offer cannot be answered: {exc}") from None
        except asyncio.CancelledError:  # the client left
            await pc.close()
            raise
        finally:
            _HOSTS.reset(token)
        self.sessions[session.id] = session
        output.add(track)

        @pc.on("connectionstatechange")
        async def changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.close(session.id)

        session.watchdog = asyncio.create_task(self._connects(session))
        return session, pc.localDescription.sdp

    async def _connects(self, session: Session) -> None:
        """Close ``session`` if it has not connected in :data:`CONNECT_TIMEOUT` seconds."""
        await asyncio.sleep(CONNECT_TIMEOUT)
        if session.pc.connectionState != "connected":
            log.info("WebRTC session for %s did not connect in %g s; closed", session.who, CONNECT_TIMEOUT)
            await self.close(session.id)

    async def close(self, session_id: str) -> bool:
        """End a session; whether it existed."""
        session = self.sessions.pop(session_id, None)
        if session is None or session.closed:
            return False
        session.closed = True
        if session.watchdog is not None and session.watchdog is not asyncio.current_task():
            session.watchdog.cancel()
        session.output.remove(session.track)
        session.track.stop()
        for callback in session.on_end:
            callback(session)
        with contextlib.suppress(Exception):  # a connection already torn down by the peer
            await session.pc.close()
        return True

    async def close_all(self) -> None:
        await asyncio.gather(*(self.close(sid) for sid in list(self.sessions)))
