"""The picture: geometry, text and logo overlays, warm-up and same-frame dropping."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from PIL import Image, ImageDraw

from camcast.encode import jpeg
from camcast.frames import Yuv420
from camcast.picture.geometry import Crop, crop, flip, rotate, scale
from camcast.picture.jpeg import decode_rgb
from camcast.picture.overlay import POSITIONS, LogoOverlay, TextOverlay
from camcast.sources.media import MediaSource
from camcast.sources.pattern import PatternSource
from tests.conftest import camcast_server, run_cli
from tests.media import image_of, make_video
from tests.mjpeg import read_parts
from tests.test_sources import take

pytestmark = pytest.mark.timeout(120)


def marked(width: int = 320, height: int = 240) -> Yuv420:
    """A dark picture with a bright 40x20 block in its top-left corner, to follow through geometry."""
    image = Yuv420.blank(width, height, luma=20)
    image.y[:20, :40] = 230
    return image


def bright_box(image: Yuv420) -> tuple[int, int, int, int]:
    rows = np.flatnonzero((image.y > 128).any(axis=1))
    cols = np.flatnonzero((image.y > 128).any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def changed(a: Yuv420, b: Yuv420) -> np.ndarray:
    return np.asarray(a.y != b.y)


def test_rotation_turns_clockwise() -> None:
    """rotate 90 puts the top-left corner at the top-right, 180 bottom-right, 270 bottom-left."""
    image = marked()
    assert bright_box(rotate(90)(image)) == (0, 40, 220, 240)
    assert rotate(90)(image).y.shape == (320, 240)
    assert bright_box(rotate(180)(image)) == (220, 240, 280, 320)
    assert bright_box(rotate(270)(image)) == (280, 320, 0, 20)


def test_flip_crop_and_scale() -> None:
    """Flips mirror, a crop keeps exactly its rectangle, a scale gives the asked size."""
    image = marked()
    assert bright_box(flip("horizontal")(image)) == (0, 20, 280, 320)
    assert bright_box(flip("vertical")(image)) == (220, 240, 0, 40)
    cut = crop(Crop(20, 10, 100, 50))(image)
    assert cut.y.shape == (50, 100) and cut.u.shape == (25, 50)
    assert bright_box(cut) == (0, 10, 0, 20)
    small = scale(160, 120)(image)
    assert small.y.shape == (120, 160) and small.v.shape == (60, 80)
    assert bright_box(small) == (0, 10, 0, 20)
    assert abs(float(small.y.mean()) - float(image.y.mean())) < 1.0  # resampling keeps brightness


@pytest.mark.parametrize("position", POSITIONS)
def test_text_appears_where_asked(position: str) -> None:
    """The caption changes the picture in the asked corner or band, and nowhere else."""
    base = PatternSource(640, 360, 30).draw(1, 1000.0)
    image = TextOverlay("Kitchen · %H:%M:%S.{ms}", position, 20)(base.copy(), 1000.5)
    diff = changed(base, image)
    rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
    top = position.startswith("top")
    assert (rows.max() < 60) if top else (rows.min() > 300)
    if position.endswith("left"):
        assert cols.max() < 400
    elif position.endswith("right"):
        assert cols.min() > 240
    else:
        assert cols.min() == 0 and cols.max() == 639  # a banner spans the width


def test_text_fields_and_colour() -> None:
    """{ms}, {fps}, {viewers}, {name} and strftime codes are filled in; the colour is used."""
    stats = {"fps": "30", "viewers": "2", "name": "Kitchen"}
    overlay = TextOverlay("{name} {viewers} watching {fps} fps %Y {ms} {{x}}", stats=lambda: stats)
    wall = time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1)) + 0.25
    assert overlay.text(wall) == "Kitchen 2 watching 30 fps 2026 250 {x}"
    red = TextOverlay("XXXXXXXX", "top-left", 40, color=(255, 0, 0))
    rgb = decode_rgb(jpeg.encode(red(Yuv420.blank(320, 240, 0), 0.0), 95)).astype(int)
    text = rgb[(rgb.sum(axis=2) > 150)]
    assert len(text) > 50 and (text[:, 0] > text[:, 1] + 80).mean() > 0.8


def test_logo_blends_with_alpha(tmp_path: Path) -> None:
    """A PNG logo lands at its corner, scaled; its transparent pixels leave the picture alone."""
    png = tmp_path / "logo.png"
    logo = Image.new("RGBA", (100, 50), (0, 0, 0, 0))
    ImageDraw.Draw(logo).rectangle((0, 0, 49, 49), fill=(255, 255, 255, 255))  # left half opaque white
    logo.save(png)
    base = Yuv420.blank(320, 240, luma=20)
    out = LogoOverlay(str(png), "top-right", width=60)(base.copy(), 0.0)
    rows, cols = np.flatnonzero((out.y > 128).any(axis=1)), np.flatnonzero((out.y > 128).any(axis=0))
    assert cols.max() < 320 - 30 and cols.min() > 320 - 70 and rows.max() < 40
    assert (out.y[:, :200] == 20).all()  # nothing outside the logo's corner


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--text-position", "middle"], ["--text-position", "top-left", "bottom"]),
        (["--logo-position", "nowhere"], ["--logo-position", "top-right"]),
        (["--rotate", "45"], ["--rotate", "0, 90, 180 or 270"]),
        (["--flip", "sideways"], ["--flip", "horizontal"]),
        (["--crop", "0,0,2000,100"], ["--crop 0,0,2000,100 does not fit", "320x240"]),
        (["--crop", "1,2,3"], ["--crop", "x,y,w,h"]),
        (["--text", "{weather}"], ["--text", "{weather}", "{fps}"]),
        (["--text", "hi", "--text-font", "/no/such/font.ttf"], ["--text-font", "no such font"]),
        (["--logo", "/no/such/logo.png"], ["--logo", "no such file"]),
        (["--text-color", "plaid"], ["--text-color", "#rrggbb"]),
        (["--warmup", "sometimes"], ["--warmup", "auto, on or off"]),
    ],
)
def test_bad_picture_options_are_one_line_errors(
    args: list[str], fragments: list[str], tmp_path: Path
) -> None:
    """Each bad picture option is one line naming the option and the valid choices, exit 2."""
    result = run_cli("snapshot", "--source", "pattern", "--size", "320x240", *args, str(tmp_path / "x.jpg"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_unreadable_logo_is_a_clear_error(tmp_path: Path) -> None:
    """A logo that is not an image says so."""
    bad = tmp_path / "logo.png"
    bad.write_text("not a png")
    result = run_cli("snapshot", "--source", "pattern", "--logo", str(bad), str(tmp_path / "x.jpg"))
    assert result.returncode == 2 and "not an image" in result.stderr


async def test_served_picture_has_geometry_and_caption() -> None:
    """The server's snapshot is rotated and carries the caption (drawn after rotation, so upright)."""
    args = (
        "--source",
        "pattern",
        "--size",
        "320x240",
        "--rotate",
        "90",
        "--text",
        "CAPTION",
        "--text-position",
        "top",
    )
    async with (
        camcast_server(*args) as server,
        aiohttp.ClientSession() as session,
        session.get(server.url + "/snapshot.jpg") as resp,
    ):
        rgb = decode_rgb(await resp.read())
    assert rgb.shape == (320, 240, 3)
    band = rgb[:30].astype(int)
    assert (band.sum(axis=2) > 600).sum() > 100  # white text in a dark band across the top


