"""RTSP 1.0 messages (RFC 2326) as values, parsed from bytes with no I/O: feed :class:`Parser` what
the socket gave, take :class:`Request` and :class:`Interleaved` events out. A malformed or oversized
message raises :class:`ProtocolError` with the status to answer (then the connection is closed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

#: A request line's method: capitals and underscores (RFC 2326's methods are tokens).
_METHOD = re.compile(r"[A-Z][A-Z_]{0,31}")
#: The most bytes a request's head may take, and its body.
MAX_HEAD = 8192
MAX_BODY = 65536
#: Methods camcast answers (anything else is 501 Not Implemented).
METHODS = ("OPTIONS", "DESCRIBE", "SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER", "SET_PARAMETER")
REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 413: "Request Entity Too Large", 414: "Request-URI Too Long",
    431: "Request Header Fields Too Large", 454: "Session Not Found",
    455: "Method Not Valid in This State", 459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable", 505: "RTSP Version Not Supported",
}  # fmt: skip


class ProtocolError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Request:
    method: str
    uri: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "")

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path or "/"

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.uri).query).items()}

    @property
    def session(self) -> str:
        return self.headers.get("session", "").split(";", 1)[0].strip()


@dataclass(frozen=True)
class Interleaved:
    """A ``$``-framed packet a client sent on the RTSP connection (RTCP receiver reports)."""

    channel: int
    payload: bytes


class Parser:
    """Bytes in, requests and interleaved packets out."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[Request | Interleaved]:
        self._buffer += data
        while self._buffer:
            if self._buffer[0] == 0x24:  # '$': interleaved binary data
                if len(self._buffer) < 4:
                    return
                size = int.from_bytes(self._buffer[2:4], "big")
                if len(self._buffer) < 4 + size:
                    return
                packet = Interleaved(self._buffer[1], bytes(self._buffer[4 : 4 + size]))
                del self._buffer[: 4 + size]
                yield packet
                continue
            while self._buffer[:2] == b"\r\n":  # blank lines between messages are allowed
                del self._buffer[:2]
            if not self._buffer:
                return
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    raise ProtocolError(431, "request head too large")
                return
            if end > MAX_HEAD:
                raise ProtocolError(431, "request head too large")
            request = _head(bytes(self._buffer[:end]))
            length = _length(request)
            if len(self._buffer) < end + 4 + length:
                return
            request.body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            yield request


def _head(raw: bytes) -> Request:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(400, "the request is not text") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    # GET_PARAMETER and SET_PARAMETER (clients' keep-alives) have an underscore: not isalpha().
    if len(parts) != 3 or not _METHOD.fullmatch(parts[0]):
        raise ProtocolError(400, "malformed request line")
    method, uri, version = parts
    if version != "RTSP/1.0":
        raise ProtocolError(505, f"{version[:20]} is not RTSP/1.0")
    if len(uri) > 2048:
        raise ProtocolError(414, "request URI too long")
    try:
        urlsplit(uri)  # once here, so that a request's path and query never raise
    except ValueError:
        raise ProtocolError(400, "malformed request URI") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or name != name.strip():
            raise ProtocolError(400, "malformed header line")
        headers[name.lower()] = value.strip()
    return Request(method, uri, headers)


def _length(request: Request) -> int:
    raw = request.headers.get("content-length", "0")
    if not raw.isdigit():
        raise ProtocolError(400, "bad Content-Length")
    if int(raw) > MAX_BODY:
        raise ProtocolError(413, "request body too large")
    return int(raw)


def response(status: int, cseq: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """An RTSP response with ``CSeq`` echoed, the given headers, and the body's length."""
    lines = [f"RTSP/1.0 {status} {REASONS.get(status, 'Error')}", f"CSeq: {cseq}", "Server: camcast"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass(frozen=True)
class Transport:
    """A client's Transport choice: TCP interleaved channels, or UDP client ports."""

    tcp: bool
    channels: tuple[int, int] = (0, 1)
    client_ports: tuple[int, int] = (0, 0)

    @classmethod
    def parse(cls, header: str) -> Transport:
        """The first transport in ``header`` camcast can give (unicast RTP/AVP over TCP or UDP)."""
        for spec in header.split(","):
            fields = [f.strip() for f in spec.split(";")]
            profile = fields[0].upper()
            params: dict[str, str] = {}
            for f in fields[1:]:
                name, _, value = f.partition("=")
                params[name.strip().lower()] = value.strip()
            if "multicast" in params:
                continue
            if profile == "RTP/AVP/TCP":
                return cls(True, _pair(params.get("interleaved", "0-1")))
            if profile in ("RTP/AVP", "RTP/AVP/UDP") and "client_port" in params:
                return cls(False, client_ports=_pair(params["client_port"]))
        raise ProtocolError(461, "only unicast RTP/AVP over TCP (interleaved) or UDP (client_port) is served")

    def header(self, ssrc: int, server_ports: tuple[int, int] = (0, 0)) -> str:
        if self.tcp:
            return f"RTP/AVP/TCP;unicast;interleaved={self.channels[0]}-{self.channels[1]};ssrc={ssrc:08X}"
        return (
            f"RTP/AVP;unicast;client_port={self.client_ports[0]}-{self.client_ports[1]};"
            f"server_port={server_ports[0]}-{server_ports[1]};ssrc={ssrc:08X}"
        )


def _pair(text: str) -> tuple[int, int]:
    first, _, second = text.partition("-")
    try:
        a = int(first)
        b = int(second) if second else a + 1
    except ValueError:
        raise ProtocolError(400, f"bad port or channel pair {text[:20]!r}") from None
    if not (0 <= a <= 65535 and 0 <= b <= 65535):
        raise ProtocolError(400, "port or channel out of range")
    return a, b
