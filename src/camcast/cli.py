"""The ``camcast`` command: subcommands, and the one place errors become messages and exit codes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from camcast import __version__, config
from camcast.errors import CamcastError

log = logging.getLogger("camcast")

#: Settings each subcommand takes as flags (all of them can also come from the config file).
CAPTURE = ("source", "size", "fps", "quality", "passthrough", "mask", "live_badge")
COMMAND_SETTINGS = {
    "serve": (
        *CAPTURE,
        "listen",
        "public",
        "tls_cert",
        "tls_key",
        "frame_ancestors",
        "max_connections",
        "max_connections_per_address",
        "header_timeout",
        "idle_timeout",
    ),
    "snapshot": CAPTURE,
    "config": tuple(f.name for f in config.Config.settings()),
}


def _add_settings(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    fields = {f.name: f for f in config.Config.settings()}
    for name in names:
        f = fields[name]
        flag = "--" + name.replace("_", "-")
        help = f"{f.metadata['help']} (config key: {name})"
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camcast",
        description="Put a webcam on the web: serve it, or publish snapshots to a web host.",
    )
    parser.add_argument("--version", action="version", version=f"camcast {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", help=f"TOML config file (default {config.default_config_file()})"
    )
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log detail (-vv: debug)")
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", parents=[common], help="serve the camera over HTTP")
    _add_settings(serve, COMMAND_SETTINGS["serve"])

    snap = sub.add_parser("snapshot", parents=[common], help="capture one picture to a file")
    _add_settings(snap, COMMAND_SETTINGS["snapshot"])
    snap.add_argument("output", help="JPEG file to write, or - for standard output")

    sources = sub.add_parser("sources", parents=[common], help="list cameras with their formats and sizes")
    sources.add_argument("--dev", default="/dev", help=argparse.SUPPRESS)

    show = sub.add_parser("config", parents=[common], help="print the effective configuration as TOML")
    _add_settings(show, COMMAND_SETTINGS["config"])
    return parser


def load_config(args: argparse.Namespace) -> config.Config:
    explicit = args.config is not None
    path = Path(args.config) if explicit else config.default_config_file()
    file_values = config.read_file(path, explicit)
    flags = {f.name: getattr(args, f.name, None) for f in config.Config.settings()}
    return config.load(file_values, flags, origin=str(path))


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    if verbose < 2:
        for noisy in ("aiohttp.access", "asyncssh", "libav"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        import av.logging

        av.logging.set_level(av.logging.ERROR if verbose < 2 else av.logging.VERBOSE)
    except ImportError:
        pass


def run(args: argparse.Namespace) -> int:
    from camcast import app

    if args.command == "sources":
        return list_sources(args.dev)
    cfg = load_config(args)
    if args.command == "config":
        sys.stdout.write(cfg.to_toml())
        return 0
    if args.command == "serve":
        asyncio.run(app.serve(cfg, quiet=args.quiet))
        return 0
    if args.command == "snapshot":
        size = asyncio.run(app.snapshot(cfg, args.output))
        if args.output != "-":
            print(f"camcast: wrote {args.output} ({size} bytes)")
        return 0
    raise AssertionError(args.command)


def list_sources(root: str) -> int:
    from camcast.sources.v4l2 import list_cameras

    cameras = list_cameras(root)
    if not cameras:
        print(f"no cameras found under {root}; the test pattern is always available: --source pattern")
        return 0
    for camera in cameras:
        print(f"{camera.path}  {camera.name}")
        for mode in camera.modes:
            print(f"    {mode}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    try:
        return run(args)
    except CamcastError as exc:
        print(f"camcast: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
