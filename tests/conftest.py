"""Fixtures that start real peers on free loopback ports: the camcast server itself, as a process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import aiohttp
import aiohttp.web
import pytest

if TYPE_CHECKING:
    from tests.peers import S3Peer

ROOT = Path(__file__).resolve().parent.parent


#: Ports the tests' servers take: below Linux's ephemeral range (32768-60999), where every outgoing
#: connection (a test's client, ffmpeg, a browser) takes its local port. A port the kernel handed out
#: as free could otherwise be taken by one of those before the server binds it.
SERVER_PORTS = range(20000, 32768)


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The VM's tests first, wherever the shuffle put them: booting it and its checks are the suite's
    longest step (minutes on an emulated CPU), so it starts at once on one worker while the other
    worker takes the rest; last, it would lengthen the whole run by as much."""
    items.sort(key=lambda item: item.path.name != "test_v4l2.py")  # stable: the shuffle stays otherwise


def free_port() -> int:
    """A loopback port nothing listens on now, outside the ephemeral range."""
    for _ in range(100):
        port = random.choice(SERVER_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


def camcast_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "camcast", *args]


def home_env(home: Path) -> dict[str, str]:
    """The XDG variables that make ``home`` camcast's whole world: config, state, and the control
    sockets' folder (a session's XDG_RUNTIME_DIR is shared by every test otherwise)."""
    (home / "run").mkdir(mode=0o700, exist_ok=True)
    return {
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_RUNTIME_DIR": str(home / "run"),
    }


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config folder, so no user config leaks in."""
    home = tmp_path_factory.mktemp("xdg")
    for name, value in home_env(home).items():
        monkeypatch.setenv(name, value)
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
    stdout: str = ""  # what the server printed, once it has stopped
    stderr: str = ""
    out: IO[str] | None = None  # the files its standard output and error go to, while it runs
    err: IO[str] | None = None

    def stdout_so_far(self) -> str:
        """What the server has printed so far (while it runs)."""
        return _written(self.out)

    def stderr_so_far(self) -> str:
        """What the server has written to its standard error so far (while it runs)."""
        return _written(self.err)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_healthy(
    url: str, proc: subprocess.Popen[str], timeout: float = 20, ssl_context: object = None
) -> None:
    deadline = time.monotonic() + timeout
    connector = aiohttp.TCPConnector(ssl=ssl_context) if ssl_context is not None else None
    async with aiohttp.ClientSession(connector=connector) as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"camcast exited {proc.returncode} (its output is printed below)")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError("camcast did not become healthy")


def _written(fh: IO[str] | None) -> str:
    assert fh is not None, "the server has stopped: read server.stdout or server.stderr"
    fd = fh.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


def start_server_process(
    port: int, args: tuple[str, ...], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], IO[str], IO[str]]:
    """``camcast serve`` as a process, ``env`` added to its environment. Its output goes to files, not
    pipes: a pipe nobody reads while the test runs would fill up and block the server on its next log
    line."""
    out = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by finish_output
    err = tempfile.TemporaryFile("w+")  # noqa: SIM115
    proc = subprocess.Popen(
        camcast_cmd("serve", "--listen", f"127.0.0.1:{port}", "--quiet", *args),
        stdout=out,
        stderr=err,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return proc, out, err


def finish_output(*files: IO[str]) -> tuple[str, str]:
    texts = []
    for fh in files:
        fh.seek(0)
        texts.append(fh.read())
        fh.close()
    return texts[0], texts[1]


def stop_server(server: Server, out: IO[str], err: IO[str]) -> None:
    """SIGTERM (SIGKILL after 10 s), and what it printed kept in ``server.stdout`` and ``stderr``."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    server.out = server.err = None
    server.stdout, server.stderr = finish_output(out, err)


@contextlib.asynccontextmanager
async def camcast_server(
    *args: str, port: int = 0, scheme: str = "http", ssl_context: object = None
) -> AsyncIterator[Server]:
    """``camcast serve ARGS`` on loopback (``port``, or a free one), stopped with SIGTERM at the end."""
    port = port or free_port()
    proc, out, err = start_server_process(port, args)
    url = f"{scheme}://127.0.0.1:{port}"
    server = Server(url, proc, port, out=out, err=err)
    try:
        base = args[args.index("--base-path") + 1].rstrip("/") if "--base-path" in args else ""
        await wait_healthy(url + base, proc, ssl_context=ssl_context)
        yield server
    finally:
        stop_server(server, out, err)
        print(
            f"--- camcast serve {' '.join(args)}\n{server.stdout}{server.stderr}"
        )  # shown if the test fails


@contextlib.contextmanager
def sync_server(*args: str, home: Path | None = None, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``camcast serve ARGS`` without an event loop, as a fixture shared by a module's tests needs (no
    loop outlives a test). Its world is ``home`` (see home_env) if given: a module's fixture must, or
    it starts in the runner's own; ``env`` is added to its environment."""
    port = free_port()
    proc, out, err = start_server_process(port, args, {**(home_env(home) if home else {}), **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"camcast did not start: {finish_output(out, err)}") from None
            time.sleep(0.1)
    server = Server(url, proc, port, out=out, err=err)
    try:
        yield server
    finally:
        stop_server(server, out, err)


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


@contextlib.asynccontextmanager
async def web_site(app: aiohttp.web.Application) -> AsyncIterator[str]:
    """``app`` served on a free loopback port (another site than camcast's); yields its base URL."""
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture(scope="session")
def s3_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Peer]:
    """SeaweedFS's S3 gateway, started once per session (about 4 s)."""
    from tests.peers import seaweedfs_server

    with seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as peer:
        yield peer
