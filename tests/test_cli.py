"""The command line: one-line errors with exit codes, config file merging, snapshot and sources."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from camcast.encode import jpeg
from camcast.picture.jpeg import decode_rgb
from tests.conftest import camcast_cmd, free_port, run_cli


def assert_one_line_error(result: object, code: int, *fragments: str) -> None:
    assert result.returncode == code, result  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("camcast: "), err
    for fragment in fragments:
        assert fragment in lines[0], err


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--fps", "abc"], ["--fps", "0.1 to 120"]),
        (["--fps", "0"], ["--fps"]),
        (["--size", "1280"], ["--size", "WIDTHxHEIGHT"]),
        (["--size", "641x480"], ["--size", "even"]),
        (["--quality", "101"], ["--quality", "1 to 100"]),
        (["--listen", "nowhere"], ["--listen", "HOST:PORT"]),
        (["--listen", "127.0.0.1:70000"], ["--listen"]),
        (["--source", "/dev/video9"], ["no camera at /dev/video9", "no cameras found"]),
        (["--source", "/nonexistent/clip.mp4"], ["no such video file", "--source pattern"]),
        (["--source", "gopher://x"], ["unsupported source", "rtsp://"]),
        (["--fingerprint", "zz"], ["--fingerprint", "SHA-256"]),
        (["--renditions", "640x360@fast"], ["--renditions", "bits per second"]),
        (["--renditions", "phone"], ["--renditions", "WIDTHxHEIGHT@BITS"]),
        (["--renditions", "641x360"], ["--renditions", "even"]),
        (["--video-crf", "5"], ["--video-crf", "10 to 40, or off"]),
    ],
)
def test_bad_flag_values_are_one_line_errors(args: list[str], fragments: list[str]) -> None:
    """A bad flag value names the flag and what it allows, in one line, exit 2, no traceback."""
    assert_one_line_error(run_cli("serve", *args), 2, *fragments)


def test_port_in_use_names_a_free_alternative() -> None:
    """A taken port is one line naming a free port to pass instead."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--source", "pattern", "--listen", f"127.0.0.1:{port}")
    assert_one_line_error(result, 2, f"port {port} is in use", "--listen 127.0.0.1:")


def test_unavailable_address_is_a_one_line_error() -> None:
    """An address this machine does not have is refused with one line."""
    result = run_cli("serve", "--source", "pattern", "--public", "--listen", f"192.0.2.1:{free_port()}")
    assert_one_line_error(result, 2, "no such address")


def test_config_file_values_and_flag_override(tmp_path: Path) -> None:
    """The config file sets values, flags override them, and `camcast config` prints the result."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('source = "pattern"\nfps = 12\nquality = 60\nlisten = "127.0.0.1:9000"\n')
    result = run_cli("config", "--config", str(cfg), "--quality", "70")
    assert result.returncode == 0, result.stderr
    assert 'source = "pattern"' in result.stdout
    assert "\nfps = 12\n" in result.stdout
    assert "quality = 70" in result.stdout
    assert 'listen = "127.0.0.1:9000"' in result.stdout


def test_config_printed_is_readable_back(tmp_path: Path) -> None:
    """What `camcast config` prints is itself a valid config file giving the same result."""
    first = run_cli("config", "--size", "640x480", "--listen", "[::1]:8081", "--renditions", "640x480",
                    "--renditions", "320x240@150k", "--renditions", "160x120@1.5M")  # fmt: skip
    assert 'renditions = ["640x480", "320x240@150k", "160x120@1.5M"]' in first.stdout
    cfg = tmp_path / "round.toml"
    cfg.write_text(first.stdout)
    second = run_cli("config", "--config", str(cfg))
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_default_config_file_is_read(isolated_home: Path) -> None:
    """Without --config, $XDG_CONFIG_HOME/camcast/camcast.toml is used."""
    folder = isolated_home / "config" / "camcast"
    folder.mkdir(parents=True)
    (folder / "camcast.toml").write_text("quality = 42\n")
    assert "quality = 42" in run_cli("config").stdout


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("qualty = 5\n", ["unknown key 'qualty'", "quality"]),
        ("fps = [\n", ["not valid TOML"]),
        ('size = "big"\n', ["size (in ", "WIDTHxHEIGHT"]),
    ],
)
def test_bad_config_file(tmp_path: Path, content: str, fragments: list[str]) -> None:
    """A config file error names the key and the file."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text(content)
    assert_one_line_error(run_cli("config", "--config", str(cfg)), 2, *fragments)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    """A --config file that does not exist is an error (a missing default file is not)."""
    assert_one_line_error(run_cli("config", "--config", str(tmp_path / "nope.toml")), 2, "does not exist")
    assert run_cli("config").returncode == 0


def test_snapshot_writes_a_complete_jpeg(tmp_path: Path) -> None:
    """`camcast snapshot` writes one decodable JPEG of the asked size, and no temporary file."""
    out = tmp_path / "out.jpg"
    result = run_cli("snapshot", "--source", "pattern", "--size", "320x240", str(out))
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert jpeg.is_complete(data)
    assert decode_rgb(data).shape == (240, 320, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]


