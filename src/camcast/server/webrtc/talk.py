"""Push-to-talk: the owner's voice over WebRTC to the camera's speaker (``audio_out``).

While the owner holds the page's button, the page sends its microphone in a WebRTC session of its own
(WHIP-like: an SDP offer in, the answer out with the session's URL, ``DELETE`` when the button is let
go). The speaker (:class:`~camcast.audio.talk.Speaker`) is opened for the talk and closed after it;
one owner talks at a time (a second gets 409). A talk that does not connect in
:data:`CONNECT_TIMEOUT` seconds, or lasts past :data:`LONGEST` seconds, ends by itself. Every page
and the status say "talking" meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass

from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from camcast.audio.talk import Speaker
from camcast.server.state import camera_name, share_query, state, watcher
from camcast.server.urls import path_for
from camcast.server.webrtc.ice import gathering_on, reachable
from camcast.server.webrtc.offer import MAX_OFFER, SDP_TYPE, OfferError, check_offer, check_request
from camcast.server.webrtc.whep import _refusal

log = logging.getLogger(__name__)

#: Seconds a talk has to connect.
CONNECT_TIMEOUT = 20.0
#: The longest a talk lasts (a button held down by a weight, a page left open): five minutes.
LONGEST = 300.0


@dataclass(eq=False)
class Talk:
    id: str
    speaker: Speaker
    pc: RTCPeerConnection
    tasks: list[asyncio.Task[None]]


async def offer(request: web.Request) -> web.StreamResponse:
    """Start a talk: the owner's offer (an audio section with Opus) in, the answer out."""
    name = camera_name(request)
    st = state(request)
    speaker = st.cameras[name].speaker
    if speaker is None:
        raise web.HTTPNotFound(text=f"camera {name} has no speaker: set audio_out to talk back\n")
    try:
        check_request(request.content_type, request.content_length)
        sdp = check_offer(await request.content.read(MAX_OFFER + 1), talk=True)
    except OfferError as exc:
        raise _refusal(exc) from None
    who, _via = watcher(request)
    if not speaker.start(who):
        raise web.HTTPConflict(text=f"{speaker.talking} is talking on this camera's speaker now\n")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=list(st.webrtc.ice.servers)))
    talk = Talk(secrets.token_urlsafe(18), speaker, pc, [])

    @pc.on("track")
    def heard(track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            talk.tasks.append(asyncio.create_task(_play(track, speaker)))

    @pc.on("connectionstatechange")
    async def changed() -> None:
        if pc.connectionState in ("failed", "closed"):
            await end_talk(st.talks, talk.id)

    try:
        with gathering_on(st.webrtc.ice.hosts):
            await pc.setRemoteDescription(
                RTCSessionDescription(
                    reachable(sdp, st.webrtc.ice.hosts, relayed=st.webrtc.ice.relayed), "offer"
                )
            )
            await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:  # aiortc raises what the offer trips it on
        speaker.stop()
        await pc.close()
        raise web.HTTPBadRequest(text=f"the offer cannot be answered: {exc}\n") from None
    st.talks[talk.id] = talk
    talk.tasks.append(asyncio.create_task(_watchdog(st.talks, talk)))
    location = st.base_path + path_for("talk_session", name=talk.id, **share_query(request))
    return web.Response(status=201, text=pc.localDescription.sdp, content_type=SDP_TYPE,
                        headers={"Location": location})  # fmt: skip


async def end(request: web.Request) -> web.StreamResponse:
    """The button let go: the talk ends."""
    if not await end_talk(state(request).talks, request.match_info["name"]):
        raise web.HTTPNotFound(text="no such talk\n")
    return web.Response(text="ended\n")


async def end_talk(talks: dict[str, Talk], talk_id: str) -> bool:
    """End a talk of ``talks`` (its speaker closed once what waits is played); whether it existed."""
    talk = talks.pop(talk_id, None)
    if talk is None:
        return False
    talk.speaker.stop()
    for task in talk.tasks:
        if task is not asyncio.current_task():
            task.cancel()
    with contextlib.suppress(Exception):  # a connection already torn down by the peer
        await talk.pc.close()
    return True


async def end_all(talks: dict[str, Talk]) -> None:
    await asyncio.gather(*(end_talk(talks, talk_id) for talk_id in list(talks)))


async def _play(track: MediaStreamTrack, speaker: Speaker) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            speaker.play(await track.recv())  # type: ignore[arg-type]


async def _watchdog(talks: dict[str, Talk], talk: Talk) -> None:
    await asyncio.sleep(CONNECT_TIMEOUT)
    if talk.pc.connectionState != "connected":
        log.info("a talk did not connect in %g s; ended", CONNECT_TIMEOUT)
        await end_talk(talks, talk.id)
        return
    await asyncio.sleep(LONGEST - CONNECT_TIMEOUT)
    log.info("a talk lasted %g s: ended", LONGEST)
    await end_talk(talks, talk.id)
