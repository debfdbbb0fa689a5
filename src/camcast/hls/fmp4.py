"""Fragmented MP4 (CMAF) for H.264: the init segment and the fragments HLS segments are made of.

Written by hand, as gohlslib's ``pkg/fmp4`` is, rather than through FFmpeg's mp4 muxer: a fragment
must be cut exactly where an LL-HLS part ends (every ~200 ms, not only at keyframes) and be available
the moment its last frame is, which a muxer behind a file-like object does not promise. Only what
browsers, hls.js and FFmpeg need is written: one video track, timescale 90 kHz, ``avc1`` with its
``avcC``, and per fragment ``moof`` (``mfhd``, ``traf`` with ``tfhd``, ``tfdt``, ``trun``) + ``mdat``.

Input is Annex B (start codes), as :mod:`camcast.encode.h264` and cameras deliver it; samples are
stored length-prefixed (4 bytes), without the parameter sets, which live in the init segment.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from camcast.frames import Encoded, Frame

#: The MP4 timescale of the video track: 90 kHz, the MPEG clock.
TIMESCALE = 90_000

NAL_SLICE, NAL_IDR, NAL_SEI, NAL_SPS, NAL_PPS, NAL_AUD = 1, 5, 6, 7, 8, 9
#: Sample flags (ISO/IEC 14496-12 8.8.3.1): a sync sample depends on nothing; others depend on earlier
#: samples and are not sync samples.
SYNC_SAMPLE = 0x02000000
NON_SYNC_SAMPLE = 0x01010000
_UNITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream, without their start codes."""
    units = []
    start = data.find(b"\x00\x00\x01")
    while start >= 0:
        start += 3
        end = data.find(b"\x00\x00\x01", start)
        unit = data[start:] if end < 0 else data[start:end]
        # A four-byte start code leaves its leading zero on the unit before; NAL units never end in 0.
        unit = unit.rstrip(b"\x00")
        if unit:
            units.append(unit)
        start = end
    return units


def nal_type(unit: bytes) -> int:
    return unit[0] & 0x1F


def parameter_sets(units: Iterable[bytes]) -> tuple[bytes, bytes] | None:
    """The first SPS and PPS among ``units``, or None if either is missing."""
    sps = pps = None
    for unit in units:
        kind = nal_type(unit)
        if kind == NAL_SPS and sps is None:
            sps = unit
        elif kind == NAL_PPS and pps is None:
            pps = unit
    return (sps, pps) if sps is not None and pps is not None else None


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One H.264 picture as NAL units; ``params`` are its SPS and PPS when it is a keyframe that
    carries them (in-band, as camcast's encoder and the sources' Annex B conversion put them)."""

    units: list[bytes]
    keyframe: bool
    params: tuple[bytes, bytes] | None


def access_unit(frame: Frame[Encoded] | Frame[Any]) -> AccessUnit | None:
    """``frame``'s H.264 picture, or None for anything else (a JPEG, an empty packet): the one reading
    of the shared H.264 that HLS, RTSP, recording and pushing start from."""
    payload = frame.payload
    if not isinstance(payload, Encoded) or payload.codec != "h264" or not payload.data:
        return None
    units = nal_units(payload.data)
    return AccessUnit(units, payload.keyframe, parameter_sets(units) if payload.keyframe else None)


def codec_string(sps: bytes) -> str:
    """The RFC 6381 name of the stream (``avc1.42C01F``), for the playlist and the browser's checks."""
    return f"avc1.{sps[1]:02X}{sps[2]:02X}{sps[3]:02X}"


def sample_data(units: Iterable[bytes]) -> bytes:
    """A picture's NAL units as an MP4 sample: each length-prefixed, parameter sets and delimiters
    left out (they are in the init segment)."""
    return b"".join(
        struct.pack(">I", len(u)) + u for u in units if nal_type(u) not in (NAL_SPS, NAL_PPS, NAL_AUD)
    )


def _box(kind: bytes, *payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + sum(map(len, payload)), kind) + b"".join(payload)


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags), *payload)


def _avcc(sps: bytes, pps: bytes) -> bytes:
    body = struct.pack(">BBBBBB", 1, sps[1], sps[2], sps[3], 0xFF, 0xE1)  # 4-byte lengths, one SPS
    body += struct.pack(">H", len(sps)) + sps + struct.pack(">BH", 1, len(pps)) + pps
    if sps[1] in (100, 110, 122, 144):  # High profiles add chroma format and bit depths (4:2:0, 8 bit)
        body += bytes((0xFC | 1, 0xF8, 0xF8, 0))
    return _box(b"avcC", body)


def init_segment(sps: bytes, pps: bytes, width: int, height: int) -> bytes:
    """``ftyp`` + ``moov`` for one H.264 track of ``width`` x ``height`` pixels."""
    ftyp = _box(b"ftyp", b"iso5", struct.pack(">I", 512), b"iso5iso6mp41")
    mvhd = _full_box(
        b"mvhd", 0, 0,
        struct.pack(">IIII", 0, 0, 1000, 0), struct.pack(">IH", 0x10000, 0x100), bytes(10), _UNITY_MATRIX,
        bytes(24), struct.pack(">I", 2),
    )  # fmt: skip
    tkhd = _full_box(
        b"tkhd", 0, 3,  # enabled, in the movie
        struct.pack(">IIIII", 0, 0, 1, 0, 0), bytes(8), struct.pack(">HHHH", 0, 0, 0, 0), _UNITY_MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )  # fmt: skip
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, 0, 0x55C4, 0))  # 'und'
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I4s", 0, b"vide"), bytes(12), b"camcast\x00")
    avc1 = _box(
        b"avc1",
        bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">HH", width, height),
        struct.pack(">IIIH", 0x00480000, 0x00480000, 0, 1), bytes(32), struct.pack(">Hh", 0x18, -1),
        _avcc(sps, pps),
    )  # fmt: skip
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
        _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    minf = _box(b"minf", _full_box(b"vmhd", 0, 1, bytes(8)), dinf, stbl)
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    mvex = _box(b"mvex", _full_box(b"trex", 0, 0, struct.pack(">IIIII", 1, 1, 0, 0, 0)))
    return ftyp + _box(b"moov", mvhd, trak, mvex)


@dataclass(frozen=True, slots=True)
class Sample:
    """One picture in a fragment: its duration in 90 kHz ticks, its MP4 sample bytes, and whether a
    decoder can start at it."""

    duration: int
    data: bytes
    keyframe: bool


def fragment(sequence: int, decode_time: int, samples: Sequence[Sample]) -> bytes:
    """``moof`` + ``mdat`` holding ``samples``; ``decode_time`` (90 kHz) is the first one's, and
    ``sequence`` counts fragments from 1."""

    def moof(data_offset: int) -> bytes:
        trun = _full_box(
            b"trun", 0, 0x000701,  # data offset, and per sample: duration, size, flags
            struct.pack(">Ii", len(samples), data_offset),
            *(
                struct.pack(">III", s.duration, len(s.data), SYNC_SAMPLE if s.keyframe else NON_SYNC_SAMPLE)
                for s in samples
            ),
        )  # fmt: skip
        traf = _box(
            b"traf",
            _full_box(b"tfhd", 0, 0x020000, struct.pack(">I", 1)),  # default-base-is-moof, track 1
            _full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time)),
            trun,
        )
        return _box(b"moof", _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), traf)

    size = len(moof(0))
    payload = b"".join(s.data for s in samples)
    return moof(size + 8) + struct.pack(">I4s", 8 + len(payload), b"mdat") + payload
