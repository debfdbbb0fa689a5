"""Malformed requests, generated from a seed, for a running server's three doors (HTTP, RTSP, WHEP),
and what a server made of them: each request is sent on its own connection and its answer's status
counted; the server's log is read for tracebacks; viewers count the frames they got meanwhile.

Used by the suite (a few hundred of each, tests/test_fuzz.py) and by ``bench/fuzz.py`` (ten thousand).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from camcast.server.urls import ROUTES

#: Routes whose well-formed request changes the owner's files: they get malformed bodies only.
CHANGING = {"settings_save", "accounts_change", "shares_change", "recording_delete"}
#: The shutter's routes, left out: any request to them that passes the gate closes it, body or none
#: (on loopback without accounts, that is most), and the viewers would rightly see the paused card.
SHUTTER = {"pause", "resume"}
#: The answers a fuzzer may rightly get in the 500s: 501 (an RTSP method camcast does not implement,
#: ANNOUNCE or RECORD), 503 (the WebRTC session cap, with Retry-After) and 505 (an RTSP version other
#: than 1.0).
RIGHT_5XX = {501, 503, 505}
#: Seconds a request's answer is waited for (a request that promised a longer body is not answered).
ANSWER_WITHIN = 2.0

QUERY = [
    "token",
    "width",
    "height",
    "quality",
    "fps",
    "since",
    "until",
    "limit",
    "camera",
    "download",
    "seconds",
    "start",
    "end",
    "event",
    "next",
    "_",
    "format",
]
NASTY = [
    "",
    "0",
    "-1",
    "1e309",
    "nan",
    "inf",
    "-0",
    "9" * 400,
    "%00",
    "%ff%fe",
    "..%2f..%2fetc%2fpasswd",
    "../../etc/passwd",
    "%2e%2e",
    "\u00e9",
    "%C3%A9",
    "<script>",
    "' or 1=1",
    "a" * 5000,
    "{}",
    "[]",
    "%",
    "%%",
    "+",
    "2026-13-45T99:99",
    "1" * 30,
    "true",
    "null",
    ";",
    "\\",
    "//",
    "cam",
    "default",
]


@dataclass
class Tally:
    """What one protocol's requests got back."""

    protocol: str
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    silent: int = 0  # closed, or no answer within ANSWER_WITHIN: a request the server rightly drops
    wrong: list[str] = field(default_factory=list)  # the first few requests answered with a wrong 5xx
    seconds: float = 0.0

    @property
    def failures(self) -> int:
        """Answers in the 500s that are the server's fault (an internal error, a bad gateway...)."""
        return sum(n for status, n in self.statuses.items() if status >= 500 and status not in RIGHT_5XX)

    def add(self, request: bytes, statuses: list[int]) -> None:
        self.sent += 1
        if not statuses:
            self.silent += 1
        for status in statuses:
            self.statuses[status] += 1
            if status >= 500 and status not in RIGHT_5XX and len(self.wrong) < 5:
                self.wrong.append(f"{status} for {request[:300]!r}")


# --- HTTP ---------------------------------------------------------------------------------------------------
def _text(rng: random.Random) -> str:
    return (
        rng.choice(NASTY)
        if rng.random() < 0.6
        else "".join(chr(rng.randrange(32, 0x250)) for _ in range(rng.randrange(20)))
    )


def _encoded(text: str) -> str:
    """``text`` in a request line: what is not printable ASCII percent-encoded, the rest left as it is."""
    return "".join(c if 0x21 <= ord(c) < 0x7F else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def _path(rng: random.Random, camera: str) -> tuple[str, str, str]:
    """(method, path with query, route name) of a route of the table, its parameters filled badly."""
    route = rng.choice([r for r in ROUTES if r.name not in SHUTTER])
    path = re.sub(r"\{\w+\}", lambda _: _encoded(_text(rng)), route.path)
    if route.camera and rng.random() < 0.5:
        path = f"/cam/{_encoded(rng.choice([camera, camera, 'nope', _text(rng)]))}{path}"
    if rng.random() < 0.7:
        pairs = [f"{rng.choice(QUERY)}={_encoded(_text(rng))}" for _ in range(rng.randrange(1, 4))]
        path += "?" + "&".join(pairs)
    method = (
        route.method
        if rng.random() < 0.8
        else rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "get", "X"])
    )
    return method, path, route.name


