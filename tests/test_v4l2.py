"""camcast and real V4L2 devices: the kernel's virtual camera (vivid, YUYV with controls and a
disconnect button) and v4l2loopback fed MJPEG by ffmpeg (a USB webcam's format), in a QEMU virtual
machine booted by virtme-ng over this machine's own files.

The machine boots once for this module and runs every check of tests/vm/guest.py in one go (the
emulated CPU is slow: a Python program takes seconds to start in it); each test here reads one
check's result. Also here, without the machine: the linuxpy failure the listing works around.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest

from camcast.encode.jpeg import clean_camera_jpeg
from camcast.errors import SourceError
from camcast.sources import v4l2

pytestmark = pytest.mark.timeout(900)
GUEST = Path(__file__).parent / "vm" / "guest.py"
#: Seconds the whole guest script may take: boot (~20 s), then about 20 checks at emulated speed.
VM_TIMEOUT = 720


def kernel() -> Path:
    """The newest Debian kernel image installed (scripts/test installs linux-image-amd64)."""
    images = sorted(Path("/boot").glob("vmlinuz-*"))
    assert images, "no kernel in /boot: scripts/test installs linux-image-amd64"
    return images[-1]


def loopback_frames(folder: Path) -> None:
    """30 JPEGs of ffmpeg's test picture as a motion-JPEG file for the loopback camera's writer, each
    already as camcast passes a camera's JPEG on, and their SHA-256s to compare what is served with."""
    raw = folder / "raw.mjpeg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15",
         "-frames:v", "30", "-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg", str(raw)],
        check=True, timeout=60,
    )  # fmt: skip
    with av.open(str(raw)) as container:
        frames = [clean_camera_jpeg(bytes(p)) for p in container.demux(video=0) if p.size]
    (folder / "frames.mjpeg").write_bytes(b"".join(frames))
    (folder / "frames.json").write_text(json.dumps([hashlib.sha256(f).hexdigest() for f in frames]))


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The guest script's results, by check."""
    vng = shutil.which("vng", path=str(Path(sys.executable).parent))
    assert vng is not None, "virtme-ng's vng is not in the venv: scripts/test installs it"
    assert shutil.which("qemu-system-x86_64"), "qemu-system-x86 is missing: scripts/test installs it"
    folder = tmp_path_factory.mktemp("vm")
    loopback_frames(folder)
    run = subprocess.run(
        [vng, "--run", str(kernel()), "--memory", "2G", "--cpus", "2",
         # this machine's nested KVM refuses QEMU's MSR writes: emulate
         "--disable-kvm", "--rwdir", str(folder), "--exec", f"{sys.executable} {GUEST} {folder}"],
        capture_output=True, text=True, timeout=VM_TIMEOUT, check=False,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(folder)},
    )  # fmt: skip
    results_file = folder / "results.json"
    assert results_file.exists(), (
        f"the guest wrote no results; vng exit {run.returncode}: {run.stderr[-3000:]}"
    )
    results: dict[str, dict[str, Any]] = json.loads(results_file.read_text())
    print(json.dumps(results, indent=1)[:20000])  # shown when a test fails
    assert "guest_done" in results, f"the guest did not finish: {run.stderr[-3000:]}"
    return results


