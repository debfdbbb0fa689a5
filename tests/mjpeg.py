"""A strict multipart/x-mixed-replace reader over aiohttp's client, as a home-automation tool reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp


@dataclass
class Part:
    headers: dict[str, str]
    body: bytes


async def read_parts(response: aiohttp.ClientResponse) -> AsyncIterator[Part]:
    """Yield each part; raise AssertionError on any framing error (missing length, bad boundary)."""
    ctype = response.headers["Content-Type"]
    assert ctype.startswith("multipart/x-mixed-replace"), ctype
    boundary = ctype.split("boundary=", 1)[1].strip().strip('"')
    delimiter = f"--{boundary}".encode()
    content = response.content
    line = await content.readline()
    assert line.rstrip(b"\r\n") == delimiter, line
    while True:
        headers: dict[str, str] = {}
        while True:
            line = await content.readline()
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        assert "content-length" in headers, headers
        body = await content.readexactly(int(headers["content-length"]))
        yield Part(headers, body)
        line = await content.readline()
        assert line == b"\r\n", line
        line = await content.readline()
        if not line:
            return
        assert line.rstrip(b"\r\n") == delimiter, line