async def test_warmup_drops_frames_until_exposure_settles(tmp_path: Path) -> None:
    """A source that starts black and brightens over 20 frames: with warm-up the first frame is already
    bright; without it the first frame is black."""
    clip = make_video(tmp_path / "dawn.mp4", "mpeg4", 60, 25, (160, 120), still=True, ramp=20)
    for warm, expect_bright in ((True, True), (False, False)):
        source = MediaSource(str(clip), "file", warmup=warm)
        first = (await take(aiter(source), 1))[0]
        await source.aclose()
        assert image_of(first) is not None
        assert (float(image_of(first).y.mean()) > 50) is expect_bright, float(image_of(first).y.mean())


async def test_drop_same_frames_thins_a_still_stream() -> None:
    """With --drop-same-frames an unchanging picture is sent about once a second; without it, at the
    source's rate."""
    # The pattern with everything that moves masked out is a perfectly still picture.
    still = ("--source", "pattern", "--size", "160x120", "--fps", "20", "--mask", "0,0,100%,75%")

    async def parts_in(seconds: float, *extra: str) -> int:
        async with (
            camcast_server(*still, *extra) as server,
            aiohttp.ClientSession() as session,
            session.get(server.url + "/stream.mjpg") as resp,
        ):
            count = 0
            deadline = time.monotonic() + seconds
            async for _ in read_parts(resp):
                count += 1
                if time.monotonic() > deadline:
                    break
            return count

    thinned, full = await asyncio.gather(parts_in(3, "--drop-same-frames"), parts_in(3))
    assert 2 <= thinned <= 6, thinned
    assert full >= 50, full


async def test_caption_on_published_pictures_but_not_on_the_stream(tmp_path: Path) -> None:
    """The config file's [publish] table gives published pictures a caption the live stream lacks;
    each output still encodes each frame once."""
    cfg = tmp_path / "camcast.toml"
    cfg.write_text('[publish]\ntext = "PUBLISHED"\ntext_position = "top"\ntext_size = 30\n')
    site = tmp_path / "site"
    args = ("--config", str(cfg), "--source", "pattern", "--size", "320x240", "--publish-to", str(site))
    async with camcast_server(*args, "--every", "0.3") as server, aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 10
        while not (site / "webcam.jpg").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        async with session.get(server.url + "/snapshot.jpg") as resp:
            served = decode_rgb(await resp.read())
    published = decode_rgb((site / "webcam.jpg").read_bytes())
    # The pattern's top rows are flat colour bars; a caption band darkens them and adds white text.
    assert np.abs(published[:30].astype(int) - served[:30].astype(int)).mean() > 20
    assert np.abs(published[100:].astype(int) - served[100:].astype(int)).mean() < 10


def test_bad_output_table_is_a_clear_error(tmp_path: Path) -> None:
    """Only drawing settings may differ per output; a table names what it may set."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("[serve]\nfps = 5\n")
    result = run_cli("config", "--config", str(cfg))
    assert result.returncode == 2 and "[serve] fps cannot differ per output" in result.stderr
    cfg.write_text("[archive]\ntext = 'x'\n")
    result = run_cli("config", "--config", str(cfg))
    assert result.returncode == 2 and "unknown table [archive]" in result.stderr
