"""Overlays drawn on every frame, once per rendition: a text caption (time, fps, viewers, a name) on a
half-transparent band, and a PNG logo with alpha. Both blend only the pixels they cover, in I420, so a
caption and a logo cost well under 2 ms per 720p frame (docs/benchmarks.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageColor, UnidentifiedImageError

from camcast.errors import ConfigError
from camcast.frames import Yuv420
from camcast.picture.color import half, rgb_to_ycbcr, rgb_to_yuv420
from camcast.picture.draw import GlyphCache

POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "top", "bottom")
TOKENS = ("fps", "viewers", "name", "ms")
Stats = Callable[[], dict[str, object]]


def parse_position(value: Any) -> str:
    text = str(value).lower()
    if text not in POSITIONS:
        raise ValueError(f"must be one of {', '.join(POSITIONS)}")
    return text


def parse_color(value: Any) -> tuple[int, int, int]:
    try:
        rgb = ImageColor.getrgb(str(value))
    except ValueError:
        raise ValueError("must be a colour name such as white or yellow, or #rrggbb") from None
    return rgb[0], rgb[1], rgb[2]


def parse_text(value: Any) -> str:
    text = str(value)
    for token in re.findall(r"(?<!\{)\{([^{}]*)\}(?!\})", text):
        if token not in TOKENS:
            fields = ", ".join("{" + t + "}" for t in TOKENS)
            raise ValueError(
                f"has an unknown field {{{token}}}; fields are {fields} and strftime codes like %H:%M"
            )
    return text


def _placement(position: str, w: int, h: int, width: int, height: int, margin: int) -> tuple[int, int]:
    """Top-left corner (even) of a w x h box at ``position`` in a width x height picture."""
    x = {"left": margin, "right": width - w - margin}.get(position.rsplit("-", 1)[-1], (width - w) // 2)
    y = margin if position.startswith("top") else height - h - margin
    return max(0, x) & ~1, max(0, y) & ~1


class TextOverlay:
    """A caption: strftime codes and {fps}, {viewers}, {name}, {ms} filled in for each frame."""

    def __init__(
        self,
        template: str,
        position: str = "bottom-left",
        size: int = 24,
        color: tuple[int, int, int] = (255, 255, 255),
        font: str | None = None,
        stats: Stats | None = None,
    ) -> None:
        self.template = template
        self.position = position
        self.stats = stats or dict
        self.band_h = (size * 3 // 2 + 1) & ~1
        if font is not None and not Path(font).is_file():
            raise ConfigError(
                f"{font}: no such font file (a TrueType or OpenType file, e.g. "
                "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf)",
                key="text_font",
            )
        try:
            self.glyphs = GlyphCache(size, self.band_h, font)
        except OSError as exc:
            raise ConfigError(f"{font} is not a font Pillow can read", key="text_font") from exc
        self.color = rgb_to_ycbcr(*color)
        self._cache: tuple[str, np.ndarray, np.ndarray] | None = None

    def text(self, wall: float) -> str:
        values = {"ms": f"{int(wall * 1000) % 1000:03d}", "fps": "", "viewers": "", "name": ""}
        values.update({k: str(v) for k, v in self.stats().items()})
        filled = re.sub(
            r"(?<!\{)\{(" + "|".join(TOKENS) + r")\}(?!\})", lambda m: values[m.group(1)], self.template
        )
        return time.strftime(filled.replace("{{", "{").replace("}}", "}"), time.localtime(wall))

    def _mask(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The text's coverage (0..1, float32) at full and chroma resolution; remembered while unchanged."""
        if self._cache is None or self._cache[0] != text:
            mask = self.glyphs.render(text or " ")
            if mask.shape[1] % 2:
                mask = np.pad(mask, ((0, 0), (0, 1)))
            full = mask.astype(np.float32) / 255
            self._cache = (text, full, half(mask) / 255)
        return self._cache[1], self._cache[2]

    def __call__(self, image: Yuv420, wall: float) -> Yuv420:
        full, half = self._mask(self.text(wall))
        pad = self.band_h // 4 & ~1
        banner = self.position in ("top", "bottom")
        w = image.width if banner else min(image.width, full.shape[1] + 2 * pad)
        h = min(self.band_h, image.height)
        x, y = _placement(self.position, w, h, image.width, image.height, 0 if banner else pad)
        # The band: the picture behind it at half brightness and half colour, for contrast.
        band_y = image.y[y : y + h, x : x + w]
        np.right_shift(band_y, 1, out=band_y)
        for plane in (image.u, image.v):
            band_c = plane[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2]
            np.right_shift(band_c, 1, out=band_c)
            band_c += 64
        # The text, blended by its coverage.
        tx = x + pad
        tw = min(full.shape[1], image.width - tx) & ~1
        if tw <= 0:
            return image
        cover, cover_c = full[:h, :tw], half[: h // 2, : tw // 2]
        layers = ((image.y, self.color[0], cover, 1), (image.u, self.color[1], cover_c, 2))
        for plane, value, c, scale in (*layers, (image.v, self.color[2], cover_c, 2)):
            region = plane[y // scale : (y + h) // scale, tx // scale : (tx + tw) // scale]
            region[:] = (
                region + (value - region.astype(np.float32)) * c[: region.shape[0], : region.shape[1]]
            ).astype(np.uint8)
        return image


class LogoOverlay:
    """A PNG with alpha at a corner, optionally scaled to ``width`` pixels (height keeps the aspect)."""

    def __init__(self, path: str, position: str = "top-right", width: int | None = None) -> None:
        try:
            with Image.open(path) as img:
                rgba = img.convert("RGBA")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file", key="logo") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise ConfigError(f"{path} is not an image Pillow can read ({exc})", key="logo") from None
        if width:
            height = max(2, round(rgba.height * width / rgba.width))
            rgba = rgba.resize((width, height), Image.Resampling.LANCZOS)
        w, h = rgba.width & ~1, rgba.height & ~1
        if w < 2 or h < 2:
            raise ConfigError(f"{path} is too small", key="logo")
        pixels = np.asarray(rgba)[:h, :w]
        self.position = position
        self.planes = rgb_to_yuv420(np.ascontiguousarray(pixels[..., :3]))
        alpha = pixels[..., 3]
        self.alpha = alpha.astype(np.float32) / 255
        self.alpha_c = half(alpha) / 255
        self.size = (w, h)

    def __call__(self, image: Yuv420, wall: float) -> Yuv420:
        w, h = self.size
        if w > image.width or h > image.height:
            return image
        x, y = _placement(self.position, w, h, image.width, image.height, max(2, image.height // 40))
        layers = ((image.y, self.planes.y, self.alpha, 1), (image.u, self.planes.u, self.alpha_c, 2))
        for plane, logo, alpha, s in (*layers, (image.v, self.planes.v, self.alpha_c, 2)):
            region = plane[y // s : (y + h) // s, x // s : (x + w) // s]
            region[:] = (region + (logo - region.astype(np.float32)) * alpha).astype(np.uint8)
        return image
