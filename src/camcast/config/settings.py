"""Every setting, declared once: its TOML key, type, default, parser, help and scope.

Two scopes: :class:`ServerSettings` hold what the process has once (where to listen, TLS, limits);
:class:`CameraSettings` hold what each camera has (its source, its picture, where it publishes). A
setting's flag is its key with dashes (``text_size`` -> ``--text-size``); flags, TOML tables,
``camcast config`` and error messages are all made from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from camcast.config.fields import (
    fields_of,
    quote,
    setting,
    show_color,
    show_crop,
    show_listen,
    show_size,
)
from camcast.config.parse import (
    URL_SCHEMES,
    device_path,
    int_range,
    parse_ancestors,
    parse_archive_pattern,
    parse_base_path,
    parse_bitrate,
    parse_bool,
    parse_file_name,
    parse_fingerprint,
    parse_fps,
    parse_ice_server,
    parse_listen,
    parse_optional_count,
    parse_optional_listen,
    parse_optional_positive,
    parse_optional_text,
    parse_path,
    parse_seconds,
    parse_size,
    parse_source,
    parse_text_setting,
    parse_trusted_proxy,
    parse_warmup,
)
from camcast.config.video import VideoSize, parse_audio, parse_audio_out, parse_crf, parse_video_size
from camcast.config.watching import MOTION_TABLE, RECORD_TABLE, TIMELAPSE_TABLE, WatchSettings
from camcast.picture.geometry import Crop, parse_crop, parse_flip, parse_rotate
from camcast.picture.masks import Mask, PolygonMask, parse_mask
from camcast.picture.overlay import POSITIONS, parse_color, parse_position


@dataclass(frozen=True)
class ServerSettings:
    """What the process has once: how it serves."""

    listen: tuple[str, int] = setting(
        ("127.0.0.1", 8080), parse_listen, "address and port to serve on", metavar="HOST:PORT",
        show=show_listen, restart=True,
    )  # fmt: skip
    rtsp: tuple[str, int] | None = setting(
        None, parse_optional_listen, "also serve each camera over RTSP on HOST:PORT, e.g. 127.0.0.1:8554",
        metavar="HOST:PORT", show=lambda v: '""' if v is None else show_listen(v), restart=True,
    )  # fmt: skip
    onvif: bool = setting(
        False, parse_bool, "answer ONVIF (device, media, events) on the HTTP listener, for NVRs and Home "
        "Assistant; needs --rtsp", restart=True,
    )  # fmt: skip
    onvif_discovery: bool = setting(
        False, parse_bool, "with --onvif: answer WS-Discovery probes on the LAN (UDP 3702) and say Hello/Bye",
        restart=True,
    )  # fmt: skip
    public: bool = setting(
        False, parse_bool, "let anyone who can reach the server watch without an account (never the default)"
    )
    tls_cert: str | None = setting(
        None, parse_path, "TLS certificate chain (PEM) to serve HTTPS", metavar="FILE", restart=True
    )
    tls_key: str | None = setting(
        None, parse_path, "TLS private key (PEM) for --tls-cert", metavar="FILE", restart=True
    )
    frame_ancestors: str = setting(
        "'self'", parse_ancestors, "origins allowed to frame the viewer pages (CSP frame-ancestors)",
        metavar="ORIGINS",
    )  # fmt: skip
    max_connections: int = setting(
        2000, int_range(1, 100_000), "most open connections in total", metavar="N", restart=True
    )
    max_connections_per_address: int = setting(
        100, int_range(1, 100_000), "most open connections from one address", metavar="N", restart=True
    )
    header_timeout: float = setting(
        10.0,
        parse_seconds(0.5, 300),
        "seconds a client has to send a complete request head",
        metavar="S",
        restart=True,
    )
    idle_timeout: float = setting(
        30.0,
        parse_seconds(1, 3600),
        "seconds an idle keep-alive connection stays open",
        metavar="S",
        restart=True,
    )
    trusted_proxy: tuple[str, ...] = setting(
        (), parse_trusted_proxy,
        "a reverse proxy (address or network) whose Forwarded / X-Forwarded-* headers name the real "
        "client, scheme and host; repeatable (none by default: such headers are ignored)",
        metavar="ADDR", multiple=True,
    )  # fmt: skip
    base_path: str = setting(
        "", parse_base_path, "serve every page and URL under this path, e.g. /cam/ behind a proxy",
        metavar="PATH", restart=True,
    )  # fmt: skip
    ice_server: tuple[str, ...] = setting(
        (), parse_ice_server,
        "STUN or TURN server for WebRTC viewers beyond the LAN, e.g. stun:stun.example.net:3478 or "
        "turn:USER@turn.example.net; repeatable (none by default: nothing outside is contacted)",
        metavar="URL", multiple=True, restart=True,
    )  # fmt: skip
    turn_password: str | None = setting(
        None, parse_optional_text, "password of the TURN server's user (or use CAMCAST_TURN_PASSWORD)",
        secret=True, restart=True,
    )  # fmt: skip


@dataclass(frozen=True)
class CameraSettings(WatchSettings):
    """What each camera has: its source, its picture (geometry, masks, what is drawn) and where its
    pictures are published. ``name`` is the camera's name in URLs; ``outputs`` holds the drawing
    settings that differ per output (``serve``, ``publish``), from the config file's tables."""

    source: str = setting(
        "auto", parse_source,
        "auto (first camera, else the test pattern), pattern, /dev/videoN, a video file, or an rtsp:// or "
        "http(s):// URL",
        metavar="SOURCE", restart=True,
    )  # fmt: skip
    size: tuple[int, int] | None = setting(
        None, parse_size,
        "picture size, e.g. 1280x720 (default: 1280x720 for the pattern, the source's own otherwise)",
        metavar="WxH", show=show_size, restart=True,
    )  # fmt: skip
    fps: float | None = setting(
        None, parse_fps,
        "capture rate in frames per second (default 30 for the pattern and cameras; files play at "
        "their own rate)",
        metavar="N", show=lambda v: f"{v:g}", restart=True,
    )  # fmt: skip
    quality: int = setting(80, int_range(1, 100), "JPEG quality 1–100", metavar="Q", restart=True)
    passthrough: bool = setting(
        True, parse_bool, "send a camera's own MJPEG without re-encoding", restart=True
    )
    warmup: str = setting(
        "auto",
        parse_warmup,
        "drop frames until exposure settles: auto (cameras), on or off",
        metavar="MODE",
        restart=True,
    )
    pattern_timecode: bool = setting(
        False, parse_bool,
        "draw the capture time on the test pattern as a row of blocks that bench/ and tests read back to "
        "measure delay", restart=True,
    )  # fmt: skip
    drop_same_frames: bool = setting(
        False, parse_bool, "send an unchanged picture at most once a second on streams", restart=True
    )
    video_bitrate: int = setting(
        2_000_000, parse_bitrate,
        "H.264 video (HLS, WebRTC, RTSP, recordings) in bits per second, e.g. 2M or 800k: the most a "
        "second costs (with video_crf), or the average (video_crf = off)",
        metavar="BITS", restart=True,
    )  # fmt: skip
    video_crf: float | None = setting(
        26.0, parse_crf,
        "H.264 quality held whatever the scene (x264's CRF, 10 best to 40), up to video_bitrate: a "
        "still scene costs a fraction of a busy one; off: video_bitrate on average, whatever the scene",
        metavar="Q", show=lambda v: '"off"' if v is None else f"{v:g}", restart=True,
    )  # fmt: skip
    renditions: tuple[VideoSize, ...] = setting(
        (), parse_video_size,
        "H.264 renditions, largest first: the first is what HLS, WebRTC, RTSP and recordings send (its "
        "pictures fit in it, e.g. 1280x720, or 1280x720@2M); each other one (640x360@400k, for phones) "
        "is an HLS variant, encoded only while someone watches it (default: one, the picture's size)",
        metavar="WxH[@BITS]", multiple=True, restart=True, show=lambda v: quote(str(v)),
    )  # fmt: skip
    audio: str = setting(
        "off", parse_audio,
        "the microphone: off (the default: none is opened), auto (the camera's own, on the same USB "
        "device; refused if it has none), source (the source's own sound; the test pattern's beep, "
        "with a flash in the picture) or an ALSA capture device (camcast sources lists them); "
        "while on, every page and the status say so, and the shutter closes it",
        metavar="MIC", restart=True,
    )  # fmt: skip
    audio_out: str | None = setting(
        None, parse_audio_out,
        "talk back: the ALSA playback device (a speaker by the camera) the owner's push-to-talk button "
        "plays the owner's voice on; opened only while the button is held (default: none, no button)",
        metavar="SPEAKER", restart=True,
    )  # fmt: skip
    keyframe_every: float = setting(
        1.0, parse_seconds(0.2, 10), "seconds between H.264 keyframes, the length of an HLS segment",
        metavar="S", restart=True,
    )  # fmt: skip
    hls_window: int = setting(
        6, int_range(3, 60, " segments"), "HLS segments a playlist lists", metavar="N", restart=True
    )
    camera_name: str = setting(
        "", str, "the camera's name as people read it, for {name} in --text (default: its table name)",
        metavar="NAME",
    )  # fmt: skip
    # --- the picture: geometry, then masks, then what is drawn ---------------------------------------
    crop: Crop | None = setting(  # noqa: RUF009 - setting() makes a dataclass field, like field()
        None, parse_crop, "keep only x,y,w,h of the picture (pixels)", metavar="X,Y,W,H", show=show_crop
    )
    rotate: int = setting(0, parse_rotate, "rotate 0, 90, 180 or 270 degrees clockwise", metavar="DEG")
    flip: str = setting("none", parse_flip, "flip: none, horizontal, vertical or both", metavar="HOW")
    scale: tuple[int, int] | None = setting(
        None, parse_size, "resample the picture to WxH after crop and rotation", metavar="WxH",
        show=show_size,
    )  # fmt: skip
    mask: tuple[Mask | PolygonMask, ...] = setting(
        (), parse_mask,
        "black out x,y,w,h, or a polygon x,y x,y x,y ... (pixels or percent), in every output before "
        "encoding; repeatable",
        metavar="X,Y,W,H", multiple=True, show=lambda m: quote(str(m)),
    )  # fmt: skip
    text: str | None = setting(
        None, parse_text_setting,
        "caption: strftime codes (%Y-%m-%d %H:%M:%S) and {ms}, {fps}, {viewers}, {name}",
        metavar="TEXT", drawing=True,
    )  # fmt: skip
    text_position: str = setting(
        "bottom-left", parse_position, f"one of {', '.join(POSITIONS)}", metavar="WHERE", drawing=True
    )
    text_size: int = setting(
        24, int_range(8, 200, " pixels"), "caption height in pixels", metavar="PX", drawing=True
    )
    text_color: tuple[int, int, int] = setting(
        (255, 255, 255), parse_color, "caption colour: a name or #rrggbb", metavar="COLOUR",
        drawing=True, show=show_color,
    )  # fmt: skip
    text_font: str | None = setting(
        None, parse_path, "a TrueType font file (default DejaVu Sans Mono)", metavar="FILE", drawing=True
    )
    logo: str | None = setting(
        None, parse_path, "a PNG (with alpha) drawn on the picture", metavar="FILE", drawing=True
    )
    logo_position: str = setting(
        "top-right", parse_position, f"one of {', '.join(POSITIONS)}", metavar="WHERE", drawing=True
    )
    logo_width: int | None = setting(
        None, parse_optional_count, "scale the logo to this width", metavar="PX", drawing=True
    )
    live_badge: bool = setting(
        False, parse_bool, 'draw a red "LIVE" badge on the picture while on air', drawing=True
    )
    # --- publishing -----------------------------------------------------------------------------------
    publish_to: str | None = setting(
        None, parse_optional_text,
        "publish to a folder, or ftp://, ftps://, ftps+implicit:// or sftp://user@host/folder/, or "
        "s3://bucket/prefix/ (?endpoint=URL&region=R&profile=P for S3-compatible stores)",
        metavar="URL", restart=True,
    )  # fmt: skip
    every: float = setting(5.0, parse_seconds(0.2, 86400), "seconds between published pictures", metavar="N")
    name: str = setting("webcam.jpg", parse_file_name, "file name of the published picture", metavar="NAME")
    archive: bool = setting(False, parse_bool, "also keep every picture under archive/ (see archive_pattern)")
    archive_pattern: str = setting(
        "archive/%Y/%m/%d/%H%M%S.jpg", parse_archive_pattern, "strftime path of archived pictures",
        metavar="PATTERN",
    )  # fmt: skip
    keep_days: float | None = setting(
        None, parse_optional_positive, "delete archived pictures older than this many days", metavar="D"
    )
    keep: int | None = setting(
        None, parse_optional_count, "keep only the newest N archived pictures", metavar="N"
    )
    stream_fps: float | None = setting(
        None, parse_optional_positive, "also publish a near-live ring of pictures at this rate (stream.html)",
        metavar="F", restart=True,
    )  # fmt: skip
    hls: bool = setting(
        False,
        parse_bool,
        "also publish H.264 video as HLS (hls/index.m3u8, played by stream.html)",
        restart=True,
    )
    hls_segment: float = setting(
        2.0, parse_seconds(1, 10), "seconds of video in each published HLS segment", metavar="S", restart=True
    )
    ca_file: str | None = setting(
        None, parse_path, "CA certificates to verify an FTPS server", metavar="FILE", restart=True
    )
    fingerprint: str | None = setting(
        None,
        parse_fingerprint,
        "pin an FTPS server's certificate by its SHA-256",
        metavar="SHA256",
        restart=True,
    )
    active: bool = setting(False, parse_bool, "active-mode FTP (the default is passive)", restart=True)
    identity: str | None = setting(
        None, parse_path, "SSH private key for sftp://", metavar="FILE", restart=True
    )
    upload_password: str | None = setting(
        None,
        parse_optional_text,
        "FTP password (or use CAMCAST_UPLOAD_PASSWORD or ~/.netrc)",
        secret=True,
        restart=True,
    )
    s3_access_key: str | None = setting(
        None, parse_optional_text, "S3 access key id (or use AWS_ACCESS_KEY_ID or ~/.aws/credentials)",
        metavar="ID", restart=True,
    )  # fmt: skip
    s3_secret_key: str | None = setting(
        None, parse_optional_text, "S3 secret key (or use AWS_SECRET_ACCESS_KEY or ~/.aws/credentials)",
        secret=True, restart=True,
    )  # fmt: skip

    # Not settings: the camera's name in URLs, per-output drawing from [serve]/[publish] tables, and a
    # V4L2 camera's controls from the [controls] table (by v4l2-ctl name, in the file's order).
    id: str = "camera"
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    controls: tuple[tuple[str, int | bool | str], ...] = ()

    @property
    def plays_at_own_rate(self) -> bool:
        """Whether the source is a video file, which plays at its own frame rate whatever ``fps`` says."""
        source = self.source
        if source in ("auto", "pattern") or device_path(source) is not None:
            return False
        return source.split("://", 1)[0].lower() not in URL_SCHEMES

    @property
    def title(self) -> str:
        """The name people read: ``camera_name``, else the table name."""
        return self.camera_name or self.id

    def drawing(self, output: str) -> tuple[tuple[str, Any], ...]:
        """What ``output`` (serve, publish, snapshot) draws on this camera's pictures, as a hashable
        value: outputs that draw the same share one rendition."""
        own = self.outputs.get(output, {})
        return tuple((key, own.get(key, getattr(self, key))) for key in DRAWING_KEYS)

    def needs_pixels(self) -> bool:
        """Whether any output reshapes or draws on the picture (then a camera's JPEG is decoded)."""
        drawn = any(value for key, value in self.drawing("") if key in _DRAWS)
        per_output = any(
            value for table in self.outputs.values() for key, value in table.items() if key in _DRAWS
        )
        reshaped = self.mask or self.crop or self.rotate or self.flip != "none" or self.scale
        return bool(reshaped or drawn or per_output)


#: The settings that may differ per output, in the [serve] and [publish] tables.
DRAWING_KEYS = tuple(name for name, f in fields_of(CameraSettings).items() if f.metadata["drawing"])
#: Drawing settings whose value alone decides whether anything is drawn.
_DRAWS = ("text", "logo", "live_badge")
OUTPUT_TABLES = ("serve", "publish")
#: Settings written in a table of their own, by table: {table: {key in the table: setting}}.
TABLED = {
    table: {(name.removeprefix(table + "_") if name != table else own): name
            for name, f in fields_of(CameraSettings).items() if f.metadata["table"] == table}
    for table, own in ((MOTION_TABLE, "enabled"), (RECORD_TABLE, "mode"), (TIMELAPSE_TABLE, ""))
}  # fmt: skip
#: The table of a camera's V4L2 controls.
CONTROLS_TABLE = "controls"
