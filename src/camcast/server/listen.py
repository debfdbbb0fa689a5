"""Where and how the server listens: the address, TLS, and the access policy that follows from both."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from camcast.config import ServerSettings
from camcast.errors import ConfigError, ServeError, mention
from camcast.net import bracket, is_loopback_host
from camcast.security.accounts import Accounts
from camcast.server.guard import Limits, guarded


@dataclass
class Access:
    """What the listening address, TLS and the accounts allow: ``loopback`` only or not, ``tls``, and
    ``notes`` to print at start."""

    loopback: bool
    tls: ssl.SSLContext | None
    notes: list[str] = field(default_factory=list)


def tls_context(settings: ServerSettings) -> ssl.SSLContext | None:
    cert, key = settings.tls_cert, settings.tls_key
    if not cert and not key:
        return None
    if not (cert and key):
        raise ConfigError(
            f"{mention('tls_cert')} and {mention('tls_key')} go together; "
            "`camcast tls self-signed` makes a pair"
        )
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if not os.access(path, os.R_OK):
            raise ConfigError(
                f"{path}: {'cannot read it' if Path(path).exists() else 'no such file'}", key=name
            )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot use {cert} / {key} for TLS: {getattr(exc, 'reason', None) or exc}"
        ) from exc
    return context


def access_policy(settings: ServerSettings, accounts: Accounts) -> Access:
    """The access the settings give; raises ConfigError when they would let someone watch who was not
    let in (a non-loopback address without accounts or --public, passwords without TLS)."""
    tls = tls_context(settings)
    host = settings.listen[0]
    loopback = is_loopback_host(host)
    access = Access(loopback, tls)
    if settings.public and accounts:
        access.notes.append("public (anyone may watch) has no effect while accounts exist: everyone signs in")
    elif settings.public:
        access.notes.append("PUBLIC: anyone who can reach this server may watch, without an account")
    elif accounts:
        access.notes.append(
            "who may watch: the accounts (camcast users list) and share links (camcast share); this "
            "computer signs in too"
        )
    else:
        access.notes.append(
            "who may watch: this computer only, without signing in (no accounts yet; once one exists "
            "everyone signs in, this computer too)"
        )
    if (
        settings.rtsp is not None
        and not is_loopback_host(settings.rtsp[0])
        and not accounts
        and not settings.public
    ):
        raise ConfigError(
            f"refusing to serve RTSP on {settings.rtsp[0]} with no viewer accounts: add one with "
            "`camcast users add NAME`, or pass --public to let anyone who can reach it watch",
            key="rtsp",
        )
    _check_onvif(settings, loopback, accounts)
    if not loopback and not accounts and not settings.public:
        raise ConfigError(
            f"refusing to serve on {host} with no viewer accounts: add one with `camcast users add NAME`, "
            "or pass --public to let anyone who can reach it watch"
        )
    if not loopback and accounts and tls is None:
        raise ConfigError(
            f"refusing to take passwords over plain HTTP on {host}: pass --tls-cert and --tls-key "
            "(`camcast tls self-signed` makes a pair)"
        )
    return access


def _check_onvif(settings: ServerSettings, loopback: bool, accounts: Accounts) -> None:
    if settings.onvif_discovery and not settings.onvif:
        raise ConfigError("answers for ONVIF: pass --onvif too", key="onvif_discovery")
    if not settings.onvif:
        return
    if settings.rtsp is None:
        raise ConfigError("NVRs take the video over RTSP: pass --rtsp HOST:PORT too", key="onvif")
    if not loopback and not accounts:
        raise ConfigError(
            "refusing to answer ONVIF beyond this computer with no accounts: add one for the NVR with "
            "`camcast users add NVR --onvif`", key="onvif",
        )  # fmt: skip
    if settings.onvif_discovery and loopback:
        raise ConfigError(
            f"the server listens on {settings.listen[0]} only: nothing on the LAN could reach what "
            "discovery announces; listen on the LAN's address (--listen 0.0.0.0:8443)", key="onvif_discovery",
        )  # fmt: skip


def free_port_near(host: str, port: int) -> int | None:
    """A port after ``port`` that can be bound on ``host`` now, to suggest in an error message."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in range(port + 1, min(port + 50, 65536)):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return None


async def listen(
    runner: web.AppRunner, host: str, port: int, tls: ssl.SSLContext | None, limits: Limits
) -> asyncio.Server:
    """Listen on ``host``:``port`` with every connection behind the connection guard."""
    loop = asyncio.get_running_loop()
    assert runner.server is not None
    try:
        return await loop.create_server(
            guarded(runner.server, limits), host, port, ssl=tls, backlog=1024, reuse_address=True
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            alt = free_port_near(host, port)
            hint = f"; pass --listen {bracket(host)}:{alt}" if alt else ""
            raise ServeError(f"port {port} is in use on {host}{hint}") from exc
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
            raise ServeError(f"cannot listen on {host}: no such address on this machine") from exc
        if exc.errno == errno.EACCES:
            raise ServeError(f"port {port} needs privileges; pass --listen {bracket(host)}:8080") from exc
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
