"""WS-Discovery (2005/04, as ONVIF uses it): each camera said Hello at start and Bye at stop, and a
ProbeMatch or ResolveMatch to whoever asks on UDP 3702 (multicast 239.255.255.250), after a random
delay of up to :data:`MATCH_DELAY` as the standard asks.

Only when the owner turns it on (``onvif_discovery``), and never on a server that listens on loopback
only (refused with the settings). Only probes from a LAN's addresses (private, link-local) are
answered, at most :data:`ANSWERS_PER_SECOND` a second: UDP 3702 open to the internet does not make
camcast a reflector. It joins the group on every interface with an IPv4 address, and
names in its XAddrs the address the asker reaches it by (the server's own, when it listens on one).
What it reads is parsed by the same hardened parser as the SOAP; a datagram it cannot read is
dropped, counted, and logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import itertools
import logging
import random
import socket
import struct
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException

from camcast.net import ipv4_interfaces
from camcast.onvif.soap import SOAP12, Markup, el

log = logging.getLogger(__name__)

GROUP = "239.255.255.250"
PORT = 3702
MATCH_DELAY = 0.5
#: The largest datagram read; probes are under 1 kB.
MAX_DATAGRAM = 8192
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NVT = "http://www.onvif.org/ver10/network/wsdl"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TO_DISCOVERY = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
RFC3986 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986"
STRCMP = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0"
#: Probes answered a second at most: a spoofed flood cannot make camcast a reflector.
ANSWERS_PER_SECOND = 20
#: The types each camera is, as (namespace, name).
TYPES = ((NVT, "NetworkVideoTransmitter"), (TDS, "Device"))


def _on_the_lan(address: str) -> bool:
    """Whether ``address`` is a LAN's (private, link-local or loopback): only those are answered."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_private or ip.is_link_local or ip.is_loopback


@dataclass(frozen=True)
class Announced:
    """A camera as discovery tells it: its endpoint (urn:uuid), its scopes, and the path of its
    device service on the HTTP server."""

    endpoint: str
    scopes: tuple[str, ...]
    path: str


def _envelope(
    action: str, body: Markup, relates_to: str = "", to: str = TO_DISCOVERY, sequence: Markup | None = None
) -> bytes:
    header = el(
        "s:Header",
        el("a:MessageID", f"urn:uuid:{uuid.uuid4()}"),
        el("a:RelatesTo", relates_to) if relates_to else None,
        el("a:To", to),
        el("a:Action", f"{WSD}/{action}"),
        sequence,
    )
    xml = (
        f'<s:Envelope xmlns:s="{SOAP12}" xmlns:a="{WSA}" xmlns:d="{WSD}" xmlns:dn="{NVT}" xmlns:tds="{TDS}">'
        f"{header}<s:Body>{body}</s:Body></s:Envelope>"
    )
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + xml.encode()


def _described(camera: Announced, xaddrs: str | None) -> list[Markup | None]:
    return [
        el("a:EndpointReference", el("a:Address", camera.endpoint)),
        el("d:Types", "dn:NetworkVideoTransmitter tds:Device"),
        el("d:Scopes", " ".join(camera.scopes)),
        el("d:XAddrs", xaddrs) if xaddrs else None,
        el("d:MetadataVersion", 1),
    ]


@dataclass(frozen=True)
class Probe:
    message_id: str
    kind: str  # Probe or Resolve
    types: tuple[tuple[str, str], ...]
    scopes: tuple[str, ...]
    match_by: str
    endpoint: str


def parse_probe(data: bytes) -> Probe | None:
    """A Probe or Resolve in ``data``; None for anything else (another device's Hello, a match)."""
    prefixes: dict[str, str] = {}
    try:
        events = SafeXml.iterparse(io.BytesIO(data), events=("start-ns", "end"), forbid_dtd=True)
        root: Element | None = None
        for event, item in events:
            if event == "start-ns":
                prefix, uri = item
                prefixes.setdefault(prefix, uri)
            else:
                root = item
    except (DefusedXmlException, ParseError, ValueError):
        raise ValueError("not a WS-Discovery message") from None
    if root is None:
        return None
    body = root.find(f"{{{SOAP12}}}Body")
    message_id = root.findtext(f"{{{SOAP12}}}Header/{{{WSA}}}MessageID") or ""
    probe = body.find(f"{{{WSD}}}Probe") if body is not None else None
    resolve = body.find(f"{{{WSD}}}Resolve") if body is not None else None
    if probe is not None:
        types = []
        for qname in (probe.findtext(f"{{{WSD}}}Types") or "").split():
            prefix, _, name = qname.rpartition(":")
            types.append((prefixes.get(prefix, ""), name))
        scopes_element = probe.find(f"{{{WSD}}}Scopes")
        scopes = tuple((scopes_element.text or "").split()) if scopes_element is not None else ()
        match_by = scopes_element.get("MatchBy", RFC3986) if scopes_element is not None else RFC3986
        return Probe(message_id.strip(), "Probe", tuple(types), scopes, match_by, "")
    if resolve is not None:
        endpoint = resolve.findtext(f"{{{WSA}}}EndpointReference/{{{WSA}}}Address") or ""
        return Probe(message_id.strip(), "Resolve", (), (), RFC3986, endpoint.strip())
    return None


