"""What a new user trips on: mistyped names answered with the closest one, the shutter's answers, who
may watch said where it bites, and a camera of the config file that is not there at start-up."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import aiohttp

from camcast.paths import config_dir
from camcast.security.accounts import Accounts
from tests.conftest import camcast_server, free_port, run_cli
from tests.waiting import until

DOOR = '[cameras.door]\nsource = "pattern"\nsize = "160x120"\n'
TWO = DOOR + '\n[cameras.garden]\nsource = "pattern"\nsize = "160x120"\n'


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_a_mistyped_flag_gets_the_commands_usage_and_the_closest_flag() -> None:
    result = run_cli("serve", "--qualty", "5")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: camcast serve ")
    assert (
        last_line(result.stderr)
        == "camcast serve: error: unrecognized argument --qualty; did you mean --quality?"
    )


def test_a_mistyped_config_key_gets_the_closest_key(tmp_path: Path) -> None:
    config = tmp_path / "camcast.toml"
    config.write_text("qualty = 70\n")
    result = run_cli("config", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr == f"camcast: unknown key 'qualty' in {config}; did you mean 'quality'?\n"
    config.write_text("[cameras.door]\nsorce = 'pattern'\n")
    result = run_cli("config", "--config", str(config))
    assert (
        result.stderr
        == f"camcast: unknown key 'sorce' in [cameras.door] in {config}; did you mean 'source'?\n"
    )


def test_a_mistyped_camera_gets_the_closest_camera(tmp_path: Path) -> None:
    config = tmp_path / "camcast.toml"
    config.write_text(TWO)
    result = run_cli("snapshot", "--config", str(config), "--camera", "dor", str(tmp_path / "x.jpg"))
    assert result.returncode == 2
    assert result.stderr == f"camcast: no camera named 'dor' in {config}; did you mean 'door'?\n"


def test_config_says_a_video_file_keeps_its_own_rate(tmp_path: Path, video_file: Path) -> None:
    config = tmp_path / "camcast.toml"
    config.write_text(f'source = "{video_file}"\nfps = 15\n')
    shown = run_cli("config", "--config", str(config)).stdout
    assert "\nfps = 15  # not used: a video file plays at its own rate\n" in shown


async def test_the_shutter_names_cameras_and_says_what_did_not_change(tmp_path: Path) -> None:
    """`pause nosuch` is exit 2 naming the cameras; `resume` of a live camera says it was not paused;
    the server's log says which camera was paused."""
    config = tmp_path / "camcast.toml"
    config.write_text(TWO)
    async with camcast_server("--config", str(config)) as server:
        listen = ("--listen", f"127.0.0.1:{server.port}", "--config", str(config))
        wrong = run_cli("pause", "gardn", *listen)
        assert (wrong.returncode, wrong.stderr) == (
            2,
            "camcast: no camera named 'gardn'; did you mean 'garden'?\n",
        )
        unknown = run_cli("pause", "attic", *listen)
        assert unknown.stderr == "camcast: no camera named 'attic'; cameras: door, garden\n"
        resumed = run_cli("resume", "door", *listen)
        assert resumed.stdout == "camcast: door was not paused (live, 0 watching)\n"
        paused = run_cli("pause", "door", *listen)
        assert paused.stdout.startswith("camcast: door paused: the camera is closed")
        again = run_cli("pause", "door", *listen)
        assert again.stdout.startswith("camcast: door was paused already (since ")
        await until(lambda: "door (pattern 160x120@30) paused" in server.stderr_so_far())
        assert run_cli("resume", *listen).stdout == (
            "camcast: door live again (0 watching)\ncamcast: garden was not paused (live, 0 watching)\n"
        )


def test_the_first_account_says_that_this_computer_signs_in_too() -> None:
    first = run_cli(
        "users", "add", "olive", "--role", "owner", "--password-stdin", stdin="owner-password-1\n"
    )
    assert first.returncode == 0, first.stderr
    assert "from now on everyone signs in, this computer too" in first.stdout
    second = run_cli("users", "add", "victor", "--password-stdin", stdin="viewer-password-1\n")
    assert "signs in" not in second.stdout


