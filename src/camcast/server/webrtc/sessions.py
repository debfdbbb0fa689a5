"""The server's WHEP sessions: one peer connection each, sending one camera's video (and its sound,
when the camera's audio is on, the viewer may hear it and the offer asks for it) to one viewer; at
most :data:`MAX_SESSIONS` at once, each closed if it does not connect in time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from camcast.errors import CamcastError
from camcast.server.webrtc.ice import IceSettings, gathering_on, reachable
from camcast.server.webrtc.offer import OfferError
from camcast.server.webrtc.track import PacketTrack, SoundOutput, SoundTrack, WebRtcOutput

log = logging.getLogger(__name__)

#: Seconds a new session has to connect (ICE and DTLS) before it is closed.
CONNECT_TIMEOUT = 20.0
#: Most WebRTC sessions the server holds at once, over every camera: each peer costs its own
#: encryption and packets (see docs/benchmarks.md), so the cap keeps the server answering.
MAX_SESSIONS = 100


class SessionsFull(CamcastError):
    """The server already holds :data:`MAX_SESSIONS` sessions (a 503 for the client)."""


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
    sound: SoundTrack | None = None
    sound_output: SoundOutput | None = None


#: What camcast sends: H.264 in packetization mode 1 (every profile aiortc declares; the packets are
#: constrained baseline), and RTX for retransmissions.
_H264_CODECS = [
    codec
    for codec in RTCRtpSender.getCapabilities("video").codecs
    if codec.mimeType.lower() == "video/rtx"
    or (codec.mimeType.lower() == "video/h264" and str(codec.parameters.get("packetization-mode")) == "1")
]
#: What camcast sends sound in: Opus, as every browser takes it.
_OPUS_CODECS = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == "audio/opus"]


class WebRtc:
    """Every WHEP session of the server, by its unguessable id."""

    def __init__(self, ice: IceSettings) -> None:
        self.ice = ice
        self.sessions: dict[str, Session] = {}
        self._closing: set[asyncio.Task[bool]] = set()

    async def answer(
        self, offer: str, camera: str, output: WebRtcOutput, who: str, sound: SoundOutput | None = None
    ) -> tuple[Session, str]:
        """Make a session sending ``output``'s video for ``offer`` (checked by :func:`check_offer`),
        and ``sound`` when given and the offer has an audio section; return it and the SDP answer.
        Raises :class:`OfferError` when aiortc cannot answer it, and :class:`SessionsFull` when the
        server holds :data:`MAX_SESSIONS` already."""
        if len(self.sessions) >= MAX_SESSIONS:
            raise SessionsFull(f"the server already sends {MAX_SESSIONS} WebRTC streams")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self.ice.servers)))
        track = PacketTrack(output.request_keyframe)
        session = Session(secrets.token_urlsafe(18), camera, who, pc, track, output)
        offer = reachable(offer, self.ice.hosts, relayed=self.ice.relayed)
        try:
            # The sending transceiver comes first, with H.264 (and retransmission) as its only codecs,
            # so that the offer's video section is matched to it and the answer picks H.264, whatever
            # the offer prefers.
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(_H264_CODECS)
            track.sender = transceiver.sender
            # RTCP picture-loss and full-picture requests reach the sender here; its own handling only
            # flags its encoder, which packets bypass. Ask the shared encoder instead (rate-limited).
            transceiver.sender._send_keyframe = output.request_keyframe  # type: ignore[method-assign]
            if sound is not None and "\nm=audio " in offer.replace("\r\n", "\n"):
                session.sound, session.sound_output = SoundTrack(), sound
                heard = pc.addTransceiver(session.sound, direction="sendonly")
                heard.setCodecPreferences(_OPUS_CODECS)
                session.sound.sender = heard.sender
            with gathering_on(self.ice.hosts):
                await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises what the offer trips it on
            await pc.close()
            raise OfferError(f"the offer cannot be answered: {exc}") from None
        except asyncio.CancelledError:  # the client left
            await pc.close()
            raise
        self.sessions[session.id] = session
        output.add(track)
        if session.sound is not None and session.sound_output is not None:
            session.sound_output.add(session.sound)

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
        if session.sound is not None and session.sound_output is not None:
            session.sound_output.remove(session.sound)
            session.sound.stop()
        for callback in session.on_end:
            callback(session)
        with contextlib.suppress(Exception):  # a connection already torn down by the peer
            await session.pc.close()
        return True

    def close_soon(self, session_id: str) -> None:
        """End a session, from code that cannot wait (its viewer's access just ended)."""
        task = asyncio.get_running_loop().create_task(self.close(session_id))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_all(self) -> None:
        await asyncio.gather(*(self.close(sid) for sid in list(self.sessions)))
