"""Fragmented MP4 (CMAF) for H.264: the init segment and the fragments HLS segments are made of.

Written by hand, as gohlslib's ``pkg/fmp4`` is, rather than through FFmpeg's mp4 muxer: a fragment
must be cut exactly where an LL-HLS part ends (every ~200 ms, not only at keyframes) and be available
the moment its last frame is, which a muxer behind a file-like object does not promise. Only what
browsers, hls.js and FFmpeg need is written: a video track, timescale 90 kHz, ``avc1`` with its
``avcC``; when the camera's sound is carried, an AAC-LC track (track 2, timescale its rate, ``mp4a``
with its ``esds``); and per fragment ``moof`` (``mfhd``, a ``traf`` per track with ``tfhd``, ``tfdt``,
``trun``) + ``mdat``.

Input is Annex B (start codes), as :mod:`camcast.encode.h264` and cameras deliver it; samples are
stored length-prefixed (4 bytes), without the parameter sets, which live in the init segment.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from camcast.frames import AudioFormat, Encoded, Frame

#: The MP4 timescale of the video track: 90 kHz, the MPEG clock.
TIMESCALE = 90_000
VIDEO_TRACK, AUDIO_TRACK = 1, 2
#: The RFC 6381 name of AAC-LC, for the playlist's CODECS.
AAC_LC = "mp4a.40.2"

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


def _descriptor(tag: int, *payload: bytes) -> bytes:
    """An MPEG-4 descriptor (ISO/IEC 14496-1) of fewer than 128 bytes."""
    body = b"".join(payload)
    return bytes((tag, len(body))) + body


def _mp4a(audio: AudioFormat) -> bytes:
    """The sample entry of AAC in ``audio``'s rate and channels, with its AudioSpecificConfig."""
    decoder = _descriptor(
        0x04, bytes((0x40, 0x15)), bytes(3), struct.pack(">II", 0, 0),  # MPEG-4 audio, an audio stream
        _descriptor(0x05, audio.config),
    )  # fmt: skip
    esds = _full_box(
        b"esds", 0, 0, _descriptor(0x03, struct.pack(">HB", 0, 0), decoder, _descriptor(0x06, b"\x02"))
    )
    return _box(
        b"mp4a", bytes(6), struct.pack(">H", 1), bytes(8), struct.pack(">HHHH", audio.channels, 16, 0, 0),
        struct.pack(">I", audio.rate << 16), esds,
    )  # fmt: skip


def _trak(track: int, kind: bytes, timescale: int, entry: bytes, width: int = 0, height: int = 0) -> bytes:
    """A track of ``kind`` (``vide``, ``soun``) whose samples are described by ``entry``; its samples
    all come in fragments."""
    volume = 0x100 if kind == b"soun" else 0
    tkhd = _full_box(
        b"tkhd", 0, 3,  # enabled, in the movie
        struct.pack(">IIIII", 0, 0, track, 0, 0), bytes(8), struct.pack(">HHHH", 0, 0, volume, 0),
        _UNITY_MATRIX, struct.pack(">II", width << 16, height << 16),
    )  # fmt: skip
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0))  # 'und'
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I4s", 0, kind), bytes(12), b"camcast\x00")
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry),
        _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    header = _full_box(b"vmhd", 0, 1, bytes(8)) if kind == b"vide" else _full_box(b"smhd", 0, 0, bytes(4))
    return _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, _box(b"minf", header, dinf, stbl)))


def init_segment(sps: bytes, pps: bytes, width: int, height: int, audio: AudioFormat | None = None) -> bytes:
    """``ftyp`` + ``moov`` for one H.264 track of ``width`` x ``height`` pixels, and with ``audio`` (an
    AAC format) a sound track, its time scale the sound's rate."""
    ftyp = _box(b"ftyp", b"iso5", struct.pack(">I", 512), b"iso5iso6mp41")
    tracks = (VIDEO_TRACK,) if audio is None else (VIDEO_TRACK, AUDIO_TRACK)
    mvhd = _full_box(
        b"mvhd", 0, 0,
        struct.pack(">IIII", 0, 0, 1000, 0), struct.pack(">IH", 0x10000, 0x100), bytes(10), _UNITY_MATRIX,
        bytes(24), struct.pack(">I", len(tracks) + 1),
    )  # fmt: skip
    avc1 = _box(
        b"avc1",
        bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">HH", width, height),
        struct.pack(">IIIH", 0x00480000, 0x00480000, 0, 1), bytes(32), struct.pack(">Hh", 0x18, -1),
        _avcc(sps, pps),
    )  # fmt: skip
    traks = [_trak(VIDEO_TRACK, b"vide", TIMESCALE, avc1, width, height)]
    if audio is not None:
        traks.append(_trak(AUDIO_TRACK, b"soun", audio.rate, _mp4a(audio)))
    mvex = _box(b"mvex", *(_full_box(b"trex", 0, 0, struct.pack(">IIIII", t, 1, 0, 0, 0)) for t in tracks))
    return ftyp + _box(b"moov", mvhd, *traks, mvex)


@dataclass(frozen=True, slots=True)
class Sample:
    """One picture in a fragment: its duration in 90 kHz ticks, its MP4 sample bytes, and whether a
    decoder can start at it."""

    duration: int
    data: bytes
    keyframe: bool


def _flags(sample: Sample) -> int:
    return SYNC_SAMPLE if sample.keyframe else NON_SYNC_SAMPLE


@dataclass(frozen=True, slots=True)
class Run:
    """One track's samples in a fragment, the first decoded at ``decode_time`` (in its timescale)."""

    track: int
    decode_time: int
    samples: Sequence[Sample]


def timed_run(track: int, packets: Sequence[tuple[int, bytes, int]]) -> Run:
    """A run of sound packets given as (decode time, bytes, samples): each lasts until the next
    begins (a gap in the sound is a longer sample, heard as silence), the last its own length."""
    samples = [
        Sample(max(1, following[0] - tick) if following else count, data, True)
        for (tick, data, count), following in zip(packets, [*packets[1:], None], strict=True)
    ]
    return Run(track, packets[0][0] if packets else 0, samples)


def fragment(sequence: int, decode_time: int, samples: Sequence[Sample], sound: Run | None = None) -> bytes:
    """``moof`` + ``mdat`` holding the pictures ``samples``, the first decoded at ``decode_time``
    (90 kHz), and the ``sound`` samples of the same stretch; ``sequence`` counts fragments from 1."""
    runs = [Run(VIDEO_TRACK, decode_time, samples)]
    if sound is not None and sound.samples:
        runs.append(sound)

    def moof(data_offset: int) -> bytes:
        trafs = []
        for run in runs:
            trun = _full_box(
                b"trun", 0, 0x000701,  # data offset, and per sample: duration, size, flags
                struct.pack(">Ii", len(run.samples), data_offset),
                *(struct.pack(">III", s.duration, len(s.data), _flags(s)) for s in run.samples),
            )  # fmt: skip
            trafs.append(
                _box(
                    b"traf",
                    _full_box(b"tfhd", 0, 0x020000, struct.pack(">I", run.track)),  # default-base-is-moof
                    _full_box(b"tfdt", 1, 0, struct.pack(">Q", run.decode_time)),
                    trun,
                )
            )
            data_offset += sum(len(s.data) for s in run.samples)
        return _box(b"moof", _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), *trafs)

    size = len(moof(0))
    payload = b"".join(s.data for run in runs for s in run.samples)
    return moof(size + 8) + struct.pack(">I4s", 8 + len(payload), b"mdat") + payload
