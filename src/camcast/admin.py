"""The owner's commands: accounts, share links, TLS certificates, and the running server's shutter.

The shutter and the viewer list talk to the running server over its control socket, a Unix socket in
the private state folder, so only the owner's own user can use them, without a password.
"""

from __future__ import annotations

import asyncio
import datetime
import getpass
import hashlib
import ipaddress
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from camcast import paths
from camcast.clock import shown
from camcast.config import CameraSettings, Config, ServerSettings
from camcast.config.parse import device_path
from camcast.errors import CamcastError, ConfigError, SourceError
from camcast.net import WILDCARDS, host_port
from camcast.security.accounts import MIN_PASSWORD, Accounts
from camcast.security.files import write_private
from camcast.security.tokens import MetricsToken
from camcast.security.viewers import read_history
from camcast.server.urls import path_for
from camcast.sources.controls import Control, list_controls, set_controls


def accounts() -> Accounts:
    return Accounts(paths.users_file())


def read_password(from_stdin: bool) -> str:
    """A new password from standard input (one line) or typed twice at the terminal."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password (at least {MIN_PASSWORD} characters): ")
        if getpass.getpass("again: ") != password:
            raise ConfigError("the two passwords differ; nothing was changed")
    else:
        raise ConfigError("no terminal to type a password on: pass --password-stdin and send it on stdin")
    return password


def users_add(
    name: str, role: str, password_stdin: bool, cameras: tuple[str, ...] = (), onvif: bool = False
) -> None:
    store = accounts()
    listed = store.list()
    existed = any(a.name == name for a in listed)
    store.add(name, read_password(password_stdin), role, cameras, onvif)
    limit = f", cameras {', '.join(cameras)}" if cameras else ""
    sealed = f", for ONVIF (its password sealed under {store.device.path})" if onvif else ""
    print(f"camcast: {'updated' if existed else 'added'} {role} {name!r}{limit}{sealed} in {store.path}")
    if not listed:
        # The first account changes who may watch, at once on a running server: say so where it bites.
        print(
            "camcast: from now on everyone signs in, this computer too: a program here that fetched the "
            "camera without a password (OctoPrint, a script) needs an account's password, or a share "
            "link: camcast share --scope snapshot --expires 365d"
        )


def users_list() -> None:
    listed = accounts().list()
    if not listed:
        print("no accounts: only this computer can watch (add one with `camcast users add NAME`)")
    for account in listed:
        onvif = "\tonvif" if account.onvif else ""
        print(f"{account.name}\t{account.role}\t{','.join(account.cameras) or 'all cameras'}{onvif}")


def users_remove(name: str) -> None:
    accounts().remove(name)
    print(f"camcast: removed {name!r}; their browser sessions end at their next request")


def service(action: str, config: Path | None, user: bool, folder: Path | None, run_as: str | None) -> None:
    """``camcast service install|uninstall``: write or remove the unit, and say what to run next."""
    from camcast import service as unit

    ctl = "systemctl --user" if user else "sudo systemctl"
    if action == "install":
        path = unit.install(config, user, folder, run_as)
        print(f"camcast: wrote {path}; start it with: {ctl} daemon-reload && {ctl} enable --now camcast")
        print(f"camcast: reload the config file with `{ctl} reload camcast` (SIGHUP); logs: journalctl"
              f"{' --user' if user else ''} -u camcast")  # fmt: skip
        return
    removed = unit.uninstall(user, folder)
    if removed is None:
        print("camcast: no camcast unit was installed there")
    else:
        print(f"camcast: removed {removed}; run {ctl} disable --now camcast && {ctl} daemon-reload")


def metrics_token(server: ServerSettings) -> None:
    """Make the scraper's token for /metrics (replacing the last one) and print how to use it, for a
    Prometheus on this machine scraping the configured server."""
    token = MetricsToken(paths.metrics_token()).issue()
    print(token)
    host, port = server.listen
    target = host_port("127.0.0.1" if host in WILDCARDS else host, port)
    scheme = "    scheme: https\n" if server.tls_cert else ""
    path = f"    metrics_path: {server.base_path}/metrics\n" if server.base_path else ""
    print(
        "camcast: the token above opens /metrics and nothing else; it is shown once (only its hash is kept "
        f"in {paths.metrics_token()}). In prometheus.yml:\n"
        "  - job_name: camcast\n"
        f"{scheme}{path}"
        "    authorization: { credentials_file: /etc/prometheus/camcast.token }\n"
        f"    static_configs: [{{ targets: ['{target}'] }}]",
        file=sys.stderr,
    )


def self_signed(hosts: list[str], days: int, folder: Path | None) -> None:
    """Make a self-signed certificate and key for a home network, and print how to use them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    if not 1 <= days <= 3650:
        raise ConfigError("must be from 1 to 3650", key="days")
    folder = folder or paths.tls_dir()
    names = ["localhost", socket.gethostname(), *hosts]
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    for host in dict.fromkeys(names):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"camcast on {socket.gethostname()}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    print(
        f"camcast: wrote {cert_path} and {key_path} (valid {days} days) for {', '.join(dict.fromkeys(names))}"
    )
    print(f"  SHA-256 fingerprint {':'.join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()}")
    print(f"  use: camcast serve --tls-cert {cert_path} --tls-key {key_path}")


