"""The ``camcast`` command: subcommands, and the one place errors become messages and exit codes."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from camcast import __version__, config, paths, timelapse
from camcast.config.edit import ConfigFile
from camcast.errors import CamcastError, ConfigError
from camcast.logs import setup_logging
from camcast.security.tokens import SCOPES

log = logging.getLogger("camcast")

SERVER_KEYS = tuple(config.SERVER_FIELDS)
CAMERA_KEYS = tuple(config.CAMERA_FIELDS)
PUBLISH_KEYS = CAMERA_KEYS[CAMERA_KEYS.index("publish_to") :]
#: Motion's and recording's settings: only the server has them.
WATCH_KEYS = (*(name for table in config.TABLED.values() for name in table.values()), "push")
CAPTURE_KEYS = tuple(k for k in CAMERA_KEYS if k not in PUBLISH_KEYS and k not in WATCH_KEYS)
#: Settings each subcommand takes as flags (all of them can also come from the config file).
COMMAND_SETTINGS = {
    "serve": (*CAPTURE_KEYS, *SERVER_KEYS, *WATCH_KEYS, *PUBLISH_KEYS),
    "snapshot": CAPTURE_KEYS,
    "publish": (*CAPTURE_KEYS, *PUBLISH_KEYS),
    "config": (*SERVER_KEYS, *CAMERA_KEYS),
}
#: Flags whose name is not the key's, per command (``publish --to`` is ``serve --publish-to``).
FLAG_NAMES = {("publish", "publish_to"): "--to"}
#: Commands that choose cameras with --camera.
CHOOSE_CAMERAS = ("serve", "snapshot", "publish", "config")


def flag_name(command: str, key: str) -> str:
    """The flag that sets ``key`` in ``command``."""
    return FLAG_NAMES.get((command, key), "--" + key.replace("_", "-"))


def _add_settings(parser: argparse.ArgumentParser, names: Sequence[str], command: str = "") -> None:
    fields = {**config.SERVER_FIELDS, **config.CAMERA_FIELDS}
    for name in names:
        f = fields[name]
        flag = flag_name(command, name)
        help = f"{f.metadata['help']} (config key: {name})".replace("%", "%%")  # argparse formats help
        if isinstance(f.default, bool):
            parser.add_argument(
                flag, dest=name, default=None, action=argparse.BooleanOptionalAction, help=help
            )
        else:
            parser.add_argument(
                flag,
                dest=name,
                default=None,
                action="append" if f.metadata["multiple"] else "store",
                metavar=f.metadata["metavar"] or None,
                help=help,
            )
    if command in CHOOSE_CAMERAS:
        parser.add_argument(
            "--camera", action="append", default=[], metavar="NAME",
            help="only this camera of the config file's [cameras] tables; repeatable, or NAME,NAME",
        )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camcast",
        description="Put a webcam on the web: serve it, or publish snapshots to a web host.",
    )
    parser.add_argument("--version", action="version", version=f"camcast {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help=f"TOML config file (default {paths.config_file()})")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log detail (-vv: debug)")
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", parents=[common], help="serve the camera over HTTP")
    _add_settings(serve, COMMAND_SETTINGS["serve"], "serve")

    publish = sub.add_parser(
        "publish", parents=[common], help="upload a picture every N seconds to a web host"
    )
    _add_settings(publish, COMMAND_SETTINGS["publish"], "publish")
    publish.add_argument(
        "--check", action="store_true", help="connect, write, rename and delete a test file; report; exit"
    )

    snap = sub.add_parser("snapshot", parents=[common], help="capture one picture to a file")
    _add_settings(snap, COMMAND_SETTINGS["snapshot"], "snapshot")
    snap.add_argument("output", help="JPEG file to write, or - for standard output")

    sources = sub.add_parser(
        "sources", parents=[common], help="list cameras with their formats and sizes, and the microphones"
    )
    sources.add_argument("--dev", default="/dev", help=argparse.SUPPRESS)
    sources.add_argument("--proc", default="/proc", help=argparse.SUPPRESS)  # tests: a kernel's files
    sources.add_argument("--sys", default="/sys", help=argparse.SUPPRESS)

    show = sub.add_parser("config", parents=[common], help="print the effective configuration as TOML")
    _add_settings(show, COMMAND_SETTINGS["config"], "config")

    users = sub.add_parser("users", parents=[common], help="manage viewer and owner accounts")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = users_sub.add_parser("add", help="add an account, or set its password and role")
    add.add_argument("name")
    add.add_argument("--role", choices=("viewer", "owner"), default="viewer")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument(
        "--cameras", default="", metavar="NAME,NAME", help="limit the account to these cameras (default: all)"
    )
    add.add_argument("--onvif", action="store_true", help="for an NVR or Home Assistant's ONVIF: keep the "
                     "password sealed, as the digests they prove it with need (README: ONVIF)")  # fmt: skip
    users_sub.add_parser("list", help="list accounts")
    remove = users_sub.add_parser("remove", help="remove an account")
    remove.add_argument("name")

    share = sub.add_parser("share", parents=[common], help="print a signed, expiring link to watch")
    share.add_argument(
        "--expires", default="2h", help="how long the link works, e.g. 30m, 2h, 7d (default 2h)"
    )
    share.add_argument("--name", default="guest", help="who the link is for, as the viewer log shows it")
    share.add_argument(
        "--scope", choices=SCOPES, default="watch",
        help="what the link opens: watch (the pages, the snapshot and every stream: MJPEG, HLS, WebRTC, "
        "RTSP; the default), stream (the streams and the snapshot, for programs), snapshot (the picture "
        "alone, e.g. for OctoPrint), events (the motion events and their pictures), recordings (the "
        "recordings page and files; --recording NAME for one), timelapse (the films and their page)",
    )  # fmt: skip
    share.add_argument(
        "--base-url", help="the server's address as others reach it, e.g. https://cam.home:8443"
    )
    share.add_argument("--revoke-all", action="store_true", help="invalidate every link given so far")
    share.add_argument("--revoke", metavar="ID", help="invalidate the one link with this id")
    share.add_argument("--list", action="store_true", help="list the links in use, with their last use")
    share.add_argument("--recording", metavar="NAME", help="with --scope recordings: a link to this one only")
    share.add_argument(
        "--audio", action="store_true", dest="with_sound",  # not the camera setting of that name
        help="the link's streams carry the camera's sound, when its audio is on (default: pictures only)",
    )  # fmt: skip
    share.add_argument(
        "--camera",
        action="append",
        default=[],
        metavar="NAME",
        help="limit the link to this camera; repeatable",
    )
    _add_settings(share, ("listen", "tls_cert", "base_path", "rtsp"))

    tls = sub.add_parser("tls", parents=[common], help="make TLS certificates")
    tls_sub = tls.add_subparsers(dest="tls_command", metavar="ACTION", required=True)
    signed = tls_sub.add_parser("self-signed", help="make a self-signed certificate for a home network")
    signed.add_argument(
        "--host", action="append", default=[], help="another name or address of this computer"
    )
    signed.add_argument("--days", type=int, default=825, help="validity in days (default 825)")
    signed.add_argument(
        "--out", type=Path, help="folder to write cert.pem and key.pem (default: config folder)"
    )

    service = sub.add_parser("service", help="run camcast as a systemd service")
    service_sub = service.add_subparsers(dest="service_command", metavar="ACTION", required=True)
    for action, text in (
        ("install", "write a hardened systemd unit running `camcast serve` with the config file"),
        ("uninstall", "remove the unit"),
    ):
        one = service_sub.add_parser(action, parents=[common], help=text)
        one.add_argument("--user", action="store_true", help="a unit for your own systemd (systemctl --user)")
        one.add_argument("--unit-dir", type=Path, help="write or remove the unit in this folder instead")
        if action == "install":
            one.add_argument("--run-as", metavar="USER", help="the account a system unit runs as")

    sub.add_parser(
        "metrics-token", parents=[common],
        help="make a new bearer token for a Prometheus scraper of /metrics (the old one stops working)",
    )  # fmt: skip

    for action, text in (
        ("pause", "close the camera now: every output shows a paused card"),
        ("resume", "resume"),
    ):
        shutter = sub.add_parser(action, parents=[common], help=text)
        shutter.add_argument("name", nargs="?", help="the camera (default: every camera)")
        _add_settings(shutter, ("listen", "base_path"))
    controls = sub.add_parser(
        "controls", parents=[common],
        help="a V4L2 camera's controls (brightness, gain, ...): list them, or `controls set NAME=VALUE ...`",
    )  # fmt: skip
    controls.add_argument("action", nargs="?", choices=("list", "set"), default="list")
    controls.add_argument("assignments", nargs="*", metavar="NAME=VALUE", help="the controls to set")
    controls.add_argument(
        "--camera", action="append", default=[], metavar="NAME", help="the camera (default: the first)"
    )
    _add_settings(controls, ("listen", "base_path"))
    events = sub.add_parser(
        "events", parents=[common], help="motion events: camera, start, end, size, picture"
    )
    events.add_argument(
        "--camera", action="append", default=[], metavar="NAME", help="only this camera's; repeatable"
    )
    events.add_argument("--since", metavar="TIME", help="only events since TIME (ISO 8601, or Unix seconds)")
    events.add_argument("--limit", type=int, default=20, metavar="N", help="the newest N (default 20)")
    events.add_argument("--json", action="store_true", help="one JSON object per event, for scripts")
    events.add_argument(
        "--follow", action="store_true", help="then one line per start and end as they happen"
    )
    recs = sub.add_parser("recordings", parents=[common], help="recordings: list, export an event, delete")
    recs.add_argument("--camera", action="append", default=[], metavar="NAME", help="only this camera's")
    recs.add_argument("--json", action="store_true", help="one JSON object per file, for scripts")
    recs.add_argument("--export", nargs=2, metavar=("WHAT", "OUT"),
                      help="write an event (its id) or a recording (its name) to OUT as one MP4")  # fmt: skip
    recs.add_argument("--delete", metavar="NAME", help="delete a recording (for good)")
    timelapse.add_command(sub, common)
    watchers = sub.add_parser("viewers", parents=[common], help="who is watching now, and who watched")
    watchers.add_argument("--history", type=int, default=20, help="past sessions to show (default 20)")
    _add_settings(watchers, ("listen", "base_path"))
    return parser


def _names(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(n.strip() for value in values for n in value.split(",") if n.strip())


def config_file(args: argparse.Namespace) -> ConfigFile:
    """The config file the command names (or the default one), and its flags."""
    explicit = args.config is not None
    path = Path(args.config) if explicit else paths.config_file()
    flags = {name: getattr(args, name, None) for name in (*SERVER_KEYS, *CAMERA_KEYS)}
    # recordings --camera names the files' camera, which need not be in today's config
    select = () if args.command in ("recordings", "timelapse") else _names(getattr(args, "camera", []))
    return ConfigFile(path, explicit, flags, select)


def load_config(args: argparse.Namespace) -> config.Config:
    cfg = config_file(args).load()
    if args.command == "publish" and args.publish_to is not None and len(cfg.cameras) > 1:
        raise ConfigError(
            "names one destination for several cameras: choose one with --camera", key="publish_to"
        )
    return cfg


def run(args: argparse.Namespace) -> int:
    if args.command == "sources":
        from camcast import admin

        return admin.list_sources(args.dev, args.proc, args.sys)
    if args.command in ("users", "tls", "metrics-token", "service"):
        return run_admin(args)
    if args.command == "events":
        from camcast.motion import listing

        listing.show(paths.events_dir(), _names(args.camera), args.since, args.limit, args.json, args.follow)
        return 0
    cfg = load_config(args)
    if args.command == "config":
        sys.stdout.write(cfg.to_toml())
        return 0
    if args.command == "recordings":
        from camcast.record import listing as recorded

        recorded.main(cfg, paths.recordings_dir(), paths.events_dir(), _names(args.camera), args.json,
                      args.export, args.delete)  # fmt: skip
        return 0
    if args.command == "timelapse":
        from camcast.timelapse import make

        make.main(cfg, _names(args.camera), args.json, args.make, args.start, args.end, args.length)
        return 0
    from camcast import app  # the whole pipeline: only the commands that capture need it

    if args.command == "serve":
        # A source named on the command line is a typo to report at once; one from the config file may
        # be a camera not there yet (at boot), which starts offline and is waited for.
        asyncio.run(app.serve(cfg, quiet=args.quiet, file=config_file(args), wait=args.source is None))
        return 0
    if args.command == "publish":
        if args.check:
            for line in asyncio.run(app.check(cfg)).splitlines():
                print(f"camcast: {line}")
        else:
            asyncio.run(app.publish(cfg, quiet=args.quiet, wait=args.source is None))
        return 0
    if args.command == "snapshot":
        size = asyncio.run(app.snapshot(cfg, args.output))
        if args.output != "-":
            print(f"camcast: wrote {args.output} ({size} bytes)")
        return 0
    from camcast import admin

    if args.command == "share":
        from camcast import sharing

        if args.revoke_all:
            sharing.revoke_all()
        elif args.revoke or args.list:
            sharing.revoke(args.revoke) if args.revoke else sharing.list_links()
        else:
            sharing.share(cfg, args.expires, args.name, args.scope, args.base_url, _names(args.camera),
                          args.recording, args.with_sound)  # fmt: skip
    elif args.command in ("pause", "resume"):
        admin.shutter(cfg, args.command, args.name)
    elif args.command == "viewers":
        admin.viewers(cfg, args.history)
    elif args.command == "controls":
        admin.controls(cfg, args.action, args.assignments)
    else:
        raise AssertionError(args.command)
    return 0


def run_admin(args: argparse.Namespace) -> int:
    from camcast import admin

    if args.command == "tls":
        admin.self_signed(args.host, args.days, args.out)
    elif args.command == "metrics-token":
        admin.metrics_token(load_config(args).server)
    elif args.command == "service":
        admin.service(args.service_command, Path(args.config) if args.config else None, args.user,
                      args.unit_dir, getattr(args, "run_as", None))  # fmt: skip
    elif args.users_command == "add":
        admin.users_add(args.name, args.role, args.password_stdin, _names([args.cameras]), args.onvif)
    elif args.users_command == "list":
        admin.users_list()
    else:
        admin.users_remove(args.name)
    return 0


def describe_error(exc: CamcastError, command: str) -> str:
    """The message of ``exc`` with the settings it names shown as this command's flags, and the camera
    when a bad value is one camera's."""
    text = exc.render(lambda key: flag_name(command, key))
    if isinstance(exc, ConfigError) and exc.key and exc.camera and exc.camera != config.DEFAULT_CAMERA:
        return f"camera {exc.camera}: {text}"
    return text


