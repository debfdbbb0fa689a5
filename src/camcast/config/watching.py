"""What a camera does beyond showing its picture, declared like every other setting: motion (the
``[motion]`` table), recording (``[record]``), the timelapse (``[timelapse]``) and pushing to
another server. :class:`WatchSettings`
is a base of :class:`~camcast.config.settings.CameraSettings`."""

from __future__ import annotations

from dataclasses import dataclass

from camcast.clock import parse_duration_between
from camcast.config.fields import quote, setting, show_bytes
from camcast.config.parse import (
    parse_bool,
    parse_byte_size,
    parse_command,
    parse_minutes,
    parse_mqtt,
    parse_optional_positive,
    parse_optional_text,
    parse_push,
    parse_rate,
    parse_record_mode,
    parse_seconds,
    parse_sensitivity,
    parse_webhook,
)
from camcast.daylight import ALL_DAY, Window, parse_location, parse_window
from camcast.picture.regions import Region, parse_region

#: The table of a camera's motion settings (``motion_fps`` is its ``fps``, ``motion`` its ``enabled``).
MOTION_TABLE = "motion"
#: The table of a camera's recording settings (``record`` is its ``mode``).
RECORD_TABLE = "record"
#: The table of a camera's timelapse settings (it is on when ``every`` is set).
TIMELAPSE_TABLE = "timelapse"