class NotRunning(CamcastError):
    """No camcast server of this user's listens on the configured port."""


async def ask_server(port: int, method: str, path: str, body: object = None) -> dict[str, Any]:
    """A request to the running server over its control socket (as the owner); its JSON answer. A
    400 is the server's verdict on what was asked: a ConfigError with its one line."""
    sock = paths.control_socket(port)
    if not sock.exists():
        raise NotRunning(
            f"no camcast server is running on port {port} for this user (no {sock}; a server that could "
            "not make its control socket says so in its log, and its settings page has the shutter)"
        )
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(sock))) as session,
            session.request(
                method, f"http://camcast{path}", json=body, timeout=aiohttp.ClientTimeout(total=10)
            ) as resp,
        ):
            if resp.status in (400, 404):  # what was asked, or the camera named, is not there
                raise ConfigError((await resp.text()).strip())
            if resp.status != 200:
                raise CamcastError(f"the server refused: {resp.status} {(await resp.text()).strip()}")
            result: dict[str, Any] = await resp.json()
            return result
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise CamcastError(f"cannot reach the camcast server on port {port}: {exc}") from exc


def shutter(config: Config, action: str, camera: str | None) -> None:
    """Pause or resume ``camera``, or every camera, on the running server."""
    path = config.server.base_path + path_for(action, camera)
    status = asyncio.run(ask_server(config.server.listen[1], "POST", path))
    for cam in status["cameras"]:
        moved = cam["name"] in status.get("changed", ())
        if cam["paused"]:
            print(
                f"camcast: {cam['name']} paused: the camera is closed and every output shows the paused card"
                if moved
                else f"camcast: {cam['name']} was paused already (since {shown(cam['paused_since'], '?')})"
            )
        else:
            state = cam["state"]  # live, or offline: the camera opens again when it can
            print(
                f"camcast: {cam['name']} {state} again ({cam['viewers']} watching)"
                if moved
                else f"camcast: {cam['name']} was not paused ({state}, {cam['viewers']} watching)"
            )


def viewers(config: Config, history: int) -> None:
    try:
        path = config.server.base_path + path_for("viewers")
        now = asyncio.run(ask_server(config.server.listen[1], "GET", path))["watching"]
    except CamcastError as exc:
        print(f"(not running: {exc})")
        now = []
    print(f"watching now: {len(now)}")
    for s in now:
        print(f"  {shown(s['start'], '?')}  {_who(s)}")
    past = read_history(paths.viewer_log(), history)
    print(f"watched before (last {len(past)}):")
    for s in past:
        print(f"  {shown(s['start'], '?')} – {shown(s['end'], '?')}  {_who(s)}")


