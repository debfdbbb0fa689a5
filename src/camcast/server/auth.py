"""The HTTP side of the gate (:mod:`camcast.security.gate`): a request described as an
:class:`~camcast.security.gate.Asking`, a refusal answered as its HTTP status, and the same-origin rule
for changes."""

from __future__ import annotations

from aiohttp import web

from camcast.net import host_of
from camcast.security.gate import REALM, Asking, Gate, Principal, Refused
from camcast.security.sessions import COOKIE
from camcast.server.proxy import PROXY, is_proxied

__all__ = ["REALM", "Gate", "Principal", "Refused", "asking", "check", "refusal", "same_origin"]


def asking(request: web.Request) -> Asking:
    """Who sends ``request``, as the gate reads it."""
    return Asking(
        address=request.remote or "?",
        transport="unix" if _is_unix(request) else "http",
        token=request.query.get("token"),
        authorization=request.headers.get("Authorization"),
        cookie=request.cookies.get(COOKIE),
        host=host_of(request.host),
        secure=request.secure,
        relayed_unknown=is_proxied(request) and PROXY not in request,
        method=request.method,
        uri=request.path_qs,
    )


def refusal(refused: Refused) -> web.HTTPException:
    """The HTTP answer to ``refused``: 401 with the realm, 403, or 429 with Retry-After."""
    text = f"{refused.reason}\n"
    if refused.status == 401:
        return web.HTTPUnauthorized(text=text, headers={"WWW-Authenticate": REALM})
    if refused.status == 429:
        return web.HTTPTooManyRequests(text=text, headers={"Retry-After": str(int(refused.retry_after) + 1)})
    return web.HTTPForbidden(text=text)


async def check(
    gate: Gate, request: web.Request, route: str, needed: str, camera: str | None = None
) -> Principal | None:
    """:meth:`Gate.check` for an HTTP request: its principal, or the refusal as an HTTP error."""
    try:
        return await gate.check(asking(request), route, needed, camera)
    except Refused as refused:
        raise refusal(refused) from None


def _is_unix(request: web.Request) -> bool:
    transport = request.transport
    if transport is None:
        return False
    sockname = transport.get_extra_info("sockname")
    return isinstance(sockname, str | bytes)


def same_origin(request: web.Request) -> bool:
    """True when a state-changing request comes from this server's own pages (or from no page at all).

    Browsers send Origin with every POST; a tool such as curl sends none and is trusted to the extent
    its credentials are.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    scheme = "https" if request.secure else "http"
    return origin == f"{scheme}://{request.host}"
