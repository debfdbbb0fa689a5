"""H.264 over RTP (RFC 6184), Opus over RTP (RFC 7587: one packet each, as it is) and RTCP sender
reports (RFC 3550), built without sockets.

A frame's NAL units become RTP payloads once (:func:`packetize`): a unit that fits is sent whole
(single NAL unit packet), a bigger one in FU-A fragments. Every client then gets the same payload
bytes behind a 12-byte header of its own (:func:`header`: its sequence number, timestamp offset and
SSRC), so nothing is copied or cut per client but that header.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from camcast.hls import fmp4

#: The largest RTP payload: a 1500-byte Ethernet frame less IP, UDP and RTP headers, with room to spare.
MTU = 1400
PAYLOAD_TYPE = 96
CLOCK = 90_000
#: The sound's (RFC 7587: Opus is always named opus/48000/2, whatever it carries; camcast's is mono).
OPUS_PAYLOAD_TYPE = 97
OPUS_CLOCK = 48_000
_FU_A = 28
#: Seconds between 1900 (NTP's epoch) and 1970.
_NTP_EPOCH = 2_208_988_800


@dataclass(frozen=True, slots=True)
class RtpFrame:
    """One picture as RTP payloads, with its 90 kHz time (from the stream's start), whether a decoder
    can start at it, and its Unix time (for sender reports)."""

    payloads: tuple[bytes, ...]
    timestamp: int
    keyframe: bool
    wall: float

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.payloads)


def packetize(units: list[bytes], mtu: int = MTU) -> tuple[bytes, ...]:
    """The RTP payloads of one picture's NAL units (access unit delimiters left out)."""
    out: list[bytes] = []
    for unit in units:
        kind = fmp4.nal_type(unit)
        if kind == fmp4.NAL_AUD:
            continue
        if len(unit) <= mtu:
            out.append(unit)
            continue
        indicator = bytes([(unit[0] & 0xE0) | _FU_A])
        body = memoryview(unit)[1:]
        step = mtu - 2
        for start in range(0, len(body), step):
            flags = (0x80 if start == 0 else 0) | (0x40 if start + step >= len(body) else 0)
            out.append(indicator + bytes([flags | kind]) + bytes(body[start : start + step]))
    return tuple(out)


def header(sequence: int, timestamp: int, ssrc: int, marker: bool, payload_type: int = PAYLOAD_TYPE) -> bytes:
    """An RTP header (version 2, no padding, extension or CSRC)."""
    return struct.pack(
        ">BBHII",
        0x80,
        (0x80 if marker else 0) | payload_type,
        sequence & 0xFFFF,
        timestamp & 0xFFFFFFFF,
        ssrc,
    )


def headers(
    count: int, sequence: int, timestamp: int, ssrc: int, payload_type: int = PAYLOAD_TYPE
) -> list[bytes]:
    """The RTP headers of one picture's ``count`` payloads: sequence numbers from ``sequence`` on, one
    timestamp, the marker bit on the last (RFC 6184 5.1: the access unit's last packet). For sound
    (one payload, an Opus packet) the marker is left clear: RFC 7587 sets it only after silence
    that was not sent, and camcast sends every packet."""
    if payload_type == OPUS_PAYLOAD_TYPE:
        return [header(sequence, timestamp, ssrc, False, payload_type)]
    return [header(sequence + i, timestamp, ssrc, i == count - 1, payload_type) for i in range(count)]


def sender_report(ssrc: int, wall: float, timestamp: int, packets: int, octets: int, cname: str) -> bytes:
    """A compound RTCP packet: a sender report mapping ``timestamp`` to the Unix time ``wall`` (so a
    client can sync it with a clock), then SDES with the CNAME."""
    ntp = wall + _NTP_EPOCH
    seconds = int(ntp)
    fraction = int((ntp - seconds) * (1 << 32)) & 0xFFFFFFFF
    report = struct.pack(
        ">BBHIIIIII", 0x80, 200, 6, ssrc, seconds & 0xFFFFFFFF, fraction, timestamp & 0xFFFFFFFF,
        packets & 0xFFFFFFFF, octets & 0xFFFFFFFF,
    )  # fmt: skip
    name = cname.encode()[:255]
    chunk = struct.pack(">IBB", ssrc, 1, len(name)) + name + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    sdes = struct.pack(">BBH", 0x81, 202, len(chunk) // 4) + chunk
    return report + sdes
