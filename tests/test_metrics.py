"""/metrics: who may read it, `promtool check metrics` on its output, and Debian's Prometheus scraping it
with the scraper's token (the frame counter rises in a query through Prometheus's HTTP API)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from camcast.paths import config_dir
from camcast.security.accounts import Accounts
from tests.conftest import camcast_server, free_port, run_cli
from tests.test_access import OWNER, VIEWER, accounts  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(120)

PATTERN = ("--source", "pattern", "--size", "160x120", "--fps", "10")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


@contextlib.contextmanager
def prometheus(tmp: Path, target: str, token: str) -> Iterator[str]:
    """Debian's Prometheus on a free loopback port, scraping ``target`` (host:port) every second with
    ``token``; yields its URL."""
    (tmp / "token").write_text(token)
    config = tmp / "prometheus.yml"
    config.write_text(
        f"""
global: {{ scrape_interval: 1s, scrape_timeout: 1s }}
scrape_configs:
  - job_name: camcast
    authorization: {{ credentials_file: {tmp / "token"} }}
    static_configs: [{{ targets: ['{target}'] }}]
"""
    )
    port = free_port()
    with (tmp / "prometheus.log").open("w") as log:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(20)


async def query(session: aiohttp.ClientSession, url: str, promql: str) -> float | None:
    with contextlib.suppress(aiohttp.ClientError):
        async with session.get(url + "/api/v1/query", params={"query": promql}) as resp:
            if resp.status == 200:
                result = (await resp.json())["data"]["result"]
                if result:
                    return float(result[0]["value"][1])
    return None


async def test_metrics_access_format_and_prometheus_scrape(
    accounts: Accounts,  # noqa: F811
    tmp_path: Path,
) -> None:
    """With accounts, /metrics needs the owner or the scraper's token (which opens nothing else);
    its output passes `promtool check metrics`; Prometheus scrapes it with the token and a query
    shows the frame counter rising and the stream viewer counted."""
    made = run_cli("metrics-token")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert len(token) >= 40 and token not in (config_dir() / "metrics.token").read_text()
    bearer = {"Authorization": f"Bearer {token}"}
    async with camcast_server(*PATTERN) as server, aiohttp.ClientSession() as session:
        url = server.url + "/metrics"
        assert (await session.get(url)).status == 401
        assert (await session.get(url, headers=VIEWER.header)).status == 403
        assert (await session.get(server.url + "/snapshot.jpg", headers=bearer)).status == 403
        assert (await session.get(url, headers={"Authorization": "Bearer not-the-token"})).status == 401
        async with session.get(url, headers=OWNER.header) as resp:
            assert resp.status == 200
        stream = await session.get(server.url + "/stream.mjpg", headers=VIEWER.header)
        await stream.content.readany()
        async with session.get(url, headers=bearer) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=")
            text = await resp.text()
        assert 'camcast_viewers{camera="camera",kind="mjpeg"} 1.0' in text
        checked = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        with prometheus(tmp_path, f"127.0.0.1:{server.port}", token) as prom:
            deadline = time.monotonic() + 30
            first = None
            while time.monotonic() < deadline and first is None:
                first = await query(session, prom, 'camcast_frames_captured_total{job="camcast"}')
                await asyncio.sleep(0.5)
            assert first is not None, (tmp_path / "prometheus.log").read_text()[-2000:]
            await asyncio.sleep(3)
            later = await query(session, prom, 'camcast_frames_captured_total{job="camcast"}')
            assert later is not None and later > first
            assert await query(session, prom, 'up{job="camcast"}') == 1.0
            assert await query(session, prom, 'camcast_viewers{kind="mjpeg"}') == 1.0
        stream.close()
