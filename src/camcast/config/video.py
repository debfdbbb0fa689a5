"""The video and sound settings' values: a rendition's size and bits, the quality x264 holds, and the
microphone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from camcast.config.parse import parse_bitrate, parse_seconds, parse_size


@dataclass(frozen=True, slots=True)
class VideoSize:
    """One H.264 rendition: the box its pictures fit in (the aspect kept, never enlarged), and its bits
    per second (None: the camera's ``video_bitrate``)."""

    width: int
    height: int
    bitrate: int | None = None

    def __str__(self) -> str:
        rate = "" if self.bitrate is None else f"@{show_bitrate(self.bitrate)}"
        return f"{self.width}x{self.height}{rate}"


def show_bitrate(bits: int) -> str:
    """``bits`` per second as parse_bitrate reads it back: 400k, 2M, 1.5M."""
    for unit, scale in (("M", 1_000_000), ("k", 1000)):
        text = f"{bits / scale:g}"
        if bits >= scale and round(float(text) * scale) == bits:
            return text + unit
    return str(bits)


def parse_video_size(value: Any) -> VideoSize:
    """``WIDTHxHEIGHT`` or ``WIDTHxHEIGHT@BITS`` (``640x360@400k``)."""
    usage = "must be WIDTHxHEIGHT or WIDTHxHEIGHT@BITS, e.g. 640x360@400k"
    size, sep, rate = str(value).strip().partition("@")
    try:
        dims = parse_size(size)
    except ValueError as exc:  # not a size at all, or one with odd or out-of-range sides
        raise ValueError(usage if "WIDTHxHEIGHT" in str(exc) else str(exc)) from None
    if dims is None:
        raise ValueError(usage)
    return VideoSize(*dims, parse_bitrate(rate) if sep else None)


_crf = parse_seconds(10, 40, "x264 quality steps (10: the best picture, the most bits)")


def parse_crf(value: Any) -> float | None:
    """x264's constant rate factor, 10 to 40, or ``off`` (None: a steady average bitrate)."""
    if str(value).strip().lower() in ("off", "none", "abr"):
        return None
    try:
        return float(_crf(value))
    except ValueError as exc:
        raise ValueError(f"{exc}, or off") from None


def parse_audio_out(value: Any) -> str | None:
    """An ALSA playback device (``hw:CARD=Speaker,DEV=0``, ``plughw:1,0``, ``default``, a PCM the ALSA
    configuration defines), or off."""
    text = str(value).strip()
    if text.lower() in ("off", "false", "no", "none", ""):
        return None
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_:=,.-]{0,63}", text):
        return text
    raise ValueError(
        "must be off or an ALSA playback device such as hw:CARD=Speaker,DEV=0 (aplay -L lists them)"
    )


def parse_audio(value: Any) -> str:
    """``off``, ``auto`` (the camera's own microphone), ``source`` (the source's own sound: the test
    pattern's beep), or an ALSA capture device (``hw:CARD=C920,DEV=0``,
    ``plughw:1,0``, ``default``)."""
    text = str(value).strip()
    if text.lower() in ("off", "false", "no", "none", ""):
        return "off"
    if text.lower() in ("auto", "source"):
        return text.lower()
    if re.fullmatch(r"(plug)?hw:[A-Za-z0-9_=,.-]{1,64}|default|sysdefault(:[A-Za-z0-9_=,.-]{1,64})?", text):
        return text
    raise ValueError(
        "must be off, auto (the camera's own microphone), source (the test pattern's beep) or an ALSA "
        "capture device such as "
        "hw:CARD=C920,DEV=0 (camcast sources lists them)"
    )
