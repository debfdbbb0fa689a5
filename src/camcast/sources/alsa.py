"""The computer's microphones (ALSA capture devices), and which camera each belongs to.

Read from the kernel's files alone, opening no device: ``/proc/asound/cardN`` names each sound card
(its ``id`` file, the long name in ``/proc/asound/cards``) and its PCM devices (``pcmDc`` for capture);
``/sys/class/sound/cardN/device`` and ``/sys/class/video4linux/videoN/device`` lead to the interface
each sits on. A USB webcam's microphone is another interface of the same USB device as its video
(``1-1:1.0`` the video, ``1-1:1.2`` the sound, both of ``1-1``): that is how a camera's own
microphone is found. A microphone is named as ALSA's ``hw:CARD=ID,DEV=N``, which stays the same
however the cards are numbered at the next boot.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Microphone:
    """One capture device of one sound card: ``device`` as ALSA opens it, the card's ``name``, and
    the USB device it is part of (its sysfs path; None for a card on no USB device)."""

    device: str
    name: str
    usb: str | None


def find_microphones(proc: str = "/proc", sys: str = "/sys") -> list[Microphone]:
    """Every capture device of every sound card, in card order; none where there is no ALSA."""
    cards = Path(proc) / "asound"
    if not cards.is_dir():
        return []
    names = _long_names(cards / "cards")
    found: list[Microphone] = []
    for card in sorted(cards.glob("card[0-9]*"), key=lambda p: int(p.name[4:])):
        number = int(card.name[4:])
        try:
            ident = (card / "id").read_text().strip()
        except OSError:
            continue  # the card went between listing and reading
        usb = _usb_device(Path(sys) / "class" / "sound" / card.name / "device")
        for pcm in sorted(card.glob("pcm[0-9]*c"), key=lambda p: int(p.name[3:-1])):
            found.append(Microphone(f"hw:CARD={ident},DEV={pcm.name[3:-1]}", names.get(number, ident), usb))
    return found


def camera_microphone(video: str, microphones: list[Microphone], sys: str = "/sys") -> Microphone | None:
    """The microphone of the camera at ``video`` (``/dev/video0``): the first capture device on the
    same USB device; None when the camera has none (or is no USB camera)."""
    usb = _usb_device(Path(sys) / "class" / "video4linux" / Path(video).name / "device")
    if usb is None:
        return None
    return next((m for m in microphones if m.usb == usb), None)


def _long_names(cards: Path) -> dict[int, str]:
    """The cards' long names from ``/proc/asound/cards``: `` 0 [C920 ]: USB-Audio - HD Pro Webcam C920``."""
    try:
        text = cards.read_text()
    except OSError:
        return {}
    found = re.findall(r"^\s*(\d+)\s+\[[^\]]*\]:\s*\S.*? - (.+)$", text, re.M)  # driver - name
    return {int(number): name.strip() for number, name in found}


def _usb_device(link: Path) -> str | None:
    """The USB device an interface's ``device`` link leads to (``.../usb1/1-1`` for ``.../1-1:1.2``),
    or None if the link is missing or leads to no USB interface."""
    try:
        interface = Path(os.path.realpath(link, strict=True))
    except OSError:
        return None
    if not re.fullmatch(r"\d+-[\d.]+:\d+\.\d+", interface.name):
        return None
    return str(interface.parent)
