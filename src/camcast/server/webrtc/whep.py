"""WHEP's HTTP side (RFC 9725): an SDP offer in, the answer out (201, with the session's URL to
``DELETE``); the request's checks, the session cap and the viewer log."""

from __future__ import annotations

from aiohttp import web

from camcast.server.state import camera_name, hears, principal, share_query, state, watcher
from camcast.server.urls import path_for
from camcast.server.webrtc.offer import MAX_OFFER, SDP_TYPE, OfferError, check_offer, check_request
from camcast.server.webrtc.sessions import SessionsFull

#: Seconds a client refused for the session cap is asked to wait.
RETRY_FULL = 10


async def offer(request: web.Request) -> web.StreamResponse:
    """Answer the offer in the body with a session sending the camera's video."""
    name = camera_name(request)
    st = state(request)
    who, via = watcher(request)
    try:
        check_request(request.content_type, request.content_length)
        body = await request.content.read(MAX_OFFER + 1)
        served = st.cameras[name]
        sound = served.sound if hears(request) else None  # a link made without --audio: pictures only
        session, answer = await st.webrtc.answer(check_offer(body), name, served.webrtc, who, sound)
    except OfferError as exc:
        raise _refusal(exc) from None
    except SessionsFull as exc:
        raise web.HTTPServiceUnavailable(
            text=f"{exc}; use {st.base_path}{path_for('view_stream', name)}\n",
            headers={"Retry-After": str(RETRY_FULL)},
        ) from None
    viewing = st.viewers.start(
        request.remote or "?", who, via, "webrtc", name, sound=session.sound is not None
    )
    why = ""

    def cut(reason: str) -> None:  # who opened the peer no longer may watch: it is closed
        nonlocal why
        why = reason
        st.webrtc.close_soon(session.id)

    p = principal(request)
    held = st.gate.deliveries.add(p, cut, f"WebRTC {name} for {request.remote}") if p is not None else None

    def ended(_: object) -> None:
        if held is not None:
            st.gate.deliveries.remove(held)
        viewing.frames = session.track.frames_sent
        st.viewers.end(viewing, why)

    session.on_end.append(ended)
    headers = {"Location": st.base_path + path_for("whep_session", name=session.id, **share_query(request))}
    links = [f'<{url}>; rel="ice-server"' for url in st.webrtc.ice.stun_urls]
    if links:
        headers["Link"] = ", ".join(links)
    return web.Response(status=201, text=answer, content_type=SDP_TYPE, headers=headers)


def _refusal(exc: OfferError) -> web.HTTPException:
    """The HTTP error for a refused offer: 400, 413 (too large) or 415 (not SDP), with the reason."""
    kinds: dict[int, type[web.HTTPException]] = {
        413: web.HTTPRequestEntityTooLarge,
        415: web.HTTPUnsupportedMediaType,
    }
    kind = kinds.get(exc.status, web.HTTPBadRequest)
    if kind is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(MAX_OFFER, MAX_OFFER + 1, text=f"{exc}\n")
    return kind(text=f"{exc}\n")


async def end(request: web.Request) -> web.StreamResponse:
    """End a WHEP session: its viewer, or an owner, may."""
    st = state(request)
    session = st.webrtc.sessions.get(request.match_info["name"])
    p = principal(request)
    if session is None or not (p is None or p.role == "owner" or p.name == session.who):
        raise web.HTTPNotFound(text="no such WebRTC session\n")
    await st.webrtc.close(session.id)
    return web.Response(text="ended\n")
