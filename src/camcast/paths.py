"""Where camcast keeps its files: one name for each.

The config folder holds what the owner writes (``camcast.toml``, accounts, the share-link key, TLS
pairs); the state folder holds what camcast writes while it runs (the viewer log, control sockets).
Both follow the XDG base-directory variables, so a test or a systemd unit can point them elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path


def config_home(home: Path | None = None) -> Path:
    """``$XDG_CONFIG_HOME``, else ``.config`` in ``home`` (this user's home when not given)."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or (home or Path.home()) / ".config")


def state_home(home: Path | None = None) -> Path:
    """``$XDG_STATE_HOME``, else ``.local/state`` in ``home`` (this user's home when not given)."""
    return Path(os.environ.get("XDG_STATE_HOME") or (home or Path.home()) / ".local" / "state")


def config_dir(home: Path | None = None) -> Path:
    """``$XDG_CONFIG_HOME/camcast`` (``~/.config/camcast`` when the variable is unset)."""
    return config_home(home) / "camcast"


def state_dir(home: Path | None = None) -> Path:
    """``$XDG_STATE_HOME/camcast`` (``~/.local/state/camcast`` when unset)."""
    return state_home(home) / "camcast"


def config_file() -> Path:
    """The config file read when ``--config`` is not given."""
    return config_dir() / "camcast.toml"


def users_file() -> Path:
    """Viewer and owner accounts (salted scrypt hashes, mode 0600)."""
    return config_dir() / "users.json"


def share_key() -> Path:
    """The key share links are signed with; replacing it revokes every link."""
    return config_dir() / "share.key"


def share_links() -> Path:
    """The list of share links issued (their ids, names, scopes, expiry, last use; never a token)."""
    return config_dir() / "links.json"


def metrics_token() -> Path:
    """The SHA-256 of the Prometheus scraper's bearer token (``camcast metrics-token``)."""
    return config_dir() / "metrics.token"


def tls_dir() -> Path:
    """Where ``camcast tls self-signed`` writes its certificate and key."""
    return config_dir() / "tls"


def viewer_log() -> Path:
    """Every viewing session, one JSON line per start and end."""
    return state_dir() / "viewers.jsonl"


def control_socket(port: int) -> Path:
    """The owner's control socket of the server listening on ``port`` (only this user can open it):
    in ``$XDG_RUNTIME_DIR/camcast`` (a tmpfs that holds sockets, and is this user's alone) when the
    session has one, else in the state folder."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) / "camcast" if runtime and Path(runtime).is_dir() else state_dir()
    return folder / f"control-{port}.sock"


def log_file() -> Path:
    """The log of a running ``serve`` or ``publish``, with the tracebacks the console leaves out."""
    return state_dir() / "camcast.log"


def events_dir() -> Path:
    """Motion events: ``events.jsonl`` (one JSON line per start and end) and each event's picture."""
    return state_dir() / "events"


def recordings_dir() -> Path:
    """Recordings: ``CAMERA/YYYY-MM-DD/CAMERA-YYYYMMDD-HHMMSS-mmm.mp4``, each with a ``.json`` sidecar."""
    return state_dir() / "recordings"


def timelapse_dir() -> Path:
    """Timelapse films: ``CAMERA/YYYY-MM-DD.mp4`` with a ``.json`` sidecar, and the day's working parts."""
    return state_dir() / "timelapse"