async def test_the_banner_and_a_refusal_say_who_may_watch() -> None:
    async with camcast_server("--source", "pattern", "--size", "160x120") as server:
        await until(lambda: "who may watch" in server.stdout_so_far())  # printed once it listens
    assert "camcast: who may watch: this computer only, without signing in" in server.stdout
    Accounts(config_dir() / "users.json").add("olive", "owner-password-1", "owner")
    async with (
        camcast_server("--source", "pattern", "--size", "160x120") as server,
        aiohttp.ClientSession() as session,
        session.get(server.url + "/snapshot.jpg") as resp,
    ):
        assert resp.status == 401
        assert "accounts exist, so this computer signs in too" in await resp.text()
        await until(lambda: "who may watch" in server.stdout_so_far())
    assert "camcast: who may watch: the accounts (camcast users list) and share links" in server.stdout


async def test_a_camera_not_there_at_start_starts_offline_and_joins_when_it_appears(
    tmp_path: Path, video_file: Path
) -> None:
    """One camera of two has a file that is not there yet: the server starts, that camera is offline
    with one warning naming its table, the other serves; when the file appears, it goes live."""
    late = tmp_path / "late.mp4"
    config = tmp_path / "camcast.toml"
    config.write_text(DOOR + f'\n[cameras.garden]\nsource = "{late}"\n')
    async with camcast_server("--config", str(config)) as server, aiohttp.ClientSession() as session:

        async def states() -> dict[str, str]:
            async with session.get(server.url + "/status.json") as resp:
                return {c["name"]: c["state"] for c in (await resp.json())["cameras"]}

        assert await states() == {"door": "live", "garden": "offline"}
        async with session.get(server.url + "/cam/garden/snapshot.jpg") as resp:
            assert resp.status == 200  # the offline card
        shutil.copy(video_file, late)

        async def garden_live() -> bool:
            return (await states())["garden"] == "live"

        await until(garden_live, 30)
    warnings = [line.split(" ", 1)[1] for line in server.stderr.splitlines() if "[cameras.garden]" in line]
    assert warnings == [
        f"WARNING [cameras.garden]: no such video file or camera: {late}; it starts offline and is tried "
        "again until it answers"
    ]


def test_a_source_typed_on_the_command_line_is_reported_at_once(tmp_path: Path) -> None:
    result = run_cli(
        "serve", "--source", str(tmp_path / "nosuch.mp4"), "--listen", f"127.0.0.1:{free_port()}"
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"camcast: no such video file or camera: {tmp_path / 'nosuch.mp4'} (")


async def test_a_server_on_every_interface_prints_urls_that_open() -> None:
    """Listening on 0.0.0.0, the banner's URLs name this machine, not 0.0.0.0 (which opens nowhere)."""
    port = free_port()
    args = ("--source", "pattern", "--size", "160x120", "--listen", f"0.0.0.0:{port}", "--public")
    async with camcast_server(*args, port=port) as server:
        await until(lambda: "status.json" in server.stdout_so_far())  # the last URL line
    assert f"http://0.0.0.0:{port}" not in server.stdout
    assert f"http://{socket.getfqdn()}:{port}/snapshot.jpg" in server.stdout


def test_metrics_token_shows_the_configured_target(tmp_path: Path) -> None:
    config = tmp_path / "camcast.toml"
    config.write_text('listen = "0.0.0.0:9443"\ntls_cert = "c.pem"\ntls_key = "k.pem"\nbase_path = "/cam"\n')
    made = run_cli("metrics-token", "--config", str(config))
    assert made.returncode == 0, made.stderr
    assert "    scheme: https\n    metrics_path: /cam/metrics\n" in made.stderr
    assert "static_configs: [{ targets: ['127.0.0.1:9443'] }]" in made.stderr
