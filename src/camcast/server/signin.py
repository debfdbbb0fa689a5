"""Signing in with a form, for the owner's pages: ``/login`` checks an account's password with the same
lockout as HTTP Basic and opens a session (:mod:`camcast.security.sessions`); ``/logout`` ends it.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends it)
and ``Secure`` whenever the request is not from this machine (then it came over HTTPS: passwords are
refused otherwise), limited to the server's base path.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from aiohttp import web

from camcast.net import is_loopback_host
from camcast.pages import forms
from camcast.security.sessions import COOKIE, LIFETIME
from camcast.server.auth import asking
from camcast.server.state import principal, read_form, state
from camcast.server.urls import path_for

log = logging.getLogger(__name__)

#: Longest name or password a sign-in form may carry.
MOST = 1024


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    secure = request.secure or not is_loopback_host(request.remote or "")
    response.set_cookie(
        COOKIE, token, max_age=int(LIFETIME), path=(state(request).base_path or "") + "/", httponly=True,
        samesite="Strict", secure=secure,
    )  # fmt: skip


def _next(request: web.Request, raw: str | None) -> str:
    """Where to go after signing in: a path of this server (never another site), else settings."""
    base = state(request).base_path
    fallback = base + path_for("settings_page")
    if not raw:
        return fallback
    parts = urlsplit(raw)
    # Browsers drop tabs and newlines from URLs ("/\t/evil.example" is "//evil.example"): none may pass.
    odd = not raw.isprintable() or " " in raw or "\\" in raw
    if parts.scheme or parts.netloc or not raw.startswith("/") or raw.startswith("//") or odd:
        return fallback
    return raw if raw.startswith(base + "/") or not base else fallback


def _page(request: web.Request, message: str, next_url: str, status: int = 200) -> web.Response:
    st = state(request)
    body = forms.login_page(
        st.base_path + path_for("static", name="").rstrip("/"), st.base_path + path_for("login"), next_url,
        message,
    )  # fmt: skip
    return web.Response(
        text=body, status=status, content_type="text/html", headers={"Cache-Control": "no-store"}
    )


async def login_page(request: web.Request) -> web.StreamResponse:
    return _page(request, "", _next(request, request.query.get("next")))


async def login(request: web.Request) -> web.StreamResponse:
    """Check the form's name and password; open a session and go on, or show the form again."""
    gate = state(request).gate
    address = request.remote or "?"
    form = await read_form(request)
    name, password = str(form.get("name", ""))[:MOST], str(form.get("password", ""))[:MOST]
    next_url = _next(request, str(form.get("next", "")) or None)
    wait = gate.limiter.retry_after(address)
    if wait:
        response = _page(request, "Too many failed attempts: try again later.", next_url, 429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    if not gate.passwords_allowed(asking(request)):
        return _page(request, "Passwords are accepted only over HTTPS.", next_url, 403)
    account = await gate.password(address, name, password)
    if account is None:
        return _page(request, "Wrong name or password.", next_url, 401)
    token, _ = gate.open_session(account)
    log.info("%s signed in from %s", account.name, address)
    response = web.HTTPSeeOther(next_url)
    set_session_cookie(request, response, token)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """End this browser's session (the CSRF token was checked on the way in)."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        gate = state(request).gate
        gate.sessions.close(cookie)
        asyncio.get_running_loop().call_soon(gate.changed)  # what the session has open ends
    p = principal(request)
    log.info("%s signed out", p.name if p else "someone")
    response = web.HTTPSeeOther(state(request).base_path + path_for("login"))
    response.del_cookie(COOKIE, path=(state(request).base_path or "") + "/")
    raise response