def _header(rng: random.Random, port: int) -> str:
    kind = rng.randrange(12)
    if kind == 0:
        return "Range: " + rng.choice(
            [
                "bytes=0-",
                "bytes=-5",
                "bytes=5-1",
                "bytes=0-0,1-1,2-2",
                "bytes=x-y",
                "bytes=99999999999999999999-",
                "lines=1-2",
                "bytes=",
                "bytes=-0",
            ]
        )
    if kind == 1:
        raw = rng.choice([rng.randbytes(rng.randrange(1, 40)), b"olive:", b":", b"\xff\xfe:x", b"a" * 3000])
        value = base64.b64encode(raw).decode() if rng.random() < 0.6 else _encoded(_text(rng))
        return f"Authorization: {rng.choice(['Basic', 'Bearer', 'Digest', 'basic', ''])} {value}"
    if kind == 2:
        return f"Cookie: camcast_session={_encoded(_text(rng))}; {_encoded(_text(rng))}"
    if kind == 3:
        return "Content-Type: " + rng.choice(
            [
                "application/json",
                "application/sdp",
                "text/plain",
                "multipart/form-data; boundary=",
                "application/x-www-form-urlencoded",
                _encoded(_text(rng)),
            ]
        )
    if kind == 4:
        return "Origin: " + rng.choice(
            [f"http://127.0.0.1:{port}", "null", "http://evil.example", _encoded(_text(rng))]
        )
    if kind == 5:
        return "X-Forwarded-For: " + rng.choice(["1.2.3.4", "::1, 127.0.0.1", "", _encoded(_text(rng))])
    if kind == 6:
        return "Host: " + rng.choice(["", "[::1", "a" * 300, f"127.0.0.1:{port}", _encoded(_text(rng))])
    if kind == 7:
        return "If-None-Match: " + rng.choice(['"x"', "*", "W/", _encoded(_text(rng))])
    if kind == 8:
        return "Accept-Encoding: " + rng.choice(["gzip", "br", "*;q=x", _encoded(_text(rng))])
    if kind == 9:
        return "X-Requested-With: " + _encoded(_text(rng))
    if kind == 10:
        return "Expect: 100-continue"
    return f"{_encoded(_text(rng)) or 'X'}: {_encoded(_text(rng))}"


def _body(rng: random.Random, well_formed: bool) -> bytes:
    """A body that is not what any route reads (or, when ``well_formed``, a JSON object of junk)."""
    kind = rng.randrange(7)
    if kind == 0:
        return b"[" * rng.randrange(100, 100_000)  # nesting deep enough to trip a recursive parser
    if kind == 1:
        return rng.randbytes(rng.randrange(1, 2000))
    if kind == 2:
        return json.dumps([_text(rng), rng.random(), None]).encode()[: rng.randrange(1, 40)]
    if kind == 3:
        return f"{_encoded(_text(rng))}={_encoded(_text(rng))}&&=&%zz".encode()
    if kind == 4:
        return json.dumps(rng.choice([1e308, -1, "x", None, True, 10**40])).encode()
    if kind == 5 and well_formed:
        return json.dumps(
            {_text(rng): rng.choice([_text(rng), 10**30, -1, [], {}]) for _ in range(3)}
        ).encode()
    return b'{"a": "' + rng.randbytes(20).hex().encode() + b'"'  # cut short


