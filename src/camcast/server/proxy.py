"""Behind a reverse proxy: the real client, scheme and host, from the headers of trusted proxies only.

Behind nginx or Caddy every request arrives from the proxy's address. With ``--trusted-proxy`` (an
address or network, repeatable; none by default), a request whose peer is trusted is taken to come from
the client the proxy names: the ``Forwarded`` header (RFC 7239) or else ``X-Forwarded-For``, read from
the right, past every hop that is itself a trusted proxy; its scheme and host come from the nearest
proxy's ``proto``/``host`` (or ``X-Forwarded-Proto``/``X-Forwarded-Host``). The request is rewritten
before anything reads it, so the viewer log, the lockout of password guessers, the per-address caps,
``request.secure`` (passwords only over HTTPS) and same-origin checks all see the real client. From any
other peer these headers are ignored, so nobody can claim another address by sending them.

A proxied request is never "the local user": with no accounts on a loopback server, a request that
arrives through an untrusted proxy (it carries forwarding headers) is refused rather than taken for
the owner at the keyboard.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The headers that mark a request as forwarded by a proxy.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For")
_HOST = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


def parse_network(text: str) -> Network:
    """An address or network (``127.0.0.1``, ``10.0.0.0/8``, ``::1``); ValueError otherwise."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError("must be an IP address or network, e.g. 127.0.0.1 or 10.0.0.0/8") from None


def _address(token: str) -> str | None:
    """The IP address in a ``for=`` value or X-Forwarded-For item (quotes, brackets and a port
    removed), or None for ``unknown``, an obfuscated name or anything else."""
    token = token.strip().strip('"')
    if token.startswith("["):
        token = token[1 : token.find("]")] if "]" in token else ""
    elif token.count(":") == 1:
        token = token.split(":")[0]
    try:
        return str(ipaddress.ip_address(token))
    except ValueError:
        return None


def _forwarded(header: str) -> list[dict[str, str]]:
    """The elements of a ``Forwarded`` header, each a dict of its lower-cased parameters."""
    elements = []
    for element in header.split(","):
        params = {}
        for pair in element.split(";"):
            key, sep, value = pair.partition("=")
            if sep:
                params[key.strip().lower()] = value.strip().strip('"')
        elements.append(params)
    return elements


class TrustedProxies:
    """The proxies whose forwarding headers are believed, and the per-client request counts that
    stand in for per-address connection caps behind them."""

    def __init__(self, networks: Sequence[Network | str], max_per_client: int = 100) -> None:
        self.networks = [n if not isinstance(n, str) else parse_network(n) for n in networks]
        self.max_per_client = max_per_client
        self.open: Counter[str] = Counter()

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def resolve(self, peer: str, headers: Mapping[str, str]) -> tuple[str, str | None, str | None]:
        """(client address, scheme or None, host or None) of a request from the trusted ``peer``."""
        forwarded = headers.get("Forwarded")
        proto = host = None
        if forwarded is not None:
            elements = _forwarded(forwarded)
            hops = [e.get("for", "") for e in elements]
            nearest = elements[-1] if elements else {}
            proto, host = nearest.get("proto"), nearest.get("host")
        else:
            hops = [h for h in headers.get("X-Forwarded-For", "").split(",") if h.strip()]
            proto = _last(headers.get("X-Forwarded-Proto"))
            host = _last(headers.get("X-Forwarded-Host"))
        client = peer
        for hop in reversed(hops):
            if not self.trusts(client):
                break
            address = _address(hop)
            if address is None:
                break  # "unknown" or hidden: the last address known is as far as it goes
            client = address
        if proto is not None and proto.lower() not in ("http", "https"):
            proto = None
        if host is not None and not _HOST.fullmatch(host):
            host = None
        return client, proto.lower() if proto else None, host


def _last(value: str | None) -> str | None:
    """The nearest proxy's value of a comma-separated X-Forwarded-* header."""
    if not value:
        return None
    return value.split(",")[-1].strip() or None


#: Set on a request relayed by a trusted proxy: the proxy's own address (the request's is the client's).
PROXY: web.RequestKey[str] = web.RequestKey("proxy")


def is_proxied(request: web.Request) -> bool:
    """Whether ``request`` carries forwarding headers (whether or not they were believed)."""
    return any(name in request.headers for name in FORWARDING_HEADERS)
