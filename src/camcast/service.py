"""``camcast service install``: a hardened systemd unit that runs ``camcast serve`` with the config file.

The unit restarts camcast when it fails, reloads its configuration on ``systemctl reload`` (SIGHUP),
and confines it: no new privileges, no capabilities, the whole file system read-only but for camcast's
own state and config folders, a private /tmp, no kernel tunables or modules, only the address families
it uses (IP, Unix sockets, netlink to list interfaces for WebRTC), and of the devices only cameras
(``DeviceAllow=char-video4linux``). ``systemd-analyze verify`` accepts it; ``systemd-analyze security``
rates it (the README gives the figure).

A system unit (``/etc/systemd/system``, as root) runs as the user who installs it (``SUDO_USER`` when
run through sudo) with the ``video`` group; ``--user`` writes a unit for that user's own systemd.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import sys
from pathlib import Path

from camcast import paths
from camcast.errors import ConfigError
from camcast.security.files import write_atomic

UNIT = "camcast.service"
SYSTEM_DIR = Path("/etc/systemd/system")


def user_unit_dir() -> Path:
    return paths.config_home() / "systemd" / "user"


def camcast_command() -> list[str]:
    """How to start this camcast: its own script if it is on disk, else this Python with ``-m``."""
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "camcast" and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("camcast")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "camcast"]


def unit_text(config: Path, user: bool, account: str, home: Path) -> str:
    """The unit for ``camcast serve --config CONFIG``; ``account`` and ``home`` are whose it runs as
    (a system unit), and whose folders it may write."""
    command = shlex.join([*camcast_command(), "serve", "--config", str(config)])
    # The installing user's XDG variables, if set, say where; else the folders in the service's HOME
    # (the account's, for a system unit).
    config_dir = paths.config_dir(None if user else home)
    state_dir = paths.state_dir(None if user else home)
    lines = [
        "# Written by `camcast service install`; `camcast service uninstall` removes it.",
        "[Unit]",
        "Description=camcast: the camera on the web",
        "Documentation=https://github.com/camcast/camcast#readme",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=exec",
        f"ExecStart={command}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartSec=5",
        f"Environment=XDG_CONFIG_HOME={config_dir.parent} XDG_STATE_HOME={state_dir.parent}",
    ]
    if not user:
        lines += [f"User={account}", "SupplementaryGroups=video"]
    lines += [
        "# Confinement: see `systemd-analyze security camcast.service`.",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        f"ReadWritePaths={state_dir} {config_dir}",
        "PrivateTmp=yes",
        "DevicePolicy=closed",
        "DeviceAllow=char-video4linux rw",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "PrivateMounts=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        "SystemCallErrorNumber=EPERM",
        "UMask=0077",
        "",
        "[Install]",
        f"WantedBy={'default.target' if user else 'multi-user.target'}",
        "",
    ]
    return "\n".join(lines)


def _account(run_as: str | None) -> tuple[str, Path]:
    """Who a system unit runs as: ``run_as``, else the user behind sudo, else the current user."""
    name = run_as or os.environ.get("SUDO_USER") or pwd.getpwuid(os.getuid()).pw_name
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(f"no user named {name!r} on this machine", key="run_as") from None
    return entry.pw_name, Path(entry.pw_dir)


def install(config: Path | None, user: bool, folder: Path | None, run_as: str | None = None) -> Path:
    """Write the unit; return its path. ``folder`` overrides where (tests, packagers); ``run_as`` is
    the account a system unit runs as."""
    config = (config or paths.config_file()).resolve()
    if not config.is_file():
        raise ConfigError(
            f"{config}: no such config file; write one first (`camcast config > {config}` prints the "
            "effective settings as TOML)"
        )
    account, home = _account(run_as)
    if account == "root" and not user:
        raise ConfigError(
            "a system unit does not run camcast as root: install it with sudo from your own account, or "
            "pass --run-as USER"
        )
    target = (folder or (user_unit_dir() if user else SYSTEM_DIR)) / UNIT
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, unit_text(config, user, account, home).encode(), mode=0o644)
    except (OSError, ConfigError) as exc:
        raise ConfigError(f"cannot write {target}: {getattr(exc, 'strerror', None) or exc}") from None
    return target


def uninstall(user: bool, folder: Path | None) -> Path | None:
    """Remove the unit; return its path, or None if there was none."""
    target = (folder or (user_unit_dir() if user else SYSTEM_DIR)) / UNIT
    try:
        target.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot remove {target}: {exc.strerror}") from None
    return target
