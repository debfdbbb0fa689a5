"""ICE for camcast's WebRTC peers: host candidates on the listening address only, and STUN/TURN only
when configured.

aioice gathers host candidates on every interface but loopback, with no way to choose them per
connection. It looks them up through its module function ``get_host_addresses`` at gathering time,
which runs in the task that sets the local description. :func:`install` replaces that function once,
when the server starts, with one that reads the addresses this server chose from a context variable
(:func:`gathering_on`); any other aioice user in the process, and any task outside
:func:`gathering_on`, keeps aioice's default.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import aioice.ice
from aiortc import RTCIceServer

from camcast.config.parse import ICE_URL

_HOSTS: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar("camcast_ice", default=None)
_default_host_addresses = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    chosen = _HOSTS.get()
    return _default_host_addresses(use_ipv4, use_ipv6) if chosen is None else list(chosen)


def install() -> None:
    """Let :func:`gathering_on` choose aioice's host addresses (idempotent)."""
    aioice.ice.get_host_addresses = _host_addresses


@contextlib.contextmanager
def gathering_on(hosts: tuple[str, ...] | None) -> Iterator[None]:
    """Gather host candidates on ``hosts`` (None: every interface, aioice's choice) in this context."""
    install()
    token = _HOSTS.set(hosts)
    try:
        yield
    finally:
        _HOSTS.reset(token)


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
