"""Camera controls without a camera: names, the checks on values, the [controls] tables of the config
file, and the server's answer for a source that has none. tests/test_v4l2.py sets them on vivid."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from camcast.config import load
from camcast.errors import ConfigError
from camcast.sources.controls import Control, control_name
from tests.conftest import camcast_server, run_cli

BRIGHTNESS = Control("brightness", "int", 0, 255, 1, 128, 128, {})
ZOOM = Control("zoom_absolute", "int", 100, 500, 10, 100, 100, {})
POWER_LINE = Control("power_line_frequency", "menu", 0, 2, 1, 1, 1, {0: "Disabled", 1: "50 Hz", 2: "60 Hz"})
AUTO_WB = Control("white_balance_automatic", "bool", 0, 1, 1, 1, 1, {})


def test_names_are_v4l2_ctl_names() -> None:
    assert control_name("White Balance, Automatic") == "white_balance_automatic"
    assert control_name("Exposure Time, Absolute") == "exposure_time_absolute"
    assert control_name("Power Line Frequency") == "power_line_frequency"
    assert control_name("Integer 32 Bits") == "integer_32_bits"


def test_values_are_checked_against_the_control() -> None:
    """In range and on the step; booleans as on/off words; menus by number or item name."""
    assert BRIGHTNESS.coerce(200) == 200 and BRIGHTNESS.coerce("0") == 0
    assert ZOOM.coerce(150) == 150
    assert AUTO_WB.coerce("off") == 0 and AUTO_WB.coerce(True) == 1
    assert POWER_LINE.coerce("50 hz") == 1 and POWER_LINE.coerce(2) == 2


@pytest.mark.parametrize(
    ("control", "value", "message"),
    [
        (BRIGHTNESS, 999, "brightness takes 0 to 255, not 999"),
        (BRIGHTNESS, "bright", "brightness takes a whole number from 0 to 255, not 'bright'"),
        (BRIGHTNESS, True, "brightness takes a whole number"),
        (ZOOM, 155, "zoom_absolute takes 100 to 500 in steps of 10, not 155"),
        (AUTO_WB, 2, "white_balance_automatic is on or off"),
        (POWER_LINE, "70 Hz", "power_line_frequency takes 0=Disabled, 1=50 Hz, 2=60 Hz"),
        (POWER_LINE, 5, "power_line_frequency takes 0=Disabled"),
    ],
)
def test_bad_values_say_what_is_valid(control: Control, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        control.coerce(value)  # type: ignore[arg-type]


def test_describe_is_one_line() -> None:
    assert BRIGHTNESS.describe() == "brightness (int) 0..255, default 128: 128"
    assert ZOOM.describe() == "zoom_absolute (int) 100..500 step 10, default 100: 100"
    assert POWER_LINE.describe() == "power_line_frequency (menu) 0=Disabled, 1=50 Hz, 2=60 Hz, default 1: 1"


def test_controls_tables_in_the_config_file() -> None:
    """[controls] is every camera's; [cameras.NAME.controls] adds to it or overrides, in order."""
    config = load(
        {
            "controls": {"brightness": 120, "power_line_frequency": "50 Hz"},
            "cameras": {
                "door": {
                    "source": "/dev/video0",
                    "controls": {"brightness": 90, "white_balance_automatic": False},
                },
                "yard": {"source": "/dev/video2"},
            },
        },
        {},
    )
    door, yard = config.cameras
    assert door.controls == (
        ("brightness", 90),
        ("power_line_frequency", "50 Hz"),
        ("white_balance_automatic", False),
    )
    assert yard.controls == (("brightness", 120), ("power_line_frequency", "50 Hz"))
    door_table = '[cameras.door.controls]\nbrightness = 90\npower_line_frequency = "50 Hz"\n'
    assert door_table + "white_balance_automatic = false" in config.to_toml()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"controls": {"Brightness": 1}}, r"\[controls\] Brightness .* is not a control name"),
        ({"controls": {"brightness": 1.5}}, r"\[controls\] brightness .* must be a whole number"),
        ({"cameras": {"door": {"controls": {"gain": [1]}}}}, r"\[cameras.door.controls\] gain"),
        ({"control": {"gain": 1}}, r"unknown table \[control\]"),
    ],
)
def test_bad_controls_tables_are_errors_naming_them(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(table, {})


def test_controls_command_without_a_camera_is_one_line(tmp_path: Path) -> None:
    """A source with no controls, or a malformed assignment, is one line and exit 2."""
    config = tmp_path / "camcast.toml"
    config.write_text('source = "pattern"\n')
    listed = run_cli("controls", "--config", str(config))
    assert listed.returncode == 2 and listed.stderr.count("\n") == 1
    assert "pattern has no controls: they are a V4L2 camera's" in listed.stderr
    bad = run_cli("controls", "set", "brightness", "--config", str(config))
    assert bad.returncode == 2 and "'brightness' is not NAME=VALUE" in bad.stderr


async def test_the_server_says_a_pattern_has_no_controls() -> None:
    """GET and POST /api/controls for a source that is no V4L2 camera: 409 with the reason, for the
    owner (the local user here); the server goes on serving."""
    async with (
        camcast_server("--source", "pattern", "--size", "160x120") as server,
        aiohttp.ClientSession() as s,
    ):
        async with s.get(server.url + "/api/controls") as resp:
            assert resp.status == 409 and "has no controls" in await resp.text()
        async with s.post(server.url + "/api/controls", json={"brightness": 1}) as resp:
            assert resp.status == 409
        async with s.get(server.url + "/snapshot.jpg") as resp:
            assert resp.status == 200
