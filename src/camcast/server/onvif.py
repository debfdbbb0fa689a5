"""ONVIF over HTTP: each camera's device, media and event services, and its subscriptions' addresses
(the routes ``onvif_*``), answered from the operations table (:mod:`camcast.onvif.operations`).

The routes are ``public`` in the route table because ONVIF signs in inside the SOAP: a WS-Security
UsernameToken (PasswordDigest, checked against an ``onvif`` account; a password as text only over
HTTPS or from this computer) or an HTTP ``Authorization`` (Digest, Basic under the same rule as
everywhere). Without either, the gate decides as for any request (the local user of a server without
accounts); an operation that needs an account answers 401 with a Digest challenge. Share links and
device URLs never open ONVIF. What a request was let in as holds while it is answered (a PullMessages
waiting), and a subscription holds as long as its account does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from urllib.parse import quote

from aiohttp import web

from camcast.net import host_of
from camcast.onvif import discovery, operations, soap
from camcast.onvif import events as tev
from camcast.onvif.context import H264_PROFILES, Device, Video, scopes_of
from camcast.onvif.discovery import Announced
from camcast.onvif.service import Onvif, send
from camcast.security.gate import Principal, Refused
from camcast.server.auth import asking
from camcast.server.state import ServerState, camera_name, state
from camcast.server.urls import rtsp_url

log = logging.getLogger(__name__)
#: The unsupported calls already logged (bounded).
_unanswered: set[str] = set()


def _reply(xml: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=xml, status=status, content_type="application/soap+xml", charset="utf-8", headers=headers
    )


async def soap_service(request: web.Request) -> web.StreamResponse:
    """Any of a camera's ONVIF addresses: the operation is the SOAP body's."""
    st = state(request)
    on = st.onvif
    if on is None:
        raise web.HTTPNotFound(text="ONVIF is off (serve --onvif turns it on)\n")
    camera = camera_name(request)
    try:
        if (request.content_length or 0) > soap.MAX_REQUEST:
            raise soap.Fault("Sender", ("ter:InvalidArgVal",), "the request is too large", 413)
        try:
            data = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise soap.Fault("Sender", ("ter:InvalidArgVal",), "the request is too large", 413) from None
        if not data.strip() and "Authorization" not in request.headers:
            # A client that asks for the challenge first (curl --digest sends an empty body).
            raise soap.Fault("Sender", ("ter:NotAuthorized",), "sign in: an account's name and password", 401)
        asked = soap.parse(data)
        operation = operations.lookup(asked)
        who = await _who(request, asked, operation.role, camera)
        device = _device(request, st, camera, who)

        def started(sub: tev.Subscription) -> None:
            _hold(st, on, sub, who)

        stream = st.rtsp.streams.get(camera) if st.rtsp is not None else None
        call = operations.Call(
            device, asked, who.name if who is not None else "", on.events, request.match_info.get("name"),
            stream.request_keyframe if stream is not None else (lambda: None), started,
        )  # fmt: skip
        with st.gate.deliveries.holding(who, lambda why: _end(request), f"ONVIF for {request.remote}"):
            answer = operation.answer(call)
            body = await answer if inspect.isawaitable(answer) else answer
        return _reply(soap.envelope(body))
    except soap.Fault as fault:
        unsupported = "ter:ActionNotSupported" in fault.subcodes
        if unsupported and fault.reason not in _unanswered and len(_unanswered) < 100:
            _unanswered.add(fault.reason)  # once each: what an NVR asked that camcast does not do
            log.info("ONVIF: %s asked for %s", request.remote, fault.reason)
        headers = {"WWW-Authenticate": st.gate.http_digest.challenge()} if fault.status == 401 else None
        return _reply(soap.envelope(fault.body()), fault.status, headers)


def _end(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


async def _who(request: web.Request, asked: soap.Request, role: str, camera: str) -> Principal | None:
    """Who sends ``asked``, if they may use an operation of ``role`` on ``camera``: a fault otherwise."""
    if role == "public":
        return None
    gate = state(request).gate
    address = request.remote or "?"
    how = asking(request)
    token = asked.token
    try:
        if token is not None and token.digest:
            check = gate.token_nonces.check
            who = await gate.proven(
                address,
                token.username,
                lambda password: check(token.nonce, token.created, token.password, password),
            )
        elif token is not None:
            if not gate.passwords_allowed(how):
                raise soap.not_authorized("a password as text only over HTTPS: send a PasswordDigest")
            who = await gate.password(address, token.username, token.password)
        else:
            who = await gate.principal(how)
    except Refused as refused:
        status = {429: 429, 403: 403}.get(refused.status, 401 if token is None else 400)
        raise soap.Fault("Sender", ("ter:NotAuthorized",), refused.reason, status) from None
    if who is None:
        status = 401 if token is None else 400
        reason = "sign in: an account's name and password" if token is None else "wrong name or password"
        raise soap.Fault("Sender", ("ter:NotAuthorized",), reason, status)
    if who.via in ("share", "device", "metrics", "session"):  # ONVIF is for devices, by account
        raise soap.Fault(
            "Sender", ("ter:NotAuthorized",), "share links, device URLs and browsers do not open ONVIF", 403
        )
    if not who.may("onvif", role, camera):
        raise soap.Fault(
            "Sender", ("ter:NotAuthorized",), f"this needs the {role}'s account for {camera}", 403
        )
    return who


def _device(request: web.Request, st: ServerState, camera: str, who: Principal | None) -> Device:
    assert st.onvif is not None and st.settings is not None
    served = st.cameras[camera]
    settings = served.camera.settings
    prefix = f"/cam/{quote(camera, safe='')}" if "camera" in request.match_info else ""
    root = f"{request.scheme}://{request.host}{st.base_path}{prefix}"
    stream = st.rtsp.streams.get(camera) if st.rtsp is not None else None
    size = (stream.size if stream is not None else None) or served.rendition.size or (640, 480)
    fps = settings.stream_fps or settings.fps or served.camera.hub.rate_in.spacing() or 15.0
    params = stream.params if stream is not None else None
    profile = H264_PROFILES.get(params[0][1], "High") if params else "High"
    video = Video(
        size[0], size[1], fps, settings.video_bitrate, profile, max(1, round(settings.keyframe_every * fps))
    )
    rtsp_host, rtsp_port = st.settings.rtsp or ("", 0)
    # The RTSP listener's own address when it has one; else the host the client reached us by.
    rtsp_host = host_of(request.host) if rtsp_host in ("", "0.0.0.0", "::") else rtsp_host
    tls = st.rtsp is not None and st.rtsp.tls is not None
    identity = st.onvif.identity
    return Device(
        camera, settings.title or camera, root, rtsp_url(tls, rtsp_host, rtsp_port, camera),
        video, identity.serial(camera), _version(), "camcast", _location(),
        served.camera.sound is not None, request.secure, st.onvif.discovery,
        lambda: st.gate.device_url_token(who, camera) if who is not None else None,
        lambda: [(a.name, a.role) for a in st.gate.accounts.list()], rtsp_port, st.settings.listen[1],
        identity.mac(camera),
    )  # fmt: skip


def _version() -> str:
    from camcast import __version__

    return __version__


def _location() -> str:
    import socket

    return socket.gethostname()


def _hold(st: ServerState, on: Onvif, sub: tev.Subscription, who: Principal | None) -> None:
    """``sub`` lasts while its account does; a consumer's gets its messages sent."""
    if who is not None:
        delivery = st.gate.deliveries.add(
            who, lambda why: on.events.end(sub, why), f"ONVIF subscription {sub.id[:8]} on {sub.camera}"
        )
        sub.close = lambda: st.gate.deliveries.remove(delivery)
    if sub.consumer is not None:
        task = asyncio.create_task(send(on, sub))
        on.senders.add(task)
        task.add_done_callback(on.senders.discard)
        previous = sub.close

        def close() -> None:
            previous()
            task.cancel()

        sub.close = close
    log.info("ONVIF: %s subscribed to %s's events%s", sub.owner or "the local user", sub.camera,
             f" (sent to {sub.consumer})" if sub.consumer else "")  # fmt: skip


async def announce(st: ServerState, scheme: str, host: str, port: int) -> None:
    """Start WS-Discovery for the served cameras (a warning, never a stop, when UDP 3702 cannot be had)."""
    on = st.onvif
    assert on is not None

    def cameras() -> list[Announced]:
        told = []
        for name, served in st.cameras.items():
            scopes = scopes_of(served.camera.settings.title or name, "camcast", _location())
            path = f"{st.base_path}/cam/{quote(name, safe='')}/onvif/device_service"
            told.append(Announced(on.identity.endpoint(name), tuple(scopes), path))
        return told

    try:
        on.announcer = await discovery.start(cameras, scheme, host, port)
    except OSError as exc:
        log.warning("WS-Discovery: cannot listen on UDP %d (%s): NVRs must be given the address",
                    discovery.PORT, exc.strerror or exc)  # fmt: skip
        return
    log.info("WS-Discovery: said Hello for %s", ", ".join(st.cameras))
