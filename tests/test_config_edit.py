"""Editing the config file as the settings page does: every setting's shown value reads back as itself,
the owner's comments and layout stay, edits land in the table a person would put them in, a refused
value changes nothing; and the share links' registry behind the page's list."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import pytest

from camcast.config import CAMERA_FIELDS, SERVER_FIELDS, Config
from camcast.config.edit import ConfigFile, Edit, FieldErrors, apply_edits, checked, form_value
from camcast.config.reloader import Reloader
from camcast.paths import config_dir
from camcast.security.links import ShareLinks
from camcast.security.tokens import ShareKeys, TokenError
from tests.conftest import run_cli

#: A value other than the default for settings whose default says little, as a person types it.
SAMPLES: dict[str, Any] = {
    "size": "640x480", "fps": "12.5", "crop": "10,20,300,200", "scale": "320x240", "rotate": "90",
    "mask": ["0,0,10%,10%", "0,0 50%,0 0,50%"], "text": "%Y-%m-%d {name}", "text_color": "#ff8000",
    "logo_width": "64", "motion_zones": ["0.1,0.2,0.5,0.6", "0.1,0.1 0.9,0.1 0.5,0.9"],
    "motion_ignore": ["0,0,1,0.1"], "motion_on_event": "http://127.0.0.1:9/hook?key=1",
    "motion_on_event_command": "notify-send 'camcast says' hello", "motion_mqtt": "mqtt://ha@127.0.0.1:1883",
    "record": "events", "record_max_size": "20G", "record_min_free": "512M", "publish_to": "ftp://u@127.0.0.1/cam/",
    "keep_days": "7", "stream_fps": "2", "push": ["rtsp://127.0.0.1:8554/cam"], "listen": "[::1]:8443",
    "rtsp": "127.0.0.1:8554", "trusted_proxy": ["10.0.0.0/8"], "ice_server": ["stun:127.0.0.1:3478"],
    "base_path": "/cam", "video_bitrate": "800k", "camera_name": "Porch",
}  # fmt: skip

ALL = [(None, key) for key in SERVER_FIELDS] + [("camera", key) for key in CAMERA_FIELDS]


def parsed(f: Any, typed: Any) -> Any:
    parse = f.metadata["parse"]
    return [parse(v) for v in typed] if isinstance(typed, list) else parse(typed)


def file_at(tmp_path: Path, text: str) -> ConfigFile:
    path = tmp_path / "camcast.toml"
    path.write_text(text)
    return ConfigFile(path, explicit=True)


@pytest.mark.parametrize(("camera", "key"), ALL, ids=[k for _, k in ALL])
def test_every_setting_shown_on_the_page_reads_back_as_itself(
    tmp_path: Path, camera: str | None, key: str
) -> None:
    """The form shows each value as text; saved back, the text loads as the same value (the default,
    and a typed sample)."""
    fields = SERVER_FIELDS if camera is None else CAMERA_FIELDS
    f = fields[key]
    file = file_at(tmp_path, "")
    empty = file.load()
    for typed in (form_value(f, f.default if not f.metadata["multiple"] else ()), SAMPLES.get(key)):
        if typed is None or typed == "" or typed == []:
            continue
        text = apply_edits("", empty, [Edit(camera, key, typed)])
        loaded = checked(file, text)
        value = getattr(loaded.server if camera is None else loaded.cameras[0], key)
        again = form_value(f, value)
        if f.metadata["secret"]:
            assert again is None  # a secret is never shown
        else:
            assert parsed(f, again) == parsed(f, typed), (typed, again, text)


def test_comments_order_and_blank_lines_stay(tmp_path: Path) -> None:
    original = (
        "# Olive's camera\n"
        'source = "pattern"   # until the real one comes\n'
        "quality = 80 # good enough\n"
        "\n"
        "# motion: only the path\n"
        "[motion]\n"
        "# the door\n"
        "enabled = false\n"
        "\n"
        "[record]\n"
        'mode = "off"\n'
    )
    file = file_at(tmp_path, original)
    edits = [
        Edit("camera", "quality", "70"),
        Edit("camera", "size", "640x480"),
        Edit("camera", "motion", True),
        Edit("camera", "motion_zones", ["0,0.5,1,1"]),
        Edit(None, "public", False),
    ]
    text = apply_edits(original, file.load(), edits)
    assert text == (
        "# Olive's camera\n"
        'source = "pattern"   # until the real one comes\n'
        "quality = 70 # good enough\n"
        'size = "640x480"\n'
        "public = false\n"
        "\n"
        "# motion: only the path\n"
        "[motion]\n"
        "# the door\n"
        "enabled = true\n"
        "zones = [[0, 0.5, 1, 1]]\n"
        "\n"
        "[record]\n"
        'mode = "off"\n'
    )
    # Emptied: the key goes, and its default (or what every camera inherits) applies again.
    assert "quality" not in apply_edits(text, checked(file, text), [Edit("camera", "quality", "")])
    # Emptying what the file never had makes no table for it.
    assert (
        apply_edits("", file.load(), [Edit("camera", "motion_ignore", []), Edit("camera", "mask", [])]) == ""
    )


def test_camera_tables_get_their_own_keys_and_tables(tmp_path: Path) -> None:
    original = "# two cameras\nquality = 70\n\n"
    original += '[cameras.front]\nsource = "pattern"\n\n[cameras.back]\nsource = "pattern"\n'
    file = file_at(tmp_path, original)
    text = apply_edits(
        original, file.load(), [Edit("back", "quality", "60"), Edit("back", "motion_sensitivity", "0.8")]
    )
    config = checked(file, text)
    assert [c.quality for c in config.cameras] == [70, 60]  # front still inherits the top level's
    assert config.cameras[1].motion_sensitivity == 0.8
    assert tomllib.loads(text)["cameras"]["back"]["motion"] == {"sensitivity": 0.8}
    assert text.startswith(
        '# two cameras\nquality = 70\n\n[cameras.front]\nsource = "pattern"\n\n[cameras.back]\n'
    )


def test_an_old_name_is_replaced_not_doubled(tmp_path: Path) -> None:
    original = 'to = "/srv/www/cam"\n'
    file = file_at(tmp_path, original)
    text = apply_edits(original, file.load(), [Edit("camera", "publish_to", "/srv/www/other")])
    assert tomllib.loads(text) == {"publish_to": "/srv/www/other"}


def test_refused_values_are_named_one_by_one(tmp_path: Path) -> None:
    file = file_at(tmp_path, "")
    with pytest.raises(FieldErrors) as caught:
        apply_edits("", file.load(), [
            Edit("camera", "quality", "500"), Edit("camera", "size", "wide"), Edit("camera", "qualty", "5"),
            Edit("nowhere", "quality", "5"), Edit(None, "listen", "localhost:99999"),
        ])  # fmt: skip
    assert caught.value.errors == {
        ("camera", "quality"): "must be a whole number from 1 to 100",
        ("camera", "size"): "must be WIDTHxHEIGHT in pixels, e.g. 1280x720, or auto",
        ("camera", "qualty"): "is not a setting",
        ("nowhere", "quality"): "no camera named 'nowhere'",
        ("", "listen"): "must be HOST:PORT, [IPV6]:PORT or PORT (1–65535), e.g. 127.0.0.1:8080",
    }


def test_a_file_that_does_not_load_whole_is_refused(tmp_path: Path) -> None:
    """Each value is fine, together they are not (two cameras on one device): refused as a whole."""
    original = '[cameras.a]\nsource = "/dev/video0"\n\n[cameras.b]\nsource = "pattern"\n'
    file = file_at(tmp_path, original)
    text = apply_edits(original, file.load(), [Edit("b", "source", "/dev/video0")])
    with pytest.raises(FieldErrors) as caught:
        checked(file, text)
    (message,) = caught.value.errors.values()
    assert "both use /dev/video0" in message


async def test_a_save_that_fails_leaves_the_file_byte_for_byte(tmp_path: Path) -> None:
    """A refused value leaves the file as it was and applies nothing; a restart-only setting saved is
    in the file and named as waiting, and what is applied keeps its running value."""
    original = '# mine\nquality = 80\ntext = "a"\n'
    file = file_at(tmp_path, original)
    applied: list[Config] = []

    async def apply(config: Config) -> list[str]:
        applied.append(config)
        return []

    reloader = Reloader(file, file.load(), apply)
    with pytest.raises(FieldErrors):
        await reloader.save([Edit("camera", "quality", "0"), Edit("camera", "fps", "5")])
    assert file.path.read_bytes() == original.encode() and applied == []
    saved = [Edit("camera", "quality", "60"), Edit("camera", "text", "b")]
    assert (await reloader.save(saved)).restart == ["camera: quality"]
    assert file.path.read_text() == '# mine\nquality = 60\ntext = "b"\n'
    running = applied[0].cameras[0]
    assert running.quality == 80 and running.text == "b" and reloader.config is applied[0]
    assert reloader.loaded.cameras[0].quality == 60 and reloader.waiting == ["camera: quality"]
    # Saves and reloads take turns: two at once both land, neither reads the other half-written.
    await asyncio.gather(reloader.save([Edit("camera", "fps", "5")]), reloader.reload())
    assert "fps = 5" in file.path.read_text()


def test_a_new_file_is_private(tmp_path: Path) -> None:
    file = ConfigFile(tmp_path / "new" / "camcast.toml")
    file.write(apply_edits(file.text(), file.load(), [Edit("camera", "upload_password", "hunter2hunter2")]))
    assert oct(file.path.stat().st_mode & 0o777) == "0o600"
    assert oct(file.path.parent.stat().st_mode & 0o777) == "0o700"


def test_share_links_are_listed_used_and_revoked_one_by_one(tmp_path: Path) -> None:
    links = ShareLinks(ShareKeys(tmp_path / "share.key"), tmp_path / "links.json")
    first, token = links.issue("neighbour", 3600, "snapshot")
    second, other = links.issue("family", 60, "watch", ("front",))
    assert [link.name for link in links.list()] == ["family", "neighbour"]
    assert links.verify(token).name == "neighbour"
    assert links.list()[1].last_used is not None and links.list()[0].last_used is None
    assert token not in (tmp_path / "links.json").read_text()  # only ids, never a token
    links.revoke(first.id)
    with pytest.raises(TokenError, match="revoked"):
        links.verify(token)
    assert links.verify(other).cameras == ("front",)  # the other link still works
    # Another process (camcast share) sees the same list.
    again = ShareLinks(ShareKeys(tmp_path / "share.key"), tmp_path / "links.json")
    assert {link.id: link.revoked for link in again.list()} == {first.id: True, second.id: False}
    # A damaged list refuses links (revocations are unknown) with a reason, not a crash.
    (tmp_path / "links.json").write_text("{not json")
    with pytest.raises(TokenError, match="damaged"):
        again.verify(other)
    again.revoke_all()
    with pytest.raises(TokenError):
        links.verify(other)
    assert links.list() == []


def test_share_command_lists_and_revokes(tmp_path: Path) -> None:
    made = run_cli("share", "--name", "postman", "--expires", "1h")
    assert made.returncode == 0, made.stderr
    link_id = made.stdout.split("share link ", 1)[1].split()[0]
    listed = run_cli("share", "--list")
    assert link_id in listed.stdout and "postman" in listed.stdout and "last used never" in listed.stdout
    revoked = run_cli("share", "--revoke", link_id)
    assert revoked.returncode == 0 and "now invalid" in revoked.stdout
    token = made.stdout.split("token=", 1)[1].split()[0]
    with pytest.raises(TokenError, match="revoked"):
        ShareLinks(ShareKeys(config_dir() / "share.key"), config_dir() / "links.json").verify(token)
    unknown = run_cli("share", "--revoke", "nosuchid")
    assert unknown.returncode == 2 and "no share link with id 'nosuchid'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_camera_controls_go_to_the_controls_table(tmp_path: Path) -> None:
    """``controls.NAME`` edits a V4L2 control in the camera's [controls] table (numbers as numbers)."""
    original = (
        '[cameras.desk]\nsource = "/dev/video0"\n\n[cameras.desk.controls]\nbrightness = 100  # dim room\n'
    )
    file = file_at(tmp_path, original)
    edits = [
        Edit("desk", "controls.brightness", "120"),
        Edit("desk", "controls.white_balance_automatic", False),
        Edit("desk", "controls.power_line_frequency", "50 Hz"),
    ]
    text = apply_edits(original, file.load(), edits)
    assert "brightness = 120  # dim room\n" in text
    config = checked(file, text)
    assert dict(config.cameras[0].controls) == {
        "brightness": 120, "white_balance_automatic": False, "power_line_frequency": "50 Hz",
    }  # fmt: skip
    with pytest.raises(FieldErrors) as caught:
        apply_edits(original, file.load(), [Edit("desk", "controls.Bright Ness", "1")])
    assert "control name" in caught.value.errors[("desk", "controls.Bright Ness")]


async def test_a_save_that_adds_a_password_makes_the_file_private_and_keeps_a_link(tmp_path: Path) -> None:
    """The owner's config is a 0644 file behind a symbolic link: a save that adds a password writes
    the link's target (the link stays a link) as 0600, and says so; a save without one keeps 0644."""
    target = tmp_path / "dotfiles" / "camcast.toml"
    target.parent.mkdir()
    target.write_text("# mine\nquality = 80\n")
    target.chmod(0o644)
    link = tmp_path / "camcast.toml"
    link.symlink_to(target)
    file = ConfigFile(link, explicit=True)

    async def apply(config: Config) -> list[str]:
        return []

    reloader = Reloader(file, file.load(), apply)
    plain = await reloader.save([Edit("camera", "text", "porch")])
    assert not plain.private and oct(target.stat().st_mode & 0o777) == "0o644" and link.is_symlink()
    secret = await reloader.save([Edit("camera", "upload_password", "hunter2hunter2")])
    assert secret.private and oct(target.stat().st_mode & 0o777) == "0o600"
    assert link.is_symlink() and 'upload_password = "hunter2hunter2"' in target.read_text()
    assert target.read_text().startswith("# mine\n")