def seen(vm: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    """What check ``name`` saw; it must have passed."""
    result = vm.get(name)
    assert result is not None, f"check {name} did not run"
    assert result["ok"], f"{name}: {result.get('error')}\n{result.get('trace', '')}"
    return {key: value for key, value in result.items() if key != "elapsed"}  # how long it took, for people


# --- without the machine --------------------------------------------------------------------------------
def test_linuxpy_fails_on_an_overlay_buffer_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug worked around: linuxpy 0.25's format walk leaves ``pixel_format`` unbound for a buffer
    type other than capture, output and meta (vivid's capture node also offers video-overlay). If this
    starts passing, linuxpy fixed it and describe_camera may go back to ``info.frame_types``."""
    from linuxpy.video import device, raw

    desc = raw.v4l2_fmtdesc()
    desc.pixelformat = int(device.PixelFormat.YUYV)
    monkeypatch.setattr(device, "iter_read", lambda fd, ioc, value: iter([desc]))
    with pytest.raises(UnboundLocalError):
        list(device.iter_read_formats(None, device.BufferType.VIDEO_OVERLAY))


def test_whatever_a_device_raises_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure of the library while probing is a SourceError naming the device, never an internal
    error."""
    from linuxpy.video import device

    class Broken:
        def __init__(self, path: str) -> None:
            raise UnboundLocalError("cannot access local variable 'pixel_format'")

    monkeypatch.setattr(device, "Device", Broken)
    with pytest.raises(SourceError, match=r"^cannot read the modes of /dev/video7: UnboundLocalError"):
        v4l2.describe_camera("/dev/video7")


def test_fourcc_codes_that_are_not_text_are_shown_in_hex() -> None:
    assert v4l2._fourcc(int.from_bytes(b"YUYV", "little")) == "YUYV"
    assert v4l2._fourcc(int.from_bytes(b"AR1\x8f", "little")) == "0x8f315241"


# --- ALSA: the kernel's loopback sound card -----------------------------------------------------------------
def test_sources_lists_the_loopback_cards_microphones(vm: dict[str, dict[str, Any]]) -> None:
    """`camcast sources` lists snd-aloop's capture devices by their lasting ALSA names, as no camera's
    (a real kernel's /proc/asound and /sys; the unit test in test_cli.py has a USB webcam's layout)."""
    out = seen(vm, "alsa_sources")["stdout"]
    assert "hw:CARD=Loopback,DEV=0  Loopback: of no camera" in out, out
    assert "hw:CARD=Loopback,DEV=1  Loopback: of no camera" in out, out


def test_no_microphone_is_opened_unless_audio_is_on(vm: dict[str, dict[str, Any]]) -> None:
    """With audio off (the default) the server holds no sound device open and says the microphone is
    off; audio = "auto" for a camera with no microphone of its own is refused in one line."""
    assert seen(vm, "alsa_off_by_default")["open"] == []
    assert "has no microphone of its own" in seen(vm, "alsa_auto_refused")["stderr"]


def test_the_microphone_is_captured_shown_and_closed_by_the_shutter(vm: dict[str, dict[str, Any]]) -> None:
    """audio = an ALSA device: a tone played into the loopback card is captured at its level (a sine of
    amplitude 1/8 is -21 dBFS RMS) and the status says the microphone is on; the shutter closes the
    device (not a mute: no sound file left open) until it opens again."""
    heard = seen(vm, "alsa_level")
    assert -24 <= heard["level"] <= -18, heard
    shut = seen(vm, "alsa_shutter")
    assert shut["closed"] == "closed" and any(f.endswith("D1c") for f in shut["open_again"]), shut


def test_the_microphones_sound_is_carried_and_outlives_an_unplug(vm: dict[str, dict[str, Any]]) -> None:
    """The tone the loopback card captures comes out of the server's HLS as AAC at its level (about
    -21 dB mean); the card taken away while captured (its driver unbound) makes the microphone
    unavailable, listed as failing, while the pictures stay live; bound again, it is captured again."""
    log = vm.get("alsa_server_log", {}).get("log", "")
    assert (vm.get("alsa_carried") or {}).get("ok"), f"{vm.get('alsa_carried')}\nthe server's log:\n{log}"
    assert -25 <= seen(vm, "alsa_carried")["mean_volume"] <= -17, seen(vm, "alsa_carried")
    assert seen(vm, "alsa_server_log")["exit"] == 0
    unplug = seen(vm, "alsa_unplugged")
    assert unplug["live"] == "live" and unplug["failing"], unplug


def test_the_owner_talks_back_over_webrtc_to_the_card(vm: dict[str, dict[str, Any]]) -> None:
    """Push-to-talk as the owner's page does it: a WebRTC client (aiortc) sends a tone (a sine of
    amplitude 1/8: -21 dBFS) to /api/talk; the server plays it on the loopback card's playback side
    (audio_out) and arecord records it on the capture side at its level; the status says "talking"
    meanwhile, and the device is closed once the talk ends."""
    heard = seen(vm, "alsa_talk_back")
    assert -24 <= heard["level"] <= -18, heard
    assert heard["talking"] and heard["opened"] and heard["closed"] == "closed", heard


# --- vivid: a YUYV camera ----------------------------------------------------------------------------------
def test_sources_lists_vivid_with_its_modes(vm: dict[str, dict[str, Any]]) -> None:
    """`camcast sources` lists vivid (whose capture node also offers overlay) with the YUYV sizes."""
    out = seen(vm, "vivid_sources")["stdout"]
    assert "vivid" in out and "YUYV 640x360 @ " in out and "YUYV 1280x720 @ " in out
    assert "pixel formats camcast does not read" in out  # vivid's dozens of others, in one line


def test_snapshot_command_captures_from_the_camera(vm: dict[str, dict[str, Any]]) -> None:
    assert seen(vm, "vivid_snapshot_cli")["size"] == [640, 360]


def test_serve_finds_the_camera_and_serves_every_output(vm: dict[str, dict[str, Any]]) -> None:
    """`camcast serve` without --source captures from vivid; snapshot, MJPEG, HLS and WebRTC carry
    its 640x360 picture."""
    found = seen(vm, "vivid_serve_found")
    assert found["source"].startswith("camera /dev/video") and found["state"] == "live"
    assert seen(vm, "vivid_snapshot")["size"] == [640, 360]
    assert seen(vm, "vivid_mjpeg")["sizes"] == [[640, 360]]
    assert seen(vm, "vivid_hls")["streams"] == [{"codec_name": "h264", "width": 640, "height": 360}]
    assert seen(vm, "vivid_webrtc")["sizes"] == [[640, 360]]
    assert seen(vm, "vivid_server_log")["exit"] == 0


def test_settings_page_sets_a_control_on_the_device_and_in_the_file(vm: dict[str, dict[str, Any]]) -> None:
    """The settings page shows vivid's brightness as the device has it; saving 70 sets the device
    and the [controls] table at once, and 50 sets both back."""
    assert seen(vm, "vivid_settings_controls") == {
        "ok": True, "shown": True, "device_70": 70, "file_70": True, "device_50": 50, "file_50": True,
    }  # fmt: skip


def test_settings_page_offers_the_camera_its_sizes_and_rates(vm: dict[str, dict[str, Any]]) -> None:
    """The settings page offers what `camcast sources` finds: vivid's device, a size and a rate of it."""
    assert seen(vm, "vivid_settings_offers") == {"ok": True, "source": True, "size": True, "fps": True}


# --- controls ----------------------------------------------------------------------------------------------
def test_config_controls_apply_when_the_camera_opens(vm: dict[str, dict[str, Any]]) -> None:
    """[controls] brightness = 100 in the config: v4l2-ctl reads 100 from the device."""
    assert seen(vm, "vivid_controls_config")["brightness"] == 100


def test_controls_lists_ranges_defaults_and_values(vm: dict[str, dict[str, Any]]) -> None:
    out = seen(vm, "vivid_controls_list")["stdout"]
    assert "brightness (int) 0..255, default 128: 100" in out
    assert "horizontal_flip (bool) on/off, default 0: 0" in out
    assert "test_pattern (menu) 0=75% Colorbar" in out
    assert "read_only_integer_32_bits" in out and "(read-only)" in out
    assert "string" not in out.split()  # a payload control camcast does not set


def test_controls_set_changes_the_running_camera(vm: dict[str, dict[str, Any]]) -> None:
    """`camcast controls set brightness=200 contrast=90` on the running server: v4l2-ctl reads both."""
    assert seen(vm, "vivid_controls_set") == {"ok": True, "brightness": 200, "contrast": 90}


def test_bad_controls_are_one_line_saying_what_is_valid(vm: dict[str, dict[str, Any]]) -> None:
    bad = seen(vm, "vivid_controls_bad")
    assert bad["range"]["code"] == 2 and bad["unknown"]["code"] == 2
    assert bad["range"]["stderr"].strip().count("\n") == 0
    assert "brightness takes 0 to 255, not 999" in bad["range"]["stderr"]
    assert "has no control 'nosuch'" in bad["unknown"]["stderr"] and "brightness" in bad["unknown"]["stderr"]
    assert bad["brightness"] == 200  # nothing was set


def test_reload_applies_changed_controls(vm: dict[str, dict[str, Any]]) -> None:
    """SIGHUP with [controls] brightness = 50: the device reads 50, the stream never dropped."""
    assert seen(vm, "vivid_reload")["brightness"] == 50


def test_controls_are_set_again_when_the_shutter_opens(vm: dict[str, dict[str, Any]]) -> None:
    """Paused (the device closed), brightness changed behind camcast's back; resumed: set back to 50."""
    assert seen(vm, "vivid_shutter")["brightness"] == 50


# --- unplugged and plugged in again -----------------------------------------------------------------------
def test_unplugged_camera_shows_offline_and_comes_back_with_its_controls(
    vm: dict[str, dict[str, Any]],
) -> None:
    """vivid's disconnect button: the offline card and one warning; the module reloaded: capture
    resumes on its own, and the kept controls (brightness from the config, contrast set by hand) are
    set again on the new device."""
    unplug = seen(vm, "vivid_unplug")
    assert unplug["offline_card"] == [640, 360]
    assert len(unplug["lost_lines"]) == 1, unplug["lost_lines"]
    assert len(unplug["back_lines"]) == 1, unplug["back_lines"]
    assert unplug["brightness"] == 50 and unplug["contrast"] == 90
    assert unplug["snapshot"] == [640, 360]


def test_a_camera_plugged_in_after_the_start_joins_with_its_controls(vm: dict[str, dict[str, Any]]) -> None:
    """A config naming /dev/video0 before any camera is there: the camera starts offline with one
    warning naming its table; once vivid loads, it goes live and its [controls] are set."""
    late = seen(vm, "late_camera")
    assert late["before"] == "offline"
    assert len(late["warnings"]) == 1 and "it starts offline" in late["warnings"][0]
    assert late["brightness"] == 77 and late["size"] == [640, 360]


def test_a_reload_a_second_camera_refuses_puts_the_first_cameras_controls_back(
    vm: dict[str, dict[str, Any]],
) -> None:
    """A reload sets the first camera's new brightness on the device, then the second camera refuses
    its own (999 is out of range): the first camera's brightness is put back (77, one log line), its
    new name is not applied, and the status says why the reload was refused."""
    refused = seen(vm, "late_reload_refused")
    assert refused["door"] == 77, refused
    assert len(refused["put_back"]) == 1 and "door" in refused["put_back"][0], refused
    assert refused["titles"] == ["door", "yard"]
    assert "999" in refused["refused"]["why"], refused


# --- v4l2loopback: an MJPEG camera --------------------------------------------------------------------------
def test_mjpeg_camera_is_passed_through_untouched(vm: dict[str, dict[str, Any]]) -> None:
    """From the loopback MJPEG camera every picture served is a JPEG that was written, byte for byte,
    and nothing was encoded."""
    seen(vm, "loopback_module")
    assert "MJPG 640x360" in seen(vm, "loopback_sources")["stdout"]
    passed = seen(vm, "loopback_passthrough")
    assert passed["not_written"] == 0 and passed["pictures"] == 21
    assert passed["frames_encoded"] == 0
    assert passed["size"] == [640, 360]
    assert seen(vm, "loopback_server_log")["exit"] == 0


def test_a_mask_reloaded_covers_the_passed_through_mjpeg_camera(vm: dict[str, dict[str, Any]]) -> None:
    """A mask over the left half written into the config of the server passing the loopback camera's
    MJPEG through, and reloaded: every picture after is masked (decoded, masked, encoded: none is the
    camera's own any more)."""
    masked = seen(vm, "loopback_mask")
    assert masked["all_masked"] and masked["written"] == 0 and masked["encoding"], masked