def entry() -> NoReturn:
    """The ``camcast`` command: :func:`main`, then the process ends with its exit code.

    After obstore (the S3 store) ran, the process ends without finalizing the interpreter: its Tokio
    runtime's worker threads outlive finalization, and one that wakes then (a connection pool's
    timer) panics and aborts the process. Seen here once in the suite: SIGABRT after the right
    message and exit code were decided; lancedb fixed the same bug in its own runtime (lancedb#4175).
    """
    code = main()
    if "obstore" in sys.modules:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; one that no option of the command takes ends the program (exit 2) with that
    command's usage and, for a mistyped flag, the closest one (``--qualty``: did you mean --quality?)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse keeps its actions in _actions: the only way to the command's parser and options.
        commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        command: argparse.ArgumentParser = commands.get(args.command, parser)
        options = [o for action in command._actions for o in action.option_strings]
        flag = extra[0].split("=", 1)[0]
        close = difflib.get_close_matches(flag, options, n=1, cutoff=0.7) if flag.startswith("--") else []
        command.error(f"unrecognized argument {extra[0]}" + (f"; did you mean {close[0]}?" if close else ""))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    setup_logging(args.verbose, args.quiet)
    try:
        try:
            return run(args)
        except* CamcastError as group:  # one camera's failure inside a task group
            raise group.exceptions[0] from None
    except CamcastError as exc:
        print(f"camcast: {describe_error(exc, args.command)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: say so in one line; the traceback is for -vv
        log.debug("internal error", exc_info=True)
        print(
            f"camcast: internal error ({type(exc).__name__}: {exc}); run with -vv for details",
            file=sys.stderr,
        )
        return 70