def http_request(rng: random.Random, port: int, camera: str, files: tuple[str, ...] = ()) -> bytes:
    """One malformed (or strange but well-formed) HTTP/1.1 request; some ask for one of ``files``
    (the server's recordings) with a Range header, well-formed or not."""
    kind = rng.random()
    if files and kind > 0.9:
        ranges = [_header(rng, port) if rng.random() < 0.3 else f"Range: bytes={_range(rng)}"]
        head = [f"GET {rng.choice(files)} HTTP/1.1", f"Host: 127.0.0.1:{port}", *ranges, "Connection: close"]
        return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    if kind < 0.05:
        return rng.randbytes(rng.randrange(1, 300))
    if kind < 0.08:
        return rng.choice(
            [
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                b"GET /\r\n\r\n",
                b"GET / HTTP/9.9\r\n\r\n",
                b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
                b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
                b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
                b"\r\n\r\n",
                b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
                b"POST /login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"POST /login HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                b"POST /login HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            ]
        )
    method, path, name = _path(rng, camera)
    headers = [f"Host: 127.0.0.1:{port}"] + [_header(rng, port) for _ in range(rng.randrange(0, 5))]
    body = b""
    if method in ("POST", "PUT", "PATCH") or rng.random() < 0.05:
        body = _body(rng, well_formed=name not in CHANGING)
    if name in CHANGING and not body:  # never a well-formed change of the owner's files
        body = _body(rng, well_formed=False)
        method = rng.choice(["POST", "DELETE"])
    if body or rng.random() < 0.1:
        headers.append(f"Content-Length: {len(body)}")
    head = (
        f"{method} {path} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in headers) + "Connection: close\r\n\r\n"
    )
    return head.encode("utf-8", "surrogateescape") + body


def _range(rng: random.Random) -> str:
    """A byte range, or several: in the file, past its end, backwards, suffixes, empty parts."""

    def one() -> str:
        a, b = rng.choice([0, 1, 100, 10**6, 10**12, -1]), rng.choice([0, 99, 10**5, 10**9, -1])
        return rng.choice([f"{a}-{b}", f"{a}-", f"-{b}", f"{b}-{a}", "-", ""])

    return ",".join(one() for _ in range(rng.randrange(1, 4)))


# --- RTSP ---------------------------------------------------------------------------------------------------
RTSP_METHODS = [
    "OPTIONS",
    "DESCRIBE",
    "SETUP",
    "PLAY",
    "PAUSE",
    "TEARDOWN",
    "GET_PARAMETER",
    "SET_PARAMETER",
    "ANNOUNCE",
    "RECORD",
    "REDIRECT",
    "GET",
    "options",
    "X_Y",
]
TRANSPORTS = [
    "RTP/AVP/TCP;unicast;interleaved=0-1",
    "RTP/AVP;unicast;client_port=40000-40001",
    "RTP/AVP/TCP;interleaved=254-255",
    "RTP/AVP/TCP;interleaved=300-301",
    "RTP/AVP;client_port=0-0",
    "RTP/AVP;client_port=99999-100000",
    "RTP/AVP;multicast",
    "RTP/AVP/UDP;unicast;client_port=a-b",
    "RTP/SAVP;unicast",
    "",
    ";;;",
    "RTP/AVP/TCP;interleaved=",
    "x" * 3000,
]


def rtsp_requests(rng: random.Random, port: int, camera: str) -> bytes:
    """One connection's worth of RTSP: one to four requests, some spoiled, perhaps interleaved data."""
    out = b""
    for n in range(rng.randrange(1, 5)):
        kind = rng.random()
        if kind < 0.06:
            out += rng.randbytes(rng.randrange(1, 200))
            continue
        if kind < 0.12:
            out += (
                b"$"
                + bytes([rng.randrange(256)])
                + rng.randrange(65536).to_bytes(2, "big")
                + rng.randbytes(rng.randrange(50))
            )
            continue
        path = rng.choice(
            ["", "/", f"/{camera}", f"/{camera}/trackID=0", f"/{_encoded(_text(rng))}", "/cam/x/y/z"]
        )
        if rng.random() < 0.3:
            path += f"?token={_encoded(_text(rng))}"
        url = rng.choice(
            [f"rtsp://127.0.0.1:{port}{path}", "*", path or "/", f"rtsp://[::1{path}", _encoded(_text(rng))]
        )
        version = rng.choice(["RTSP/1.0"] * 8 + ["RTSP/2.0", "HTTP/1.1", "RTSP/1.", ""])
        lines = [f"{rng.choice(RTSP_METHODS)} {url} {version}".rstrip()]
        if rng.random() < 0.9:
            lines.append(f"CSeq: {rng.choice([str(n + 1), '-1', 'x', '9' * 30, ''])}")
        if rng.random() < 0.4:
            lines.append(f"Transport: {rng.choice(TRANSPORTS)}")
        if rng.random() < 0.3:
            lines.append(f"Session: {rng.choice(['1234', '', _encoded(_text(rng)), '1;timeout=x'])}")
        if rng.random() < 0.2:
            lines.append(_header(rng, port))
        body = _body(rng, well_formed=True) if rng.random() < 0.15 else b""
        if body or rng.random() < 0.05:
            lines.append(f"Content-Length: {rng.choice([len(body)] * 4 + [-5, 10**12])}")
        out += ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body
    return out


# --- WHEP ---------------------------------------------------------------------------------------------------
def whep_request(rng: random.Random, port: int, camera: str, offer: list[str]) -> bytes:
    """A POST to the WHEP endpoint with a real offer spoiled line by line (or a body of another kind)."""
    lines = list(offer)
    for _ in range(rng.randrange(0, 4)):
        i = rng.randrange(len(lines))
        how = rng.randrange(4)
        if how == 0 and len(lines) > 1:
            del lines[i]
        elif how == 1:
            lines.insert(i, lines[i])
        elif how == 2:
            lines[i] = lines[i].split(":", 1)[0] + ":" + _encoded(_text(rng))
        else:
            lines[i], lines[-1] = lines[-1], lines[i]
    body = ("\r\n".join(lines) + "\r\n").encode() if rng.random() < 0.9 else _body(rng, well_formed=True)
    kind = "application/sdp" if rng.random() < 0.9 else rng.choice(["text/plain", "application/json", ""])
    path = rng.choice(["/whep", f"/cam/{camera}/whep", "/cam/nope/whep"])
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


# --- sending ------------------------------------------------------------------------------------------------
_STATUS = re.compile(rb"(?:HTTP|RTSP)/\d\.\d (\d{3}) ")


async def exchange(port: int, request: bytes, rtsp: bool) -> tuple[list[int], bytes]:
    """Send ``request`` on a new connection; the statuses of the answers read within ANSWER_WITHIN
    (for HTTP the first; for RTSP every answer until the server closes or goes quiet), and what was
    read."""
    statuses: list[int] = []
    data = b""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), ANSWER_WITHIN)
    except (OSError, TimeoutError):
        return statuses, data
    try:
        writer.write(request)
        deadline = time.monotonic() + ANSWER_WITHIN
        while time.monotonic() < deadline and len(data) < 1_000_000:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            if not rtsp and b"\r\n\r\n" in data:
                break
            if rtsp and len(_STATUS.findall(data)) >= request.count(b" RTSP/"):
                break
        found = _STATUS.findall(data)
        statuses = [int(s) for s in (found if rtsp else found[:1])]
    except OSError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return statuses, data


