"""Behind a reverse proxy: Debian's nginx running the recipe of docs/proxy.md (TLS, the /cam/ prefix) in
front of camcast with --trusted-proxy: 300 viewers through it, each client known by its own address;
a lockout of one leaves the others watching; spoofed headers from an untrusted peer change nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from camcast.config.parse import parse_base_path, parse_trusted_proxy
from camcast.security.accounts import Accounts
from camcast.server.proxy import TrustedProxies
from tests.conftest import ROOT, camcast_server, free_port, run_cli
from tests.peers import FtpPeer, nginx_running
from tests.test_access import OWNER, VIEWER, accounts  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(180)

PATTERN = ("--source", "pattern", "--size", "160x120", "--fps", "5")
#: The test clients' own addresses (every 127.x.y.z is this machine's loopback).
CLIENTS = [f"127.0.0.{n}" for n in range(2, 10)]
VIEWERS = 300


def recipe() -> tuple[str, str]:
    """The nginx blocks of docs/proxy.md: the http-level cache path and the server."""
    text = (ROOT / "docs" / "proxy.md").read_text()
    blocks = {
        name: re.search(rf"<!-- {name} -->\n```nginx\n(.*?)```", text, re.S)[1]  # type: ignore[index]
        for name in ("nginx-http", "nginx-server")
    }
    return blocks["nginx-http"], blocks["nginx-server"]


@contextlib.contextmanager
def nginx_recipe(tmp: Path, upstream_port: int, cert: Path, key: Path) -> Iterator[int]:
    """nginx with the documented recipe, on a free port, with a test certificate; yields the port."""
    http_block, server_block = recipe()

    def http(root: Path, port: int) -> str:
        server = (
            server_block.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
            .replace("/etc/letsencrypt/live/cam.example.net/fullchain.pem", str(cert))
            .replace("/etc/letsencrypt/live/cam.example.net/privkey.pem", str(key))
            .replace("127.0.0.1:8080", f"127.0.0.1:{upstream_port}")
        )
        assert str(cert) in server and f":{upstream_port}" in server
        cache = http_block.replace("/var/cache/nginx/camcast", str(root / "cache"))
        return f"    access_log {root}/access.log;\n{cache}\n{server}"

    with nginx_running(tmp, http) as (_, port):
        yield port


@contextlib.contextmanager
def caddy_recipe(tmp: Path, upstream_port: int, cert: Path, key: Path) -> Iterator[int]:
    """Debian's Caddy with the documented Caddyfile, on a free port, with a test certificate and no
    admin endpoint or certificate authority contacted; yields the port."""
    text = (ROOT / "docs" / "proxy.md").read_text()
    site = re.search(r"<!-- caddy -->\n```caddyfile\n(.*?)```", text, re.S)[1]  # type: ignore[index]
    port = free_port()
    site = site.replace("cam.example.net {", f"https://127.0.0.1:{port} {{\n    tls {cert} {key}", 1)
    site = site.replace("127.0.0.1:8080", f"127.0.0.1:{upstream_port}")
    caddyfile = tmp / "Caddyfile"
    caddyfile.write_text(
        "{\n    admin off\n    auto_https disable_redirects\n    skip_install_trust\n}\n" + site
    )
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp / "caddy-data"),
        "XDG_CONFIG_HOME": str(tmp / "caddy-config"),
    }
    with (tmp / "caddy.log").open("w") as log:
        proc = subprocess.Popen(
            [shutil.which("caddy") or "/usr/bin/caddy", "run", "--config", str(caddyfile),
             "--adapter", "caddyfile"],
            stdout=log, stderr=log, env=env,
        )  # fmt: skip
        try:
            FtpPeer(port, tmp, "").wait_port()
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


@contextlib.asynccontextmanager
async def clients(ca: Path) -> AsyncIterator[dict[str, aiohttp.ClientSession]]:
    """One session per client address, each connecting from that address, trusting the test CA."""
    context = ssl.create_default_context(cafile=str(ca))
    async with contextlib.AsyncExitStack() as stack:
        sessions = {}
        for address in CLIENTS:
            connector = aiohttp.TCPConnector(ssl=context, local_addr=(address, 0), limit=0)
            sessions[address] = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
        yield sessions


async def watch(session: aiohttp.ClientSession, url: str, started: asyncio.Event, frames: list[int]) -> None:
    """An MJPEG viewer: count the pictures that arrive until cancelled."""
    async with session.get(url, headers=VIEWER.header, timeout=aiohttp.ClientTimeout(total=None)) as resp:
        assert resp.status == 200, resp.status
        index = len(frames)
        frames.append(0)
        buffer = b""
        while True:
            chunk = await resp.content.readany()
            if not chunk:
                return
            buffer = (buffer + chunk)[-4096:]
            count = buffer.count(b"\xff\xd9")
            if count:
                frames[index] += count
                buffer = buffer[buffer.rfind(b"\xff\xd9") + 2 :]
                started.set()


def test_forwarded_headers_are_read_from_the_right_past_trusted_hops() -> None:
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    assert proxies.resolve("127.0.0.1", {"X-Forwarded-For": "203.0.113.9, 10.1.1.1"})[0] == "203.0.113.9"
    # a client cannot hide behind a fake first entry: the first untrusted hop from the right wins
    assert proxies.resolve("127.0.0.1", {"X-Forwarded-For": "1.2.3.4, 198.51.100.7"})[0] == "198.51.100.7"
    forwarded = {"Forwarded": 'for="[2001:db8::1]:4711";proto=https;host=cam.example.net'}
    assert proxies.resolve("127.0.0.1", forwarded) == ("2001:db8::1", "https", "cam.example.net")
    assert proxies.resolve("127.0.0.1", {"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "a b"}) == (
        "127.0.0.1", None, None,
    )  # fmt: skip
    assert proxies.resolve("127.0.0.1", {"X-Forwarded-For": "unknown"})[0] == "127.0.0.1"
    assert not proxies.trusts("127.0.0.2") and proxies.trusts("10.9.9.9")
    assert parse_trusted_proxy("10.1.2.3/8") == "10.0.0.0/8"
    assert parse_base_path("cam/") == "/cam" and parse_base_path("/") == ""
    for bad in ("/../etc", "/a b", "/cam?x"):
        with pytest.raises(ValueError):
            parse_base_path(bad)


async def test_nginx_recipe_tls_prefix_300_viewers_real_addresses_and_lockout(
    accounts: Accounts,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Through the documented nginx (TLS, /cam/): 300 MJPEG viewers from 8 client addresses all get
    pictures (the cap of 100 per address applies per client, not to nginx); `camcast viewers` shows
    each client's own address; pages link under /cam/; a client locked out for guessing passwords is
    refused while the others go on watching; forwarding headers from an untrusted peer are ignored."""
    made = run_cli("tls", "self-signed", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    proxy = ("--trusted-proxy", "127.0.0.1", "--base-path", "/cam/")
    async with camcast_server(*PATTERN, *proxy, "--max-connections-per-address", "60") as server:
        with nginx_recipe(tmp_path, server.port, cert, key) as port:
            base = f"https://127.0.0.1:{port}/cam"
            async with clients(cert) as sessions:
                # pages and scripts under the prefix
                first = sessions[CLIENTS[0]]
                page = await (await first.get(base + "/view/stream", headers=VIEWER.header)).text()
                assert 'src="/cam/static/viewer.js"' in page and 'data-whep="/cam/whep"' in page
                script = await first.get(base + "/static/viewer.js")
                assert script.status == 200

                started = [asyncio.Event() for _ in range(VIEWERS)]
                frames: list[int] = []
                tasks = [
                    asyncio.create_task(
                        watch(sessions[CLIENTS[i % len(CLIENTS)]], base + "/stream.mjpg", started[i], frames)
                    )
                    for i in range(VIEWERS)
                ]
                try:
                    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 60)
                    shown = run_cli("viewers", "--listen", f"127.0.0.1:{server.port}", "--base-path", "/cam/")
                    assert shown.returncode == 0, shown.stderr
                    streams = [
                        line for line in shown.stdout.splitlines() if re.search(r"camera +stream \(", line)
                    ]
                    assert len(streams) == VIEWERS, shown.stdout
                    assert {a for a in CLIENTS if a in shown.stdout} == set(CLIENTS)
                    assert "127.0.0.1 " not in shown.stdout  # nginx's own address appears nowhere

                    # one client guesses passwords: it alone is locked out
                    guesser, other = sessions[CLIENTS[1]], sessions[CLIENTS[2]]
                    wrong = {"Authorization": "Basic " + "dmljdG9yOm5vcGU="}  # victor:nope
                    for _ in range(5):
                        assert (await guesser.get(base + "/snapshot.jpg", headers=wrong)).status == 401
                    assert (await guesser.get(base + "/snapshot.jpg", headers=VIEWER.header)).status == 429
                    assert (await other.get(base + "/snapshot.jpg", headers=VIEWER.header)).status == 200
                    before = list(frames)
                    await asyncio.sleep(2)
                    assert all(b > a for a, b in zip(before, frames, strict=True)), "a stream stopped"
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)

        # straight to camcast from an untrusted address: its forwarding headers change nothing
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.7", 0))
        async with aiohttp.ClientSession(connector=connector) as direct:
            spoofed = {**OWNER.header, "X-Forwarded-For": "203.0.113.50", "X-Forwarded-Proto": "https"}
            async with direct.get(server.url + "/cam/api/viewers", headers=spoofed) as resp:
                assert resp.status == 200
                assert "203.0.113.50" not in await resp.text()
            async with direct.get(server.url + "/cam/snapshot.jpg", headers=spoofed) as resp:
                assert resp.status == 200
        shown = run_cli("viewers", "--listen", f"127.0.0.1:{server.port}", "--base-path", "/cam/")
        assert "203.0.113.50" not in shown.stdout and "127.0.0.7" in shown.stdout


