"""``camcast share``: signed, expiring links to watch, listed and revoked one by one or all at once."""

from __future__ import annotations

import time

from camcast import paths
from camcast.config import Config
from camcast.errors import CamcastError, ConfigError
from camcast.net import WILDCARDS, bracket, shown_host
from camcast.security.links import ShareLinks
from camcast.security.tokens import ShareKeys, parse_duration
from camcast.server.urls import RTSP_SCOPES, link_paths, path_for, rtsp_url


def base_url(config: Config) -> str:
    host, port = config.server.listen
    host = shown_host(host)
    return (
        f"{'https' if config.server.tls_cert else 'http'}://{bracket(host)}:{port}{config.server.base_path}"
    )


def running_base(port: int) -> str | None:
    """The address a running server of this user's prints (asked over its control socket): the one on
    ``port``, else the only one running; None when none answers (or several do, on other ports)."""
    import asyncio

    from camcast.admin import ask_server

    sockets = [paths.control_socket(port)]
    if not sockets[0].exists():
        sockets = sorted(sockets[0].parent.glob("control-*.sock"))
    if len(sockets) != 1:
        return None
    try:
        found = int(sockets[0].stem.removeprefix("control-"))
        doc = asyncio.run(ask_server(found, "GET", path_for("status")))
    except (CamcastError, ValueError):
        return None
    base = doc.get("base_url")
    return base if isinstance(base, str) and base else None


def share(
    config: Config,
    expires: str,
    name: str,
    scope: str,
    base: str | None,
    cameras: tuple[str, ...] = (),
    recording: str | None = None,
    audio: bool = False,
) -> None:
    try:
        seconds = parse_duration(expires)
    except ValueError as exc:
        raise ConfigError(str(exc), key="expires") from None
    for one in cameras:
        config.camera(one)  # an unknown name is an error, not a link that never works
    if recording is not None:
        cameras = _one_recording(scope, recording)
    link, token = share_links().issue(name, seconds, scope, cameras, recording or "", audio)
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() + seconds))
    if base is None:
        base = running_base(config.server.listen[1])
    if base is None:
        base = base_url(config)
        print(f"camcast: no camcast server of yours is running: the links assume {base} (from the "
              "configuration; --base-url sets another)")  # fmt: skip
    root = base.rstrip("/")
    limit = f", cameras {', '.join(cameras)}" if cameras else ""
    limit += ", with sound" if audio else ""
    print(f"share link {link.id} for {name!r}, {scope}{limit}, valid until {until} "
          f"(revoke: camcast share --revoke {link.id}):")  # fmt: skip
    shown: list[str | None] = [*cameras] if cameras else [None]
    if not cameras and config.tables and len(config.cameras) > 1:
        shown = [*(c.id for c in config.cameras)]
    if recording is not None:
        print(f"  {root}{path_for('view_recordings', cameras[0], token=token)}")
        print(f"  {root}{path_for('recording_file', name=recording, token=token)}")
        return
    for camera in shown:
        for path in link_paths(scope, camera, token):
            print(f"  {root}{path}")
        rtsp = config.server.rtsp
        if rtsp is not None and scope in RTSP_SCOPES:
            name = camera or config.cameras[0].id
            host = shown_host(rtsp[0]) if rtsp[0] in WILDCARDS else rtsp[0]
            print(f"  {rtsp_url(bool(config.server.tls_cert), host, rtsp[1], name, token)}")


def _one_recording(scope: str, recording: str) -> tuple[str, ...]:
    """The camera of the recording a link is for (an unknown name is an error, not a dead link)."""
    from camcast.record import catalog

    if scope != "recordings":
        raise ConfigError("--recording is for a link with --scope recordings")
    found = catalog.find(paths.recordings_dir(), recording)
    if found is None:
        raise ConfigError(f"no recording named {recording!r} (camcast recordings lists them)")
    return (found.camera,)


def share_links() -> ShareLinks:
    return ShareLinks(ShareKeys(paths.share_key()), paths.share_links())


def revoke_all() -> None:
    share_links().revoke_all()
    print("camcast: every share link is now invalid (a running server notices at the next request)")


def revoke(link_id: str) -> None:
    link = share_links().revoke(link_id)
    print(f"camcast: share link {link.id} ({link.name!r}, {link.scope}) is now invalid")


def list_links() -> None:
    links = share_links().list()
    if not links:
        print("no share links in use (camcast share makes one)")
    for link in links:
        until = time.strftime("%Y-%m-%d %H:%M", time.localtime(link.expires))
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(link.last_used)) if link.last_used else "never"
        state = "revoked" if link.revoked else f"until {until}"
        sound = "  with sound" if link.audio else ""
        print(f"{link.id}  {link.name:<16} {link.scope:<10} {state:<22} last used {used}{sound}")
