"""Fixtures that start real peers on free loopback ports: the camcast server itself, as a process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def camcast_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "camcast", *args]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config folder, so no user config leaks in."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    return home


def run_cli(*args: str, timeout: float = 60, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``camcast ARGS`` to completion and return the result (text)."""
    return subprocess.run(
        camcast_cmd(*args), capture_output=True, text=True, timeout=timeout, input=stdin, check=False
    )


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[str]
    port: int

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"camcast exited {proc.returncode}: {out}{err}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError("camcast did not become healthy")


@contextlib.asynccontextmanager
async def camcast_server(*args: str, port: int = 0) -> AsyncIterator[Server]:
    """``camcast serve ARGS`` on loopback (``port``, or a free one), stopped with SIGTERM at the end."""
    port = port or free_port()
    proc = subprocess.Popen(
        camcast_cmd("serve", "--listen", f"127.0.0.1:{port}", "--quiet", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, proc)
        yield Server(url, proc, port)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.communicate()


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    """A 2-second 320x240 25 fps MPEG-4 video whose frames differ, made with PyAV."""
    from tests.media import make_video

    return make_video(tmp_path / "clip.mp4", codec="mpeg4", frames=50, fps=25, size=(320, 240))


@pytest.fixture
def mjpeg_file(tmp_path: Path) -> Path:
    """A 2-second 320x240 25 fps motion-JPEG video (what a USB camera's MJPEG mode delivers)."""
    from tests.media import make_video

    return make_video(tmp_path / "clip.mkv", codec="mjpeg", frames=50, fps=25, size=(320, 240))


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail if the test leaves threads or file descriptors behind."""
    import threading

    threads = {t.ident for t in threading.enumerate()}
    fds = len(os.listdir("/proc/self/fd"))
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t.ident not in threads and t.is_alive()]
        if not extra and len(os.listdir("/proc/self/fd")) <= fds:
            return
        time.sleep(0.05)
    assert not extra, f"threads left running: {extra}"
    assert len(os.listdir("/proc/self/fd")) <= fds, "file descriptors leaked"