async def test_a_proxied_request_is_never_the_local_user(tmp_path: Path) -> None:
    """With no accounts on loopback the local user is the owner, but a request relayed by a proxy
    that is not trusted (it carries X-Forwarded-For) is refused: the real client is unknown."""
    async with camcast_server(*PATTERN) as server, aiohttp.ClientSession() as session:
        async with session.get(server.url + "/snapshot.jpg") as resp:
            assert resp.status == 200
        async with session.get(
            server.url + "/snapshot.jpg", headers={"X-Forwarded-For": "198.51.100.1"}
        ) as resp:
            assert resp.status == 401


async def test_caddy_recipe_streams_with_real_addresses(accounts: Accounts, tmp_path: Path) -> None:  # noqa: F811
    """Through the documented Caddyfile (TLS, /cam/): MJPEG viewers from 4 addresses get pictures
    at once (flush_interval -1), each known by its own address; pages link under /cam/."""
    made = run_cli("tls", "self-signed", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    proxy = ("--trusted-proxy", "127.0.0.1", "--base-path", "/cam/")
    async with camcast_server(*PATTERN, *proxy) as server:
        with caddy_recipe(tmp_path, server.port, cert, key) as port:
            base = f"https://127.0.0.1:{port}/cam"
            async with clients(cert) as sessions:
                page = await (await sessions[CLIENTS[0]].get(base + "/", headers=VIEWER.header)).text()
                assert 'src="/cam/static/viewer.js"' in page and f"{base}/snapshot.jpg" in page
                started = [asyncio.Event() for _ in range(20)]
                frames: list[int] = []
                tasks = [
                    asyncio.create_task(
                        watch(sessions[CLIENTS[i % 4]], base + "/stream.mjpg", started[i], frames)
                    )
                    for i in range(20)
                ]
                try:
                    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 30)
                    shown = run_cli("viewers", "--listen", f"127.0.0.1:{server.port}", "--base-path", "/cam/")
                    assert {a for a in CLIENTS[:4] if a in shown.stdout} == set(CLIENTS[:4]), shown.stdout
                    assert "127.0.0.1 " not in shown.stdout
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