def matches(probe: Probe, camera: Announced) -> bool:
    """Whether ``camera`` answers ``probe``: every type asked is one of its (a type without a known
    namespace by its name), and every scope asked matches one of its (RFC 3986 by path segments, or
    strcmp0)."""
    if probe.kind == "Resolve":
        return probe.endpoint == camera.endpoint
    for namespace, name in probe.types:
        if not any(name == own and namespace in (own_ns, "") for own_ns, own in TYPES):
            return False
    for scope in probe.scopes:
        if probe.match_by == STRCMP:
            ok = scope in camera.scopes
        elif probe.match_by == RFC3986:
            ok = any(own == scope or own.startswith(scope.rstrip("/") + "/") for own in camera.scopes)
        else:
            ok = False
        if not ok:
            return False
    return True


class Discovery(asyncio.DatagramProtocol):
    """Answers probes for ``cameras()`` (read at each probe: a reload's cameras are the ones told)
    of the HTTP server at ``scheme``://host:``port`` (``host`` when it listens on one address)."""

    def __init__(self, cameras: Callable[[], Sequence[Announced]], scheme: str, host: str, port: int) -> None:
        self.cameras = cameras
        self.scheme, self.host, self.port = scheme, host, port
        self.transport: asyncio.DatagramTransport | None = None
        self.instance = int(time.time())
        self._numbers = itertools.count(1)
        self.unreadable = 0
        self._answers: list[float] = []  # when the last answers were sent

    def _may_answer(self) -> bool:
        """At most :data:`ANSWERS_PER_SECOND` probes answered a second, whoever sends them."""
        now = time.monotonic()
        self._answers = [t for t in self._answers if now - t < 1.0]
        if len(self._answers) >= ANSWERS_PER_SECOND:
            return False
        self._answers.append(now)
        return True

    def _sequence(self) -> Markup:
        return el("d:AppSequence", InstanceId=self.instance, MessageNumber=next(self._numbers))

    def _address_for(self, peer: str) -> str:
        if self.host not in ("", "0.0.0.0", "::"):
            return self.host
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((peer, PORT))
            return str(s.getsockname()[0])

    def _xaddrs(self, address: str, camera: Announced) -> str:
        shown = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{shown}:{self.port}{camera.path}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's (not a subclass)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, ...]) -> None:
        if len(data) > MAX_DATAGRAM:
            return
        try:
            probe = parse_probe(data)
        except ValueError:
            self.unreadable += 1
            if self.unreadable == 1:
                log.info("WS-Discovery: dropped a datagram from %s that is not a readable message", addr[0])
            return
        if probe is None:
            return
        peer = (str(addr[0]), int(addr[1]))
        if not _on_the_lan(peer[0]) or not self._may_answer():
            return  # not a reflector: nothing goes to the internet, and little anywhere
        for camera in self.cameras():
            if matches(probe, camera):
                delay = random.uniform(0, MATCH_DELAY)
                asyncio.get_running_loop().call_later(delay, self._match, probe, camera, peer)

    def _match(self, probe: Probe, camera: Announced, peer: tuple[str, int]) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        kind = "ProbeMatches" if probe.kind == "Probe" else "ResolveMatches"
        item = "ProbeMatch" if probe.kind == "Probe" else "ResolveMatch"
        try:
            xaddrs = self._xaddrs(self._address_for(peer[0]), camera)
        except OSError:  # no route back to the asker any more (an interface went down)
            return
        body = el(f"d:{kind}", el(f"d:{item}", *_described(camera, xaddrs)))
        self.transport.sendto(_envelope(kind, body, probe.message_id, ANONYMOUS, self._sequence()), peer)

    def announce(self, action: str) -> None:
        """Hello (or Bye) for every camera, on every interface."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        for _index, _name, address in ipv4_interfaces():
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
                for camera in self.cameras():
                    hello = action == "Hello"
                    xaddrs = self._xaddrs(self._address_for_interface(address), camera) if hello else None
                    described = _described(camera, xaddrs)
                    body = el(f"d:{action}", *(described if action == "Hello" else described[:1]))
                    self.transport.sendto(_envelope(action, body, sequence=self._sequence()), (GROUP, PORT))

    def _address_for_interface(self, address: str) -> str:
        return self.host if self.host not in ("", "0.0.0.0", "::") else address

    def close(self) -> None:
        """Stop listening (a match still due finds the transport closed and is not sent)."""
        if self.transport is not None:
            self.transport.close()


async def start(
    cameras: Callable[[], Sequence[Announced]], scheme: str, host: str, port: int, bind: str = "0.0.0.0"
) -> Discovery:
    """Listen on UDP 3702, join the group on every interface, and say Hello."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with contextlib.suppress(AttributeError, OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.bind((bind, PORT))
    joined = 0
    for index, _name, _address in ipv4_interfaces():
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                            socket.inet_aton(GROUP) + struct.pack("4si", b"\0" * 4, index))  # fmt: skip
            joined += 1
    if not joined:
        log.warning("WS-Discovery: no interface with an IPv4 address to listen on; give NVRs the address")
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    _transport, protocol = await loop.create_datagram_endpoint(
        lambda: Discovery(cameras, scheme, host, port), sock=sock
    )
    protocol.announce("Hello")
    return protocol