@dataclass(frozen=True)
class WatchSettings:
    """Motion, recording and pushing: the server's, per camera."""

    # --- motion: the [motion] table ---------------------------------------------------------------------
    motion: bool = setting(
        False, parse_bool,
        'watch the picture for motion: events in the log, on the page and in "camcast events"',
        table=MOTION_TABLE,
    )  # fmt: skip
    motion_sensitivity: float = setting(
        0.5, parse_sensitivity, "0 (least) to 1 (most); see the README for the thresholds behind it",
        metavar="S", table=MOTION_TABLE,
    )  # fmt: skip
    motion_zones: tuple[Region, ...] = setting(
        (), parse_region,
        "watch only here: left,top,right,bottom or x,y x,y x,y ... in fractions of the picture; "
        "repeatable (default: all of it)",
        metavar="ZONE", multiple=True, show=str, table=MOTION_TABLE,
    )  # fmt: skip
    motion_ignore: tuple[Region, ...] = setting(
        (), parse_region, "never count motion here (a tree, a road), as --motion-zones; repeatable",
        metavar="ZONE", multiple=True, show=str, table=MOTION_TABLE,
    )  # fmt: skip
    motion_min_seconds: float = setting(
        0.3, parse_seconds(0, 60), "motion lasting this long starts an event", metavar="S", table=MOTION_TABLE
    )
    motion_gap_seconds: float = setting(
        5.0, parse_seconds(0.5, 3600), "this long without motion ends an event", metavar="S",
        table=MOTION_TABLE,
    )  # fmt: skip
    motion_fps: float = setting(
        5.0, parse_rate, "most pictures analysed a second (0.5 to 30)", metavar="N", table=MOTION_TABLE
    )
    motion_on_event: str | None = setting(
        None, parse_webhook, "POST each event's start and end as JSON to this http(s):// URL",
        metavar="URL", table=MOTION_TABLE,
    )  # fmt: skip
    motion_on_event_command: tuple[str, ...] = setting(
        (), parse_command,
        "run this command at each event's start and end, with CAMCAST_* environment variables",
        metavar="COMMAND", show=lambda argv: "[" + ", ".join(quote(a) for a in argv) + "]",
        table=MOTION_TABLE,
    )  # fmt: skip
    motion_mqtt: str | None = setting(
        None, parse_mqtt,
        "publish motion ON/OFF and Home Assistant discovery to this mqtt://[user@]host[:port] or mqtts:// "
        "broker",
        metavar="URL", table=MOTION_TABLE, restart=True,
    )  # fmt: skip
    motion_mqtt_password: str | None = setting(
        None, parse_optional_text, "the MQTT user's password (or use CAMCAST_MQTT_PASSWORD)", secret=True,
        table=MOTION_TABLE, restart=True,
    )  # fmt: skip
    # --- sound events (with audio on) ---------------------------------------------------------------------
    audio_events: bool = setting(
        False, parse_bool,
        "with audio on: a sound louder than audio_threshold for audio_min_seconds is an event (kind "
        "sound), kept, told and recorded as motion's are",
    )  # fmt: skip
    audio_threshold: float = setting(
        -30.0, parse_seconds(-90, 0, "dBFS"), "how loud a sound event is: its level (RMS), in dBFS",
        metavar="DBFS",
    )  # fmt: skip
    audio_min_seconds: float = setting(
        0.5, parse_seconds(0.02, 60), "a sound lasting this long starts an event", metavar="S"
    )
    # --- someone in the room can know they are watched ---------------------------------------------------
    on_watch_command: tuple[str, ...] = setting(
        (), parse_command,
        "run this command when the first viewer arrives (CAMCAST_EVENT=watched) and when the last leaves "
        "(unwatched), with CAMCAST_VIEWERS: a lamp or an LED in the room that shows the camera is watched",
        metavar="COMMAND", show=lambda argv: "[" + ", ".join(quote(a) for a in argv) + "]",
    )  # fmt: skip
    # --- recording: the [record] table ------------------------------------------------------------------
    record: str = setting(
        "off", parse_record_mode,
        "record the H.264 video: off, events (a clip per motion event) or continuous (files of "
        "record_file_minutes)",
        metavar="MODE", table=RECORD_TABLE,
    )  # fmt: skip
    record_pre_seconds: float = setting(
        5.0, parse_seconds(0, 60), "video kept in memory to start an event's clip before the event",
        metavar="S", table=RECORD_TABLE,
    )  # fmt: skip
    record_post_seconds: float = setting(
        5.0, parse_seconds(0, 600), "video recorded after an event ends", metavar="S", table=RECORD_TABLE
    )
    record_file_minutes: float = setting(
        10.0, parse_minutes(0.05, 1440), "minutes in each continuous file", metavar="M", table=RECORD_TABLE
    )
    record_max_days: float | None = setting(
        14.0, parse_optional_positive, "delete recordings older than this many days", metavar="D",
        table=RECORD_TABLE,
    )  # fmt: skip
    record_max_size: int | None = setting(
        None, parse_byte_size, "keep the recordings of this camera under this size, e.g. 20G", metavar="SIZE",
        table=RECORD_TABLE, show=show_bytes,
    )  # fmt: skip
    record_min_free: int = setting(
        2 * 1024**3, parse_byte_size,
        "free space to leave on the disk: past it, oldest recordings are deleted; if still short, "
        "recording stops until there is room",
        metavar="SIZE", table=RECORD_TABLE, show=show_bytes,
    )  # fmt: skip
    record_copy_to: str | None = setting(
        None, parse_optional_text,
        "also upload each finished clip to a folder, or an ftp://, ftps://, sftp:// or s3:// URL "
        "(the credentials are the publishing ones)",
        metavar="URL", table=RECORD_TABLE, restart=True,
    )  # fmt: skip
    # --- the timelapse: the [timelapse] table ---------------------------------------------------------
    timelapse_every: float | None = setting(
        None, lambda v: None if v in (None, "", "off") else parse_duration_between(0.1, 3600)(v),
        "make a timelapse: a picture this often (10s, 1m) within the window, each day's film made as "
        "the day goes (default: off)",
        metavar="EVERY", table=TIMELAPSE_TABLE,
    )  # fmt: skip
    timelapse_window: Window = setting(  # noqa: RUF009 - a frozen value
        ALL_DAY, parse_window,
        'when pictures are taken each day: "all day", "07:00..19:00" (local time) or '
        '"sunrise-30m..sunset+30m" (needs the location)',
        metavar="WINDOW", table=TIMELAPSE_TABLE, show=lambda w: quote(w.show()),
    )  # fmt: skip
    timelapse_location: tuple[float, float] | None = setting(
        None, parse_location, 'where the camera is, "LAT,LON" in degrees, for sunrise and sunset',
        metavar="LAT,LON", table=TIMELAPSE_TABLE, show=lambda v: quote(f"{v[0]:g},{v[1]:g}") if v else '""',
    )  # fmt: skip
    timelapse_length: float = setting(
        60.0, parse_duration_between(1, 3600), "how long each day's film lasts, whatever the window",
        metavar="LENGTH", table=TIMELAPSE_TABLE,
    )  # fmt: skip
    timelapse_keep_days: float | None = setting(
        365.0, parse_optional_positive, "delete a day's film after this many days (here and where published)",
        metavar="D", table=TIMELAPSE_TABLE,
    )  # fmt: skip
    timelapse_deflicker: bool = setting(
        True, parse_bool, "smooth the brightness between pictures (a running average applied as a gain)",
        table=TIMELAPSE_TABLE,
    )  # fmt: skip
    timelapse_publish: bool = setting(
        False, parse_bool,
        "upload each day's film, with a page listing them, to publish_to (and to record.copy_to if set)",
        table=TIMELAPSE_TABLE, restart=True,
    )  # fmt: skip
    push: tuple[str, ...] = setting(
        (), parse_push, "also publish the H.264 to an rtsp:// media server or rtmp:// ingest; repeatable",
        metavar="URL", multiple=True, show=quote, restart=True,
    )  # fmt: skip
