"""What an ONVIF answer is about: one camera as a device (:class:`Device`), and who asks.

Each camera is an ONVIF device of its own, at ``/onvif/device_service`` under its URL prefix
(``/cam/NAME/``; the first camera's also at the top): an NVR adopts each as a camera, with one media
profile, its RTSP stream. Its serial number and discovery address stay the same for this installation
(:func:`identity`), whatever the camera's settings.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from camcast.security.files import private_dir, write_atomic

#: The tokens of the one profile each camera has, and of its parts.
PROFILE = "main"
VIDEO_SOURCE = "video"
VIDEO_SOURCE_CONFIG = "video_source"
VIDEO_ENCODER = "video_h264"
AUDIO_SOURCE = "audio"
#: H.264's profile_idc (an SPS's second byte) as ONVIF names the profile.
H264_PROFILES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High"}


@dataclass(frozen=True)
class Video:
    """The camera's RTSP stream as it is now: its size, rate, bitrate limit, H.264 profile and the
    pictures between keyframes."""

    width: int
    height: int
    fps: float
    bitrate: int
    profile: str
    gov: int


@dataclass(frozen=True)
class Device:
    """One camera as an ONVIF device, for one request: ``root`` is the camera's URL prefix as the
    client reached it (scheme, host, port, base path and /cam/NAME), ``rtsp`` its stream's URL, and
    ``grant`` the token that opens the stream and picture for the account asking (None: no token is
    needed, or the asker has no account to bind it to)."""

    camera: str
    title: str
    root: str
    rtsp: str
    video: Video
    serial: str
    firmware: str
    hardware: str
    location: str
    audio: bool
    tls: bool
    discovery: bool
    grant: Callable[[], str | None]
    users: Callable[[], list[tuple[str, str]]]
    rtsp_port: int
    http_port: int
    mac: str = "02:00:00:00:00:00"

    def xaddr(self, service: str) -> str:
        return f"{self.root}/onvif/{service}"

    @property
    def scopes(self) -> list[str]:
        return scopes_of(self.title or self.camera, self.hardware, self.location)


def scopes_of(name: str, hardware: str, location: str) -> list[str]:
    """What WS-Discovery and GetScopes say of a device: the scopes NVRs filter on."""
    return [
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/type/Network_Video_Transmitter",
        "onvif://www.onvif.org/Profile/Streaming",
        "onvif://www.onvif.org/Profile/S",
        "onvif://www.onvif.org/name/" + _scope_part(name),
        "onvif://www.onvif.org/hardware/" + _scope_part(hardware),
        "onvif://www.onvif.org/location/" + _scope_part(location or "unknown"),
    ]


def _scope_part(text: str) -> str:
    """A scope's last part: URI characters only (a space is %20, as cameras write it)."""
    from urllib.parse import quote

    return quote(text, safe="")


@dataclass(frozen=True)
class Identity:
    """This installation's id, from which each camera's serial number and discovery address come."""

    installation: str

    def serial(self, camera: str) -> str:
        return hashlib.sha256(f"{self.installation}/{camera}".encode()).hexdigest()[:16].upper()

    def mac(self, camera: str) -> str:
        """A hardware address of the camera's own, locally administered (02:...): NVRs (UniFi Protect)
        and Home Assistant tell devices apart by it, and the cameras of one computer share its card."""
        digest = hashlib.sha256(f"{self.installation}/{camera}/mac".encode()).digest()
        return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))

    def endpoint(self, camera: str) -> str:
        return "urn:uuid:" + str(uuid.uuid5(uuid.UUID(self.installation), camera))


def identity(folder: Path) -> Identity:
    """The installation's id, kept in ``folder``/onvif.id (made at the first start; blocking)."""
    path = folder / "onvif.id"
    try:
        return Identity(str(uuid.UUID(path.read_text().strip())))
    except (OSError, ValueError):
        made = str(uuid.UUID(bytes=os.urandom(16), version=4))
        private_dir(folder)
        write_atomic(path, (made + "\n").encode())
        return Identity(made)
