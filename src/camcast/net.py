"""Host names and addresses as people write them: one place for IPv6 brackets and loopback checks."""

from __future__ import annotations

import ipaddress
import socket

#: Addresses that mean "every interface": not an address anyone can open.
WILDCARDS = ("0.0.0.0", "::", "")


def bracket(host: str) -> str:
    """``host`` as it stands before ``:port`` in a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def host_port(host: str, port: int) -> str:
    return f"{bracket(host)}:{port}"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, bracketed or not) is this machine's loopback."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shown_host(host: str) -> str:
    """The host to print in URLs for a server listening on ``host``: this machine's name for a wildcard
    address (``0.0.0.0`` opens nowhere in a browser), else ``host`` itself. May ask the resolver."""
    return socket.getfqdn() if host in WILDCARDS else host


def host_of(header: str) -> str:
    """The host part of a Host header or a URL's authority (``[::1]:8080`` -> ``::1``)."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def ipv4_of(interface: str) -> tuple[str, int] | None:
    """The interface's IPv4 address and prefix length (Linux's SIOCGIFADDR, SIOCGIFNETMASK), or None."""
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("256s", interface.encode()[:15])
        try:
            address = fcntl.ioctl(s.fileno(), 0x8915, request)[20:24]
            mask = fcntl.ioctl(s.fileno(), 0x891B, request)[20:24]
        except OSError:
            return None
    return socket.inet_ntoa(address), bin(int.from_bytes(mask, "big")).count("1")


def ipv4_interfaces() -> list[tuple[int, str, str]]:
    """Every interface but loopback with an IPv4 address: (index, name, address)."""
    found = []
    for index, name in socket.if_nameindex():
        address = ipv4_of(name) if name != "lo" else None
        if address is not None:
            found.append((index, name, address[0]))
    return found