def test_snapshot_into_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    """Writing into a folder that does not exist is a one-line error."""
    result = run_cli("snapshot", "--source", "pattern", str(tmp_path / "no" / "out.jpg"))
    assert_one_line_error(result, 1, "cannot write")


def test_snapshot_of_a_video_file(video_file: Path, tmp_path: Path) -> None:
    """A video file is a source like any other."""
    out = tmp_path / "v.jpg"
    result = run_cli("snapshot", "--source", str(video_file), str(out))
    assert result.returncode == 0, result.stderr
    assert decode_rgb(out.read_bytes()).shape == (240, 320, 3)


def test_sources_without_cameras(tmp_path: Path) -> None:
    """`camcast sources` says when there is no camera and points to the pattern."""
    result = run_cli("sources", "--dev", str(tmp_path))
    assert result.returncode == 0
    assert "no cameras found" in result.stdout
    assert "--source pattern" in result.stdout


def test_sources_lists_microphones_and_whose_they_are(tmp_path: Path) -> None:
    """`camcast sources` lists each sound card's capture devices by their lasting ALSA name, and says
    which camera's each is: the one on the same USB device (a kernel's files, laid out as a USB webcam
    with a microphone and a loopback card have them)."""
    proc, sys_ = tmp_path / "proc" / "asound", tmp_path / "sys"
    usb = sys_ / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1" / "1-1"
    cards = {
        0: ("Loopback", "Loopback - Loopback", None, (0, 1)),
        1: ("C920", "USB-Audio - HD Pro Webcam C920", "1-1:1.2", (0,)),
    }
    listing = ""
    for number, (ident, long_name, interface, pcms) in cards.items():
        card = proc / f"card{number}"
        card.mkdir(parents=True)
        (card / "id").write_text(ident + "\n")
        for pcm in pcms:
            (card / f"pcm{pcm}c").mkdir()
            (card / f"pcm{pcm}p").mkdir()  # playback: not a microphone
        listing += f"{number:2d} [{ident:<15}]: {long_name}\n                      {long_name}\n"
        link = sys_ / "class" / "sound" / f"card{number}" / "device"
        link.parent.mkdir(parents=True)
        target = usb / interface if interface else sys_ / "devices" / "platform" / "snd_aloop.0"
        target.mkdir(parents=True)
        link.symlink_to(target)
    (proc / "cards").write_text(listing)
    video = sys_ / "class" / "video4linux" / "video0" / "device"
    video.parent.mkdir(parents=True)
    (usb / "1-1:1.0").mkdir()
    video.symlink_to(usb / "1-1:1.0")

    from camcast.sources.alsa import camera_microphone, find_microphones

    found = find_microphones(str(tmp_path / "proc"), str(sys_))
    assert [m.device for m in found] == [
        "hw:CARD=Loopback,DEV=0",
        "hw:CARD=Loopback,DEV=1",
        "hw:CARD=C920,DEV=0",
    ]
    assert found[2].name == "HD Pro Webcam C920"
    assert camera_microphone("/dev/video0", found, str(sys_)) == found[2]
    assert camera_microphone("/dev/video1", found, str(sys_)) is None
    result = run_cli("sources", "--dev", str(tmp_path), "--proc", str(tmp_path / "proc"), "--sys", str(sys_))
    assert result.returncode == 0, result.stderr
    assert "hw:CARD=Loopback,DEV=1  Loopback: of no camera" in result.stdout
    none = run_cli("sources", "--dev", str(tmp_path), "--proc", str(tmp_path / "nothing"))
    assert "no microphones found" in none.stdout


def test_every_command_has_help() -> None:
    """``--help`` works for every command and action (a '%' in a setting's help once made
    ``camcast serve --help`` a traceback)."""
    import argparse

    from camcast.cli import build_parser

    def walk(parser: argparse.ArgumentParser) -> int:
        assert parser.format_help()
        count = 1
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                count += sum(walk(p) for p in action.choices.values())
        return count

    assert walk(build_parser()) >= 10
    result = run_cli("serve", "--help")
    assert result.returncode == 0 and "(%Y-%m-%d %H:%M:%S)" in result.stdout, result.stderr


def test_status_line_is_live_on_a_terminal_and_log_lines_go_above_it() -> None:
    """On a terminal (a pty here) the status line is drawn by rich, coloured and redrawn in place,
    and log lines (a viewer starting) print above it; SIGTERM ends it cleanly."""
    port = free_port()
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        camcast_cmd("serve", "--listen", f"127.0.0.1:{port}", "--source", "pattern", "--size", "160x120"),
        stdin=slave, stdout=slave, stderr=slave, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 20
        fetched = False
        while time.monotonic() < deadline and (
            b"fps" not in seen or not fetched or b"started watching" not in seen
        ):
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen += os.read(master, 65536)
            if b"status.json" in seen and not fetched:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/snapshot.jpg", timeout=10).read()
                fetched = True
        assert b"pattern 160x120" in seen and b"fps" in seen, seen[-2000:]
        assert b"\x1b[" in seen  # drawn with terminal controls (colour, cursor)
        assert b"started watching" in seen  # a log line, printed above the live line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        with contextlib.suppress(OSError):
            while select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 65536)
        os.close(master)
    assert proc.returncode == 0 and b"Traceback" not in seen
