"""Text and cards drawn into pictures: the font, single-line text masks, a glyph cache for text redrawn
on every frame, and the message cards (offline, paused) every output shows."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from camcast.frames import Yuv420

#: DejaVu Sans Mono Bold, inside the package (camcast/fonts, with its licence), so that captions look
#: the same on every machine, fonts installed or not.
FONT_FILE = "DejaVuSansMono-Bold.ttf"


@functools.cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans Mono Bold at ``size`` pixels (Pillow's built-in font if the file were missing)."""
    with resources.as_file(resources.files("camcast.fonts") / FONT_FILE) as path:
        if Path(path).is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def text_mask(text: str, width: int, height: int, size: int, align: str = "left") -> np.ndarray:
    """White-on-black text rendered into a ``height`` × ``width`` luma array, vertically centred."""
    img = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(img)
    f = font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=f)
    x = {"left": size // 2, "center": (width - (right - left)) // 2}[align] - left
    draw.text((x, (height - (bottom - top)) // 2 - top), text, fill=255, font=f)
    return np.asarray(img)


class GlyphCache:
    """Renders single-line text by joining cached per-character bitmaps.

    Pillow takes about a millisecond to lay out a 40-character line; joining cached glyphs takes a few
    microseconds, which matters for text redrawn on every frame (the clock). Kerning is ignored, which a
    monospaced font does not have anyway.
    """

    def __init__(self, size: int, height: int, font_file: str | None = None) -> None:
        self.size, self.height = size, height
        self._font = ImageFont.truetype(font_file, size) if font_file else font(size)
        self._glyphs: dict[str, np.ndarray] = {}
        ascent, descent = self._font.getmetrics() if hasattr(self._font, "getmetrics") else (size, 0)
        self._top = (height - (ascent + descent)) // 2

    def _glyph(self, ch: str) -> np.ndarray:
        glyph = self._glyphs.get(ch)
        if glyph is None:
            advance = max(1, round(self._font.getlength(ch)))
            img = Image.new("L", (advance, self.height), 0)
            ImageDraw.Draw(img).text((0, self._top), ch, fill=255, font=self._font)
            glyph = self._glyphs[ch] = np.asarray(img)
        return glyph

    def render(self, text: str) -> np.ndarray:
        """``text`` as a white-on-black luma array ``height`` rows high."""
        return np.concatenate([self._glyph(ch) for ch in text], axis=1)


def message_card(width: int, height: int, lines: Sequence[str]) -> Yuv420:
    """A dark picture with ``lines`` of text centred on it (the offline and paused cards)."""
    card = Yuv420.blank(width, height, luma=24)
    size = max(12, height // 14)
    line_h = size * 2
    top = (height - line_h * len(lines)) // 2
    for i, line in enumerate(lines):
        y0 = max(0, top + i * line_h)
        rows = min(line_h, height - y0)
        if rows <= 0:
            break
        mask = text_mask(line, width, rows, size, align="center")
        np.maximum(card.y[y0 : y0 + rows], mask, out=card.y[y0 : y0 + rows])
    return card
