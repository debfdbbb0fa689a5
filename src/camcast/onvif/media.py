"""The media service (``trt``, Profile S): the camera's one profile, its video source and H.264
encoder as they really are, and the URIs of its RTSP stream and its picture.

The encoder is camcast's, shared by every output: a client may not change it from here. A ``Set``
call that asks for what it already is succeeds (NVRs such as Synology's send one while adopting); any
other change answers ``ter:ConfigModify``, the standard fault, and changes nothing.
"""

from __future__ import annotations

from urllib.parse import quote

from camcast.onvif.context import PROFILE, VIDEO_ENCODER, VIDEO_SOURCE, VIDEO_SOURCE_CONFIG, Device, Video
from camcast.onvif.soap import Fault, Markup, Request, el

#: ONVIF's quality scale (higher is better) against x264's CRF range camcast takes (10 best, 40 worst).
QUALITY = (1, 10)


def service_capabilities(tag: str = "trt:Capabilities") -> Markup:
    return el(
        tag,
        el("trt:ProfileCapabilities", MaximumNumberOfProfiles=1),
        el("trt:StreamingCapabilities", RTPMulticast=False, RTP_TCP=True, RTP_RTSP_TCP=True,
           NonAggregateControl=False, NoRTSPStreaming=False),
        SnapshotUri=True, Rotation=False, VideoSourceMode=False, OSD=False, EXICompression=False,
    )  # fmt: skip


def _resolution(tag: str, v: Video) -> Markup:
    return el(tag, el("tt:Width", v.width), el("tt:Height", v.height))


def video_source(device: Device, tag: str = "trt:VideoSources") -> Markup:
    v = device.video
    return el(
        tag,
        el("tt:Framerate", round(v.fps, 2)),
        _resolution("tt:Resolution", v),
        token=VIDEO_SOURCE,
    )


def _configuration(tag: str, token: str, name: str, *parts: Markup) -> Markup:
    """An ONVIF ConfigurationEntity: its name and use count (the one profile's), then its own parts."""
    return el(tag, el("tt:Name", name), el("tt:UseCount", 1), *parts, token=token)


def source_configuration(device: Device, tag: str) -> Markup:
    v = device.video
    bounds = el("tt:Bounds", x=0, y=0, width=v.width, height=v.height)
    return _configuration(tag, VIDEO_SOURCE_CONFIG, "camera", el("tt:SourceToken", VIDEO_SOURCE), bounds)


