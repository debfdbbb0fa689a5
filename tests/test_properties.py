"""Property tests (hypothesis) for what reads bytes from the network or a file: whatever comes, the
answer is a value or the module's own error, never another exception; and what is written reads back.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camcast.config.parse import parse_command
from camcast.errors import ConfigError
from camcast.motion.events import Event, EventLog
from camcast.picture.masks import Mask, PolygonMask, parse_mask
from camcast.picture.regions import parse_region
from camcast.rtsp.protocol import Interleaved, Parser, ProtocolError, Request, Transport
from tests.fuzzing import OFFER_LINES

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

REQUESTS = [
    b"OPTIONS rtsp://127.0.0.1:8554/camera RTSP/1.0\r\nCSeq: 1\r\n\r\n",
    b"DESCRIBE rtsp://127.0.0.1:8554/camera?token=abc RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n",
    b"SET_PARAMETER rtsp://127.0.0.1:8554/camera RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 5\r\n\r\nhello",
    b"$\x01\x00\x04abcd",
    b"PLAY rtsp://127.0.0.1:8554/camera RTSP/1.0\r\nCSeq: 4\r\nSession: 1234;timeout=60\r\n\r\n",
]


def parse_all(chunks: list[bytes]) -> list[Request | Interleaved]:
    parser = Parser()
    out: list[Request | Interleaved] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out


@QUICK
@given(st.lists(st.sampled_from(REQUESTS), min_size=1, max_size=6), st.data())
def test_rtsp_requests_split_anywhere_parse_the_same(messages: list[bytes], data: st.DataObject) -> None:
    """Well-formed requests and interleaved packets, run together in one read or split at any bytes,
    give the same events in the same order."""
    whole = b"".join(messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(whole)), max_size=8)))
    chunks = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    assert parse_all(chunks) == parse_all([whole])
    assert len(parse_all([whole])) == len(messages)


@QUICK
@given(st.binary(max_size=600), st.lists(st.integers(1, 50), max_size=6))
def test_rtsp_parser_takes_any_bytes_with_its_own_error(data: bytes, sizes: list[int]) -> None:
    """Any bytes, fed in any pieces: events, or a ProtocolError with a status it answers."""
    parser = Parser()
    chunks, at = [], 0
    for size in sizes:
        chunks.append(data[at : at + size])
        at += size
    chunks.append(data[at:])
    try:
        for chunk in chunks:
            for event in parser.feed(chunk):
                assert isinstance(event, Request | Interleaved)
    except ProtocolError as exc:
        assert 400 <= exc.status < 600


@QUICK
@given(st.sampled_from(["", "rtsp://", "rtsp://[", "rtsp://[::1]", "//", "rtsp://127.0.0.1:8554/"]),
       st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80),
       st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))  # fmt: skip
def test_an_rtsp_requests_parts_read_without_raising(scheme: str, rest: str, session: str) -> None:
    """Whatever URI and Session a request line carries (rtsp://[::1 without its bracket, say), the
    parser refuses it or gives a request whose path, query and session read without raising."""
    uri = scheme + rest
    raw = f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: 1\r\nSession: {session}\r\n\r\n".encode()
    try:
        (request,) = Parser().feed(raw)
    except ProtocolError as exc:
        assert exc.status == 400
        return
    assert isinstance(request, Request)
    assert request.path and isinstance(request.query, dict) and isinstance(request.session, str)


def test_rtsp_heads_at_and_over_the_limit() -> None:
    """A head of exactly the limit parses; one byte more is a 431, and so is a head still arriving
    past the limit (before its end comes)."""
    from camcast.rtsp.protocol import MAX_HEAD

    start = b"OPTIONS rtsp://h/ RTSP/1.0\r\nCSeq: 1\r\nX: "
    fill = MAX_HEAD - len(start)
    (request,) = parse_all([start + b"a" * fill + b"\r\n\r\n"])
    assert isinstance(request, Request) and request.cseq == "1"
    for too_long in (start + b"a" * (fill + 1) + b"\r\n\r\n", start + b"a" * (fill + 1)):
        with pytest.raises(ProtocolError) as caught:
            parse_all([too_long])
        assert caught.value.status == 431


@QUICK
@given(st.text(max_size=80))
def test_rtsp_transport_headers_parse_or_refuse(header: str) -> None:
    try:
        Transport.parse(header)
    except ProtocolError as exc:
        assert exc.status in (400, 461)


@QUICK
@given(st.one_of(st.text(max_size=60), st.integers(), st.lists(st.floats(allow_nan=True), max_size=5)))
def test_masks_zones_and_commands_parse_or_say_why(value: object) -> None:
    """The text a config file or the settings page gives: a value, or a ValueError/ConfigError."""
    for parse in (parse_mask, parse_region, parse_command):
        with contextlib.suppress(ValueError, ConfigError):
            parse(value)  # type: ignore[operator]


@QUICK
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), min_size=3, max_size=8))
def test_a_polygon_mask_reads_back_as_written(corners: list[tuple[float, float]]) -> None:
    text = " ".join(f"{x:g}%,{y:g}%" for x, y in corners)
    mask = parse_mask(text)
    assert isinstance(mask, PolygonMask) and parse_mask(str(mask)) == mask
    rect = parse_mask("10,20,30%,40%")
    assert isinstance(rect, Mask) and parse_mask(str(rect)) == rect


def _event(n: int) -> Event:
    return Event(f"cam-{n}", "cam", 1_800_000_000.0 + n, 1_800_000_000.0 + n + 2, 0.01 * (n % 50))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.data())
def test_the_events_journal_cut_at_any_byte_keeps_every_whole_line(count: int, data: st.DataObject) -> None:
    """The events journal cut short at any byte (a crash mid-write): opening it keeps every event whose
    line was whole, and the next event written reads back too."""
    with tempfile.TemporaryDirectory() as folder:
        log = EventLog(Path(folder), keep_days=10**6)
        log.open()
        for n in range(count):
            log.write(_event(n))
        raw = log.file.read_bytes()
        cut = data.draw(st.integers(0, len(raw)))
        log.file.write_bytes(raw[:cut])
        # Whole: every line with its newline, and the last if only its newline was cut off.
        whole = raw[:cut].count(b"\n") + (raw[cut : cut + 1] == b"\n" and not raw[:cut].endswith(b"\n"))
        again = EventLog(Path(folder), keep_days=10**6)
        again.open()
        assert [e.id for e in again.read()] == [f"cam-{n}" for n in range(whole)]
        again.write(_event(99))
        assert again.read()[-1].id == "cam-99" and again.events()[-1].id == "cam-99"


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_a_recordings_sidecar_cut_at_any_byte_is_recovered_or_skipped(data: st.DataObject) -> None:
    """A sidecar cut short reads as no sidecar: the listing recovers the file from its name, or skips
    it; it never raises."""
    from camcast.record import catalog

    doc = {
        "camera": "cam", "name": "cam-20261204-101010-000.mp4", "start": "2026-12-04T10:10:10.000+00:00",
        "end": "2026-12-04T10:11:10.000+00:00", "seconds": 60, "bytes": 10, "events": [], "complete": True,
    }  # fmt: skip
    raw = json.dumps(doc).encode()
    with tempfile.TemporaryDirectory() as folder:
        day = Path(folder) / "cam" / "2026-12-04"
        day.mkdir(parents=True)
        (day / doc["name"]).write_bytes(b"\0" * 10)  # type: ignore[operator]
        (day / "cam-20261204-101010-000.json").write_bytes(raw[: data.draw(st.integers(0, len(raw)))])
        found = catalog.recordings(Path(folder))
        assert all(r.name == doc["name"] for r in found)


@QUICK
@given(st.sampled_from(["text", "quality", "mask", "motion_zones", "every", "record"]),
       st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))  # fmt: skip
def test_an_edit_then_a_load_gives_the_edited_value_or_refuses_it(key: str, value: str) -> None:
    """Any value typed into the settings page for a setting: the edited file loads with that value as
    the setting's own parser reads it (an emptied field: its default), or the edit is refused naming
    the field; the file's comment stays either way."""
    from camcast.config import CAMERA_FIELDS
    from camcast.config.edit import ConfigFile, Edit, FieldErrors, apply_edits, checked

    original = "# the owner's note\nquality = 80\n"
    with tempfile.TemporaryDirectory() as folder:
        file = ConfigFile(Path(folder) / "camcast.toml", explicit=True)
        file.path.write_text(original)
        multiple = CAMERA_FIELDS[key].metadata["multiple"]
        edit = Edit("camera", key, [value] if multiple else value)
        try:
            text = apply_edits(original, file.load(), [edit])
            config = checked(file, text)
        except FieldErrors:
            return
        assert text.startswith("# the owner's note\n")
        field = CAMERA_FIELDS[key]
        parse = field.metadata["parse"]
        if value == "" and not multiple:  # an emptied field: the key goes, the default applies
            assert getattr(config.cameras[0], key) == field.default
        elif value.strip():
            expected = (parse(value),) if multiple else parse(value)
            assert getattr(config.cameras[0], key) == expected


# --- RTP: a picture's NAL units in packets, and back --------------------------------------------------------
def _depacketize(payloads: tuple[bytes, ...]) -> list[bytes]:
    """What a receiver rebuilds (RFC 6184): single NAL unit packets as they are, FU-A fragments joined
    from the start bit to the end bit, with the unit's header made from the indicator and FU header."""
    units: list[bytes] = []
    building: bytearray | None = None
    for payload in payloads:
        if payload[0] & 0x1F != 28:
            assert building is None, "a whole unit inside a fragmented one"
            units.append(payload)
            continue
        fu = payload[1]
        if fu & 0x80:
            assert building is None, "a start fragment inside a fragmented unit"
            building = bytearray([(payload[0] & 0xE0) | (fu & 0x1F)])
        assert building is not None, "a fragment before its start"
        assert not (fu & 0x80 and fu & 0x40) and fu & 0x20 == 0
        building += payload[2:]
        if fu & 0x40:
            units.append(bytes(building))
            building = None
    assert building is None, "a fragmented unit without its end"
    return units


_UNIT = st.builds(
    lambda head, body: bytes([head]) + body,
    st.integers(0, 255).filter(lambda b: b & 0x80 == 0 and b & 0x1F not in (0, 28, 29) and b & 0x1F < 24),
    st.binary(max_size=5000),
)


@QUICK
@given(st.lists(_UNIT, min_size=1, max_size=6), st.integers(3, 1500))
def test_rtp_packets_rebuild_the_units_whatever_their_sizes(units: list[bytes], mtu: int) -> None:
    """Any NAL units at any packet size: every payload fits, FU-A fragments start and end once per
    unit, and a receiver rebuilds the units exactly, access unit delimiters left out."""
    from camcast.rtsp.rtp import packetize

    payloads = packetize(units, mtu)
    assert all(1 <= len(p) <= mtu for p in payloads)
    assert _depacketize(payloads) == [u for u in units if u[0] & 0x1F != 9]


@QUICK
@given(st.integers(1, 300), st.integers(0, 2**32), st.integers(0, 2**40), st.integers(0, 2**32 - 1))
def test_rtp_headers_mark_the_pictures_last_packet(count: int, sequence: int, stamp: int, ssrc: int) -> None:
    """One timestamp per picture, sequence numbers counting on (and wrapping at 16 bits), the marker
    on the last packet alone."""
    from camcast.rtsp.rtp import PAYLOAD_TYPE, headers

    heads = headers(count, sequence, stamp, ssrc)
    assert len(heads) == count and all(len(h) == 12 and h[0] == 0x80 for h in heads)
    assert [h[1] & 0x80 for h in heads] == [0] * (count - 1) + [0x80]
    assert {h[1] & 0x7F for h in heads} == {PAYLOAD_TYPE}
    assert [int.from_bytes(h[2:4], "big") for h in heads] == [(sequence + i) & 0xFFFF for i in range(count)]
    assert {int.from_bytes(h[4:8], "big") for h in heads} == {stamp & 0xFFFFFFFF}
    assert {int.from_bytes(h[8:12], "big") for h in heads} == {ssrc}


# --- HTTP: query numbers ------------------------------------------------------------------------------------
@QUICK
@given(st.text(max_size=20), st.floats(-1e6, 1e6), st.floats(0, 1e6))
def test_a_query_number_is_in_its_range_or_a_400_naming_it(raw: str, low: float, span: float) -> None:
    from urllib.parse import quote

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from camcast.server.state import optional_number

    request = make_mocked_request("GET", f"/snapshot.jpg?width={quote(raw, safe='')}")
    high = low + span
    try:
        value = optional_number(request, "width", low, high)
    except web.HTTPBadRequest as exc:
        assert exc.text is not None and exc.text.startswith("width must be a number")
        return
    assert value is None if raw == "" else low <= value <= high


# --- SDP: a real offer, spoiled one line at a time ----------------------------------------------------------

SPOILS = ["drop", "twice", "value", "swap"]
_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SPOILS), st.integers(0, 100), _PRINTABLE), max_size=4))
def test_a_spoiled_offer_is_an_offer_error_or_answerable(spoils: list[tuple[str, int, str]]) -> None:
    """A browser's offer with lines dropped, doubled, swapped or given another value: the check gives an
    offer aiortc can read, or an OfferError, never another exception."""
    from aiortc.sdp import SessionDescription

    from camcast.server.webrtc.ice import reachable
    from camcast.server.webrtc.offer import OfferError, check_offer

    lines = list(OFFER_LINES)
    for how, at, text in spoils:
        i = at % len(lines)
        if how == "drop" and len(lines) > 1:
            del lines[i]
        elif how == "twice":
            lines.insert(i, lines[i])
        elif how == "value":
            lines[i] = lines[i].split(":", 1)[0] + ":" + text if ":" in lines[i] else lines[i][:2] + text
        elif how == "swap":
            lines[i], lines[-1] = lines[-1], lines[i]
    try:
        offer = check_offer("\r\n".join(lines).encode() + b"\r\n")
    except OfferError:
        assert spoils, "the unspoiled offer is refused"
        return
    SessionDescription.parse(reachable(offer, ("127.0.0.1",), relayed=False))
