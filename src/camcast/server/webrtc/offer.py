"""The SDP offers camcast answers: checked before aiortc reads them, with a reason for the client when
one is refused (a 400), too large (413) or of another type (415)."""

from __future__ import annotations

import re
from typing import Any

from aiortc.sdp import SessionDescription

from camcast.errors import CamcastError

#: The largest offer read, in bytes. A browser's offer for one video stream is 4–6 KiB.
MAX_OFFER = 32 * 1024
#: The most media sections an offer may have (a WHEP client offers video, perhaps audio).
MAX_MEDIA = 8
SDP_TYPE = "application/sdp"


class OfferError(CamcastError):
    """An offer that is not a usable SDP offer for H.264 video: the client's error, with its HTTP status."""

    status = 400


class OfferTooLarge(OfferError):
    status = 413


class OfferNotSdp(OfferError):
    status = 415


def check_request(content_type: str, length: int | None) -> None:
    """Refuse, before reading it, a body that is not SDP or is larger than :data:`MAX_OFFER`."""
    if content_type != SDP_TYPE:
        raise OfferNotSdp(f"send the SDP offer as {SDP_TYPE}")
    if (length or 0) > MAX_OFFER:
        raise OfferTooLarge(f"the offer is larger than {MAX_OFFER} bytes")


_LINE = re.compile(r"[a-z]=[\x20-\x7e\t]*")


def check_offer(body: bytes, talk: bool = False) -> str:
    """``body`` as an SDP offer camcast can answer, or :class:`OfferError` saying what is wrong.

    Checked before aiortc sees it: printable ASCII lines of the form ``x=...``, at most
    :data:`MAX_MEDIA` media sections, a video section offering H.264 in packetization mode 1 (what
    camcast sends; with ``talk``, the owner's voice: an audio section offering Opus), ICE credentials
    and a DTLS fingerprint. Then aiortc's own parser must accept it.
    """
    if len(body) > MAX_OFFER:
        raise OfferTooLarge(f"the offer is larger than {MAX_OFFER} bytes")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise OfferError("the offer is not an SDP text (bytes outside ASCII)") from None
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    if not lines or lines[0] != "v=0":
        raise OfferError("the offer is not SDP: it must start with v=0")
    bad = next((n for n, line in enumerate(lines, 1) if not _LINE.fullmatch(line)), None)
    if bad is not None:
        raise OfferError(f"line {bad} of the offer is not an SDP line (x=value)")
    media = [line for line in lines if line.startswith("m=")]
    if len(media) > MAX_MEDIA:
        raise OfferError(f"the offer has {len(media)} media sections; at most {MAX_MEDIA} are read")
    try:
        parsed = SessionDescription.parse("\r\n".join(lines) + "\r\n")
    except Exception as exc:  # aiortc's parser raises whatever the text trips it on
        raise OfferError(f"the offer is not valid SDP ({type(exc).__name__})") from None
    if talk:
        voice = [m for m in parsed.media if m.kind == "audio"]
        if not any(c.mimeType.lower() == "audio/opus" for m in voice for c in m.rtp.codecs):
            raise OfferError("the offer has no audio section offering Opus (the voice to play)")
        return _checked(parsed, lines)
    video = [m for m in parsed.media if m.kind == "video"]
    if not video:
        raise OfferError("the offer has no video section")
    if not any(_sends_h264(m) for m in video):
        raise OfferError("the offer has no H.264 in packetization mode 1, which camcast sends")
    return _checked(parsed, lines)


def _checked(parsed: Any, lines: list[str]) -> str:
    """The offer's text, once each section has ICE credentials and a DTLS fingerprint."""
    for m in parsed.media:  # aiortc's parser gives each section the session-level values too
        if not (m.ice and m.ice.usernameFragment and m.ice.password):
            raise OfferError("the offer has no ICE user fragment and password (a=ice-ufrag, a=ice-pwd)")
        if not (m.dtls and m.dtls.fingerprints):
            raise OfferError("the offer has no DTLS fingerprint and role (a=fingerprint, a=setup)")
    return "\r\n".join(lines) + "\r\n"


def _sends_h264(media: Any) -> bool:
    for codec in media.rtp.codecs:
        if codec.mimeType.lower() == "video/h264" and str(codec.parameters.get("packetization-mode")) == "1":
            return True
    return False