def _who(s: dict[str, Any]) -> str:
    camera = f"{s.get('camera') or '-':<10} "
    listens = ", listening" if s.get("sound") else ""
    frames = f"({s['frames']} frames{listens})"
    return f"{s['who']:<16} {s['via']:<9} {s['address']:<15} {camera}{s['route']} {frames}"


def controls(config: Config, action: str, assignments: Sequence[str]) -> None:
    """List (``action`` list) a V4L2 camera's controls, or set (``set``) ``assignments``
    (``name=value``): on the running server when there is one (it keeps them and sets them again
    whenever the camera is opened anew), else directly on the device. The camera is the config's first
    (``--camera`` chooses)."""
    if action == "list" and assignments:
        raise ConfigError("to change controls: camcast controls set NAME=VALUE ...")
    if action == "set" and not assignments:
        raise ConfigError("name the controls to set: camcast controls set NAME=VALUE ...")
    values = _assignments(assignments)
    settings = config.cameras[0]
    path = config.server.base_path + path_for("controls_set" if values else "controls", settings.id)
    try:
        doc = asyncio.run(
            ask_server(config.server.listen[1], "POST" if values else "GET", path, values or None)
        )
        found = [Control(**{**c, "menu": {int(k): v for k, v in c["menu"].items()}}) for c in doc["controls"]]
        device, where = doc["device"], "the running server's camera"
    except NotRunning:
        device = _device_of(settings)
        found = set_controls(device, values) if values else list_controls(device)
        where = "the device (no server running: [controls] in the config file sets them at every start)"
    if values:
        print(f"camcast: set {', '.join(values)} on {device}, {where}")
    for control in found:
        print(f"  {control.describe()}")


def _assignments(items: Sequence[str]) -> dict[str, str]:
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"{item!r} is not NAME=VALUE, e.g. brightness=200")
        values[name.strip()] = value.strip()
    return values


def _device_of(settings: CameraSettings) -> str:
    """The V4L2 device a camera's source names (``auto``: the first camera found)."""
    from camcast.sources.v4l2 import camera_paths

    if settings.source == "auto":
        found = camera_paths()
        if not found:
            raise SourceError("no camera found: controls are a V4L2 camera's")
        return found[0]
    device = device_path(settings.source)
    if device is None:
        raise ConfigError(f"{settings.source} has no controls: they are a V4L2 camera's")
    return device


def list_sources(root: str, proc: str = "/proc", sys: str = "/sys") -> int:
    """Each camera with the modes camcast captures (other pixel formats summed up in one line), and
    each device that did not answer, with why; then each microphone, and whose it is."""
    from camcast.sources.alsa import camera_microphone, find_microphones
    from camcast.sources.v4l2 import PIXEL_FORMATS, probe_cameras

    found = probe_cameras(root)
    if not found:
        print(f"no cameras found under {root}; the test pattern is always available: --source pattern")
    microphones = find_microphones(proc, sys)
    owners = {}
    for path, camera in found:
        own = camera_microphone(path, microphones, sys) if not isinstance(camera, CamcastError) else None
        if own is not None:
            owners[own.device] = path
    for path, camera in found:
        if isinstance(camera, CamcastError):
            print(f"{path}  (not usable: {camera})")
            continue
        print(f"{camera.path}  {camera.name}")
        for mode in camera.modes:
            if mode.fourcc in PIXEL_FORMATS:
                print(f"    {mode}")
        others = sorted({m.fourcc for m in camera.modes if m.fourcc not in PIXEL_FORMATS})
        if others:
            print(f"    (and {len(others)} pixel formats camcast does not read: {' '.join(others)})")
    if not microphones:
        print("no microphones found")
        return 0
    print("microphones (listed from the kernel's files; none was opened):")
    for mic in microphones:
        whose = f"the microphone of {owners[mic.device]}" if mic.device in owners else "of no camera"
        print(f"    {mic.device}  {mic.name}: {whose}")
    return 0
