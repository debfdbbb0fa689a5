"""camcast as a person installs and runs it: a wheel built from the checkout, installed in a fresh virtual
environment, serves the pattern with its pages, scripts and font inside the package; `camcast service
install` writes a unit that `systemd-analyze verify` accepts and `systemd-analyze security` rates."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, run_cli

pytestmark = pytest.mark.timeout(300)

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"


def analyze(*args: str, runtime: Path | None = None) -> subprocess.CompletedProcess[str]:
    """systemd-analyze ARGS; ``runtime`` is the XDG_RUNTIME_DIR a --user verification needs."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)} if runtime else None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def test_service_unit_is_verified_and_confined(tmp_path: Path) -> None:
    """A system unit (run as an ordinary account) and a user unit both pass `systemd-analyze verify`;
    the system unit's exposure by `systemd-analyze security` is at most 2.0 ("OK"); uninstall removes
    it; a missing config file or a unit for root is a one-line error."""
    config = tmp_path / "camcast.toml"
    config.write_text('source = "pattern"\n')
    system, user = tmp_path / "system", tmp_path / "user"
    made = run_cli(
        "service", "install", "--config", str(config), "--unit-dir", str(system), "--run-as", "daemon"
    )
    assert made.returncode == 0, made.stderr
    unit = system / "camcast.service"
    text = unit.read_text()
    assert f"serve --config {config}" in text and "User=daemon" in text and "ProtectSystem=strict" in text
    verified = analyze("verify", str(unit))
    assert verified.returncode == 0 and "camcast.service" not in verified.stderr, verified.stderr
    rated = analyze("security", "--offline=true", str(unit))
    exposure = re.search(r"Overall exposure level for camcast\.service: ([\d.]+)", rated.stdout)
    assert exposure is not None and float(exposure[1]) <= 2.0, rated.stdout[-500:]

    made = run_cli("service", "install", "--user", "--config", str(config), "--unit-dir", str(user))
    assert made.returncode == 0, made.stderr
    assert "User=" not in (user / "camcast.service").read_text()
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    verified = analyze("verify", "--user", str(user / "camcast.service"), runtime=runtime)
    assert verified.returncode == 0 and "camcast.service" not in verified.stderr, verified.stderr

    gone = run_cli("service", "uninstall", "--unit-dir", str(system))
    assert gone.returncode == 0 and not unit.exists()
    assert "no camcast unit" in run_cli("service", "uninstall", "--unit-dir", str(system)).stdout

    missing = run_cli(
        "service", "install", "--config", str(tmp_path / "none.toml"), "--unit-dir", str(system)
    )
    assert missing.returncode == 2 and "no such config file" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    if os.getuid() == 0 and not os.environ.get("SUDO_USER"):
        as_root = run_cli("service", "install", "--config", str(config), "--unit-dir", str(system))
        assert as_root.returncode == 2 and "--run-as" in as_root.stderr


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


def test_wheel_in_a_fresh_virtual_environment_serves_the_pattern(tmp_path: Path) -> None:
    """`pip wheel` of the checkout holds the pages, hls.js and the font; installed (with the pinned
    dependencies) in a new virtual environment, `camcast --version` answers and `camcast serve` serves
    the pattern, its pages and scripts, and a captioned snapshot."""
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("camcast-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packaged = (
        "camcast/fonts/DejaVuSansMono-Bold.ttf", "camcast/pages/vendor/hls.light.min.js",
        "camcast/pages/viewer.js", "camcast/pages/timecode.js", "camcast/pages/live.html",
    )  # fmt: skip
    for inside in packaged:
        assert inside in names, inside

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    deps = subprocess.run(
        [*pip, "--require-hashes", "-r", str(ROOT / "requirements.lock")],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert deps.returncode == 0, deps.stderr
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, timeout=120)
    camcast = venv / "bin" / "camcast"
    version = subprocess.run(
        [str(camcast), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert re.fullmatch(r"camcast \d+\.\d+\.\d+\n", version.stdout)

    port = free_port()
    # A short home: its state folder holds the control socket, whose path must stay under 108 bytes.
    home = Path(tempfile.mkdtemp(prefix="cc-", dir="/tmp"))
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_STATE_HOME": str(home / "state")}  # fmt: skip
    server = subprocess.Popen(
        [str(camcast), "serve", "--source", "pattern", "--size", "320x240", "--fps", "10",
         "--text", "%H:%M:%S", "--listen", f"127.0.0.1:{port}", "--quiet"],
        env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(base + "/healthz")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    output = server.communicate(timeout=10)[1]
                    raise AssertionError(f"camcast did not start: {output}") from None
                time.sleep(0.2)
        status, picture = get(base + "/snapshot.jpg")
        assert status == 200 and picture[:2] == b"\xff\xd8"
        for path in ("/view/live", "/view/stream", "/static/viewer.js", "/static/hls.light.min.js"):
            assert get(base + path)[0] == 200, path
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=20)
        shutil.rmtree(home, ignore_errors=True)
    assert "Traceback" not in errors
