"""SIGHUP reloads the configuration: masks, drawing and names change on a stream that stays connected;
settings that need a restart are named in one line; a broken file changes nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from camcast.picture.jpeg import decode_rgb
from tests.conftest import camcast_server
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)

BASE = 'source = "pattern"\nsize = "320x240"\nfps = 10\n'


async def next_picture(stream: aiohttp.StreamReader, buffer: bytearray) -> np.ndarray:
    """The next whole JPEG of an MJPEG stream, decoded to RGB."""
    while True:
        start = buffer.find(b"\xff\xd8")
        end = buffer.find(b"\xff\xd9", start + 2) if start >= 0 else -1
        if end >= 0:
            data = bytes(buffer[start : end + 2])
            del buffer[: end + 2]
            return decode_rgb(data)
        chunk = await stream.readany()
        assert chunk, "the stream ended"
        buffer += chunk


async def until_masked(stream: aiohttp.StreamReader, buffer: bytearray, masked: bool, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        picture = await next_picture(stream, buffer)
        corner = picture[: picture.shape[0] // 2, : picture.shape[1] // 2].mean()
        if (corner < 20) == masked:
            return
    raise AssertionError(f"the top-left quarter did not become {'black' if masked else 'visible'}")


async def test_sighup_applies_masks_and_names_without_dropping_the_stream(tmp_path: Path) -> None:
    config = tmp_path / "camcast.toml"
    config.write_text(BASE)
    async with (
        camcast_server("--config", str(config)) as server,
        aiohttp.ClientSession() as session,
        session.get(server.url + "/stream.mjpg") as resp,
    ):
        buffer = bytearray()
        await until_masked(resp.content, buffer, masked=False, seconds=5)

        config.write_text(BASE + 'camera_name = "Porch"\nmask = ["0,0,50%,50%"]\nmax_connections = 50\n')
        server.proc.send_signal(signal.SIGHUP)
        await until_masked(resp.content, buffer, masked=True, seconds=5)  # the same connection
        async with session.get(server.url + "/status.json") as status:
            doc = await status.json()
        assert doc["title"] == "Porch" and doc["streams"] == 1

        config.write_text("this is [not toml")
        server.proc.send_signal(signal.SIGHUP)
        await until(lambda: "was not reloaded" in server.stderr_so_far())  # the reload was refused
        await until_masked(resp.content, buffer, masked=True, seconds=3)  # unchanged, still streaming

        config.write_text(BASE)
        server.proc.send_signal(signal.SIGHUP)
        await until_masked(resp.content, buffer, masked=False, seconds=5)
    lines = server.stderr.splitlines()
    restart = [line for line in lines if "restart camcast to apply" in line]
    # named once: back to the running value on the last reload, it needs nothing
    assert len(restart) == 1 and "max_connections" in restart[0], server.stderr
    assert sum("the configuration was not reloaded" in line for line in lines) == 1
    assert "Traceback" not in server.stderr


async def test_a_reload_one_camera_refuses_changes_nothing_in_any_camera(tmp_path: Path) -> None:
    """The second camera refuses its new [controls] (a test pattern has none): the first camera's new
    name and mask are not applied either, and /status.json says the old configuration runs and why
    the new one did not; the next good file applies whole."""
    two = 'size = "320x240"\nfps = 10\n[cameras.a]\nsource = "pattern"\n[cameras.b]\nsource = "pattern"\n'
    config = tmp_path / "camcast.toml"
    config.write_text(two)
    async with (
        camcast_server("--config", str(config)) as server,
        aiohttp.ClientSession() as session,
        session.get(server.url + "/cam/a/stream.mjpg") as resp,
    ):

        async def status() -> dict[str, Any]:
            async with session.get(server.url + "/status.json") as answer:
                doc: dict[str, Any] = await answer.json()
                return doc

        buffer = bytearray()
        await until_masked(resp.content, buffer, masked=False, seconds=5)
        applied = (await status())["config"]["applied"]
        changed = (
            two.replace("[cameras.b]", 'camera_name = "Porch"\nmask = ["0,0,50%,50%"]\n[cameras.b]')
            + "[cameras.b.controls]\nbrightness = 10\n"
        )
        config.write_text(changed)
        server.proc.send_signal(signal.SIGHUP)
        await until(lambda: "was not reloaded" in server.stderr_so_far())
        doc = await status()
        assert doc["config"]["applied"] == applied
        refused = doc["config"]["refused"]["why"]
        assert "has no [controls]" in refused and "b" in refused, refused
        assert [c["title"] for c in doc["cameras"]] == ["a", "b"]
        await until_masked(resp.content, buffer, masked=False, seconds=3)  # a's mask did not apply
        assert config.read_text() == changed  # the owner's file, as they wrote it

        config.write_text(changed.split("[cameras.b.controls]")[0])
        server.proc.send_signal(signal.SIGHUP)
        await until_masked(resp.content, buffer, masked=True, seconds=5)
        doc = await status()
        assert doc["config"]["applied"] > applied and doc["config"]["refused"] is None
        assert doc["cameras"][0]["title"] == "Porch"
    assert "Traceback" not in server.stderr
