"""Who may come in, managed from the settings page: accounts and share links.

``GET /api/accounts`` lists the accounts (never a password or its hash); ``POST /api/accounts`` with
``{"action": "add" | "password" | "remove", ...}`` changes them as ``camcast users`` does. A removed
account's sessions end at once, and so do an account's sessions when its password changes (the
owner changing their own password stays signed in with a new session). The last owner account cannot
be removed here: that would leave nobody to manage the camera.

``GET /api/shares`` lists the links in use with their last use; ``POST /api/shares`` with
``{"action": "create", "name", "scope", "expires", "camera"}`` issues one and returns its URL (shown
once) with a QR code for a phone, and ``{"action": "revoke", "id"}`` revokes one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from aiohttp import web

from camcast.errors import CamcastError, ConfigError
from camcast.net import host_of
from camcast.security.links import Link
from camcast.security.tokens import SCOPES, parse_duration
from camcast.server.auth import asking
from camcast.server.settings import body_json, owner_of_all
from camcast.server.signin import set_session_cookie
from camcast.server.state import state
from camcast.server.urls import RTSP_SCOPES, link_paths, rtsp_url


def _accounts_document(request: web.Request) -> dict[str, object]:
    accounts = state(request).gate.accounts
    return {"accounts": [dataclasses.asdict(a) for a in accounts.list()]}


async def accounts(request: web.Request) -> web.StreamResponse:
    owner_of_all(request)
    return web.json_response(_accounts_document(request), headers={"Cache-Control": "no-store"})


def _text(doc: dict[str, Any], key: str, most: int = 1024) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str) or len(value) > most:
        raise web.HTTPBadRequest(text=f"{key} must be text of at most {most} characters\n")
    return value


async def accounts_change(request: web.Request) -> web.StreamResponse:
    p = owner_of_all(request)
    st = state(request)
    gate = st.gate
    doc = await body_json(request)
    action, name = _text(doc, "action"), _text(doc, "name")
    cameras = tuple(c.strip() for c in _text(doc, "cameras").split(",") if c.strip())
    unknown = [c for c in cameras if c not in st.cameras]
    try:
        if unknown:
            raise ConfigError(f"no camera named {unknown[0]!r}")
        if action == "add":
            if name in {a.name for a in gate.accounts.list()}:
                raise ConfigError(f"an account named {name!r} exists: change its password instead")
            role, onvif = _text(doc, "role") or "viewer", doc.get("onvif") in ("1", "on", True)
            await gate.files.run(gate.accounts.add, name, _text(doc, "password"), role, cameras, onvif)
        elif action == "password":
            await gate.files.run(gate.accounts.change_password, name, _text(doc, "password"))
        elif action == "remove":
            owners = [a.name for a in gate.accounts.list() if a.role == "owner" and not a.cameras]
            if owners == [name]:
                raise ConfigError("the last owner account cannot be removed here (camcast users remove can)")
            await gate.files.run(gate.accounts.remove, name)
        else:
            raise web.HTTPBadRequest(text="action is add, password or remove\n")
    except ConfigError as exc:
        return web.json_response({"error": exc.render(lambda key: key)}, status=400)
    except CamcastError as exc:  # users.json could not be written (a full or stalled disk)
        return web.json_response({"error": str(exc)}, status=409)
    # What the account's holders have open ends, once this answer (a delivery itself) is on its way.
    asyncio.get_running_loop().call_soon(gate.changed)
    body = _accounts_document(request)
    token = ""
    if action == "password" and name == p.name and p.via == "session":
        # The change ended this owner's own session with the others: a new one keeps them signed in.
        token, session = gate.open_session(dataclasses.replace(p, via="account"))
        body["csrf"] = session.csrf
    elif p.via == "session" and gate.session(asking(request)) is None:
        body["signed_out"] = True  # the local user's session ends with the first account
    response = web.json_response(body)
    if token:
        set_session_cookie(request, response, token)
    return response


def _link_document(link: Link) -> dict[str, object]:
    doc = dataclasses.asdict(link)
    doc["cameras"] = list(link.cameras)
    return doc


async def shares(request: web.Request) -> web.StreamResponse:
    owner_of_all(request)
    try:
        links = state(request).gate.shares.list()
    except ConfigError as exc:  # links.json damaged: say which file, rather than an internal error
        raise web.HTTPConflict(text=f"{exc.message}\n") from None
    return web.json_response(
        {"links": [_link_document(link) for link in links]}, headers={"Cache-Control": "no-store"}
    )


async def shares_change(request: web.Request) -> web.StreamResponse:
    owner_of_all(request)
    st = state(request)
    doc = await body_json(request)
    action = _text(doc, "action")
    registry = st.gate.shares
    try:
        if action == "revoke":
            link = await st.gate.files.run(registry.revoke, _text(doc, "id"))
            st.gate.changed()  # what the link has open ends now
            return web.json_response({"link": _link_document(link)})
        if action != "create":
            raise web.HTTPBadRequest(text="action is create or revoke\n")
        scope = _text(doc, "scope") or "watch"
        if scope not in SCOPES:
            raise ConfigError(f"scope must be one of {', '.join(SCOPES)}")
        try:
            seconds = parse_duration(_text(doc, "expires") or "7d")
        except ValueError as exc:
            raise ConfigError(f"expires {exc}") from None
        camera = _text(doc, "camera")
        if camera and camera not in st.cameras:
            raise ConfigError(f"no camera named {camera!r}")
        name = _text(doc, "name", 64).strip() or "guest"
        link, token = await st.gate.files.run(
            registry.issue, name, seconds, scope, (camera,) if camera else ()
        )
    except ConfigError as exc:
        return web.json_response({"error": exc.message}, status=400)
    except CamcastError as exc:  # links.json could not be written (a full or stalled disk)
        return web.json_response({"error": str(exc)}, status=409)
    shown = camera if camera and len(st.cameras) > 1 else None
    root = f"{request.scheme}://{request.host}{st.base_path}"
    urls = [root + path for path in link_paths(scope, shown, token)]
    url = urls[0]  # the page (or the picture) a person opens; the others are for programs
    if st.rtsp is not None and st.settings is not None and st.settings.rtsp and scope in RTSP_SCOPES:
        target = camera or next(iter(st.cameras))
        urls.append(
            rtsp_url(st.rtsp.tls is not None, host_of(request.host), st.settings.rtsp[1], target, token)
        )
    import segno  # only here: 28 ms of the server's start otherwise

    qr = segno.make(url, error="m").svg_inline(scale=4, border=2, dark="#000", light="#fff")
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(link.expires))
    return web.json_response(
        {"link": _link_document(link), "url": url, "urls": urls, "qr": qr, "until": until}
    )