def encoder_configuration(device: Device, tag: str) -> Markup:
    v = device.video
    return _configuration(
        tag, VIDEO_ENCODER, "H.264",
        el("tt:Encoding", "H264"),
        _resolution("tt:Resolution", v),
        el("tt:Quality", QUALITY[1] // 2 + 1),
        el("tt:RateControl", el("tt:FrameRateLimit", max(1, round(v.fps))), el("tt:EncodingInterval", 1),
           el("tt:BitrateLimit", v.bitrate // 1000)),
        el("tt:H264", el("tt:GovLength", v.gov), el("tt:H264Profile", v.profile)),
        el("tt:Multicast", el("tt:Address", el("tt:Type", "IPv4"), el("tt:IPv4Address", "0.0.0.0")),
           el("tt:Port", 0), el("tt:TTL", 0), el("tt:AutoStart", False)),
        el("tt:SessionTimeout", "PT60S"),
    )  # fmt: skip


def profile(device: Device, tag: str = "trt:Profiles") -> Markup:
    return el(
        tag,
        el("tt:Name", device.title or device.camera),
        source_configuration(device, "tt:VideoSourceConfiguration"),
        encoder_configuration(device, "tt:VideoEncoderConfiguration"),
        token=PROFILE,
        fixed=True,
    )


def check_profile(request: Request) -> None:
    token = request.text("ProfileToken")
    if token != PROFILE:
        raise Fault(
            "Sender", ("ter:InvalidArgVal", "ter:NoProfile"), f"no profile {token!r}: the profile is main"
        )


def check_token(request: Request, field: str, token: str) -> None:
    sent = request.text(field)
    if sent is not None and sent != token:
        raise Fault(
            "Sender", ("ter:InvalidArgVal", "ter:NoConfig"), f"no configuration {sent!r}: it is {token!r}"
        )


def encoder_options(device: Device) -> Markup:
    v = device.video
    return el(
        "trt:GetVideoEncoderConfigurationOptionsResponse",
        el(
            "trt:Options",
            el("tt:QualityRange", el("tt:Min", QUALITY[0]), el("tt:Max", QUALITY[1])),
            el(
                "tt:H264",
                _resolution("tt:ResolutionsAvailable", v),
                el("tt:GovLengthRange", el("tt:Min", v.gov), el("tt:Max", v.gov)),
                el("tt:FrameRateRange", el("tt:Min", 1), el("tt:Max", max(1, round(v.fps)))),
                el("tt:EncodingIntervalRange", el("tt:Min", 1), el("tt:Max", 1)),
                el("tt:H264ProfilesSupported", v.profile),
            ),
        ),
    )


def source_options(device: Device) -> Markup:
    v = device.video
    return el(
        "trt:GetVideoSourceConfigurationOptionsResponse",
        el(
            "trt:Options",
            el("tt:BoundsRange",
               el("tt:XRange", el("tt:Min", 0), el("tt:Max", 0)),
               el("tt:YRange", el("tt:Min", 0), el("tt:Max", 0)),
               el("tt:WidthRange", el("tt:Min", v.width), el("tt:Max", v.width)),
               el("tt:HeightRange", el("tt:Min", v.height), el("tt:Max", v.height))),
            el("tt:VideoSourceTokensAvailable", VIDEO_SOURCE),
        ),
    )  # fmt: skip


def set_encoder(device: Device, request: Request) -> Markup:
    """SetVideoEncoderConfiguration: accepted when it asks for what the encoder is; else ConfigModify."""
    v = device.video
    asked = {
        "encoding": request.text("Configuration", "Encoding"),
        "width": request.text("Configuration", "Resolution", "Width"),
        "height": request.text("Configuration", "Resolution", "Height"),
        "profile": request.text("Configuration", "H264", "H264Profile"),
    }
    now = {"encoding": "H264", "width": str(v.width), "height": str(v.height), "profile": v.profile}
    token = request.find("Configuration")
    changed = [k for k, value in asked.items() if value is not None and value != now[k]]
    if token is None or token.get("token") != VIDEO_ENCODER or changed:
        what = ", ".join(f"{k} {asked[k]} (it is {now[k]})" for k in changed) or "the configuration named"
        raise Fault("Sender", ("ter:InvalidArgVal", "ter:ConfigModify"),
                    f"camcast's encoder is set in its own settings, not over ONVIF: {what}")  # fmt: skip
    return el("trt:SetVideoEncoderConfigurationResponse")


def stream_uri(device: Device, request: Request) -> Markup:
    check_profile(request)
    stream = request.text("StreamSetup", "Stream") or "RTP-Unicast"
    if stream != "RTP-Unicast":
        raise Fault("Sender", ("ter:InvalidArgVal", "ter:InvalidStreamSetup"),
                    "camcast streams RTP-Unicast (over RTSP), not multicast")  # fmt: skip
    return el("trt:GetStreamUriResponse", media_uri(_with_grant(device.rtsp, device)))


def snapshot_uri(device: Device, request: Request) -> Markup:
    check_profile(request)
    return el("trt:GetSnapshotUriResponse", media_uri(_with_grant(f"{device.root}/snapshot.jpg", device)))


def media_uri(uri: str) -> Markup:
    return el(
        "trt:MediaUri",
        el("tt:Uri", uri),
        el("tt:InvalidAfterConnect", False),
        el("tt:InvalidAfterReboot", False),
        el("tt:Timeout", "PT0S"),
    )


def _with_grant(url: str, device: Device) -> str:
    token = device.grant()
    return f"{url}?token={quote(token, safe='')}" if token else url
