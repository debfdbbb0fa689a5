"""Host names and addresses as people write them: one place for IPv6 brackets and loopback checks."""

from __future__ import annotations

import ipaddress


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