async def fire(
    protocol: str, port: int, requests: Iterator[bytes], count: int, seconds: float, concurrency: int = 16
) -> Tally:
    """Send up to ``count`` of ``requests`` (``concurrency`` at a time) for at most ``seconds``."""
    tally = Tally(protocol)
    started = time.monotonic()
    rtsp = protocol == "RTSP"

    async def one(request: bytes) -> None:
        statuses, answer = await exchange(port, request, rtsp)
        tally.add(request, statuses)
        made = re.search(rb"\r\nLocation: (/\S+)", answer) if statuses == [201] else None
        if made:  # a WebRTC session made: ended as a WHEP client ends it, to make room for the next
            await exchange(
                port,
                b"DELETE "
                + made.group(1)
                + f" HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode(),
                False,
            )

    pending: set[asyncio.Task[None]] = set()
    for request, _ in zip(requests, range(count), strict=False):
        if time.monotonic() - started > seconds:
            break
        pending.add(asyncio.ensure_future(one(request)))
        if len(pending) >= concurrency:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    if pending:
        await asyncio.wait(pending)
    tally.seconds = time.monotonic() - started
    return tally


def generated(make: Callable[[random.Random], bytes], seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    while True:
        yield make(rng)


# --- what the server made of it -----------------------------------------------------------------------------
def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def tracebacks(*texts: str) -> int:
    """Tracebacks and errors a server logged: each "Traceback" and each line at ERROR."""
    return sum(t.count("Traceback (most recent call last)") + len(re.findall(r" ERROR ", t)) for t in texts)


async def count_mjpeg_frames(url: str, counts: list[int]) -> None:
    """A viewer: reads ``url`` (an MJPEG stream) until cancelled, counting the pictures in ``counts[0]``."""
    import aiohttp

    from tests.mjpeg import read_parts

    async with aiohttp.ClientSession() as http, http.get(url) as response:
        async for _ in read_parts(response):
            counts[0] += 1


async def count_rtsp_frames(port: int, camera: str, counts: list[int]) -> None:
    """A viewer over RTSP (interleaved TCP): counts the RTP packets with the marker bit (one a picture)
    in ``counts[0]``, and the keyframes (each starts with its SPS) in ``counts[1]`` when there is one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    url = f"rtsp://127.0.0.1:{port}/{camera}"
    try:
        session = ""
        for cseq, (method, target, extra) in enumerate(
            [
                ("DESCRIBE", url, "Accept: application/sdp"),
                ("SETUP", f"{url}/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1"),
                ("PLAY", url, ""),
            ],
            1,
        ):
            lines = [
                f"{method} {target} RTSP/1.0",
                f"CSeq: {cseq}",
                extra,
                f"Session: {session}" if session else "",
            ]
            writer.write(("\r\n".join(line for line in lines if line) + "\r\n\r\n").encode())
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            assert head.startswith("RTSP/1.0 200"), head
            found = re.search(r"Content-Length: *(\d+)", head, re.I)
            await reader.readexactly(int(found.group(1)) if found else 0)
            found = re.search(r"Session: *([^;\r]+)", head)
            session = found.group(1) if found else session
        while True:
            head = await reader.readexactly(4)
            assert head[0] == 0x24, head
            body = await reader.readexactly(int.from_bytes(head[2:4], "big"))
            if head[1] == 0 and body[1] & 0x80:
                counts[0] += 1
            if head[1] == 0 and len(counts) > 1 and body[12] & 0x1F == 7:
                counts[1] += 1
    finally:
        writer.close()


async def recordings(port: int) -> tuple[str, ...]:
    """The paths of the server's finished recordings (none when it does not record)."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/api/recordings") as resp:
        return tuple(r["url"] for r in (await resp.json())["recordings"]) if resp.status == 200 else ()


@dataclass
class Outcome:
    """A fuzz run against one server: each protocol's tally, and the server before and after."""

    tallies: list[Tally]
    descriptors: tuple[int, int]  # before the viewers came; once they and the fuzz were gone
    rss_mb: tuple[float, float]  # with the viewers watching, before the fuzz and after it
    viewer_fps: dict[str, float]  # each viewer's pictures a second during the fuzz
    seconds: float


async def attack(
    port: int,
    rtsp_port: int,
    pid: int,
    camera: str,
    counts: dict[str, int],
    seconds: float,
    seed: int,
    recording: bool = False,
) -> Outcome:
    """Fuzz a running server's HTTP, RTSP and WHEP doors (``counts`` of each, each for at most
    ``seconds``) while an MJPEG viewer and an RTSP viewer watch; then wait (bounded) for the server's
    descriptors to come back down. ``recording``: the server records, and some requests ask for its
    files with byte ranges."""
    fds = descriptors(pid)
    frames = {"MJPEG": [0], "RTSP": [0]}
    viewers = [
        asyncio.ensure_future(count_mjpeg_frames(f"http://127.0.0.1:{port}/stream.mjpg", frames["MJPEG"])),
        asyncio.ensure_future(count_rtsp_frames(rtsp_port, camera, frames["RTSP"])),
    ]
    try:
        deadline = time.monotonic() + 20
        while min(c[0] for c in frames.values()) < 5:
            assert time.monotonic() < deadline, f"the viewers did not start: {frames}"
            for task in viewers:
                if task.done():
                    task.result()
            await asyncio.sleep(0.05)
        files = await recordings(port)
        while recording and not files:  # the first file is finished a few seconds in
            assert time.monotonic() < deadline + 20, "no recording was finished"
            await asyncio.sleep(0.2)
            files = await recordings(port)
        rss = rss_mb(pid)
        for c in frames.values():
            c[0] = 0
        started = time.monotonic()
        doors: list[tuple[str, int, Callable[[random.Random], bytes]]] = [
            ("HTTP", port, lambda rng: http_request(rng, port, camera, files)),
            ("RTSP", rtsp_port, lambda rng: rtsp_requests(rng, rtsp_port, camera)),
            ("WHEP", port, lambda rng: whep_request(rng, port, camera, OFFER_LINES)),
        ]
        tallies = [
            await fire(name, at, generated(make, seed + i), counts.get(name, 0), seconds)
            for i, (name, at, make) in enumerate(doors)
            if counts.get(name)
        ]
        took = time.monotonic() - started
        fps = {name: c[0] / took for name, c in frames.items()}
        for task in viewers:
            if task.done():
                task.result()  # a viewer that failed fails the run
        rss_after = rss_mb(pid)
    finally:
        for task in viewers:
            task.cancel()
        await asyncio.gather(*viewers, return_exceptions=True)
    deadline = time.monotonic() + 40  # a WebRTC session never connected ends after 20 s
    while descriptors(pid) > fds and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return Outcome(tallies, (fds, descriptors(pid)), (rss, rss_after), fps, took)


#: A browser's offer for one H.264 video stream (as Chromium makes it), line by line.
OFFER_LINES = [
    "v=0",
    "o=- 3942116250 3942116250 IN IP4 0.0.0.0",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=msid-semantic:WMS *",
    "m=video 9 UDP/TLS/RTP/SAVPF 97 98 99 100",
    "c=IN IP4 0.0.0.0",
    "a=recvonly",
    "a=mid:0",
    "a=msid:- -",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=rtcp-mux",
    "a=ssrc-group:FID 1 2",
    "a=rtpmap:97 VP8/90000",
    "a=rtcp-fb:97 nack",
    "a=rtpmap:98 rtx/90000",
    "a=fmtp:98 apt=97",
    "a=rtpmap:99 H264/90000",
    "a=rtcp-fb:99 nack pli",
    "a=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    "a=rtpmap:100 rtx/90000",
    "a=fmtp:100 apt=99",
    "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
    "a=end-of-candidates",
    "a=ice-ufrag:abcd",
    "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
    "a=setup:actpass",
]
