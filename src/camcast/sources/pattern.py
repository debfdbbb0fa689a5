"""The built-in test pattern: colour bars, a moving square, and a wall clock with a frame counter.

It is the default source when no camera is found, and how everything is tested on machines without one.
The background is drawn once; each frame copies it and draws only what moves (the square and the text
band), so the pattern costs well under a millisecond per 720p frame and never dominates a benchmark.
Frames are paced to ``fps`` against the monotonic clock; a late frame is not made up for.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from camcast.frames import Frame, Yuv420
from camcast.jpeg import STRIPE

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu")
#: Seconds the moving square takes to cross the picture: slow enough to follow, fast enough that two
#: frames 1/30 s apart always differ.
CROSSING_SECONDS = 4.0

# SMPTE 75% colour bars as RGB: white, yellow, cyan, green, magenta, red, blue.
_BARS = ((191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191))


def rgb_to_ycbcr(r: float, g: float, b: float) -> tuple[int, int, int]:
    """Full-range (JFIF) YCbCr of one RGB colour."""
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(min(255, max(0, round(v))) for v in (y, cb, cr))  # type: ignore[return-value]


@functools.cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans Mono Bold at ``size`` pixels when installed, else Pillow's built-in scalable font."""
    for folder in FONT_DIRS:
        path = Path(folder, "DejaVuSansMono-Bold.ttf")
        if path.is_file():
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


def _stripes(pixels: int) -> int:
    """``pixels`` rounded down to whole 16-row stripes, at least one."""
    return max(STRIPE, pixels // STRIPE * STRIPE)


class PatternSource:
    """A moving test pattern of ``width`` × ``height`` pixels (both even) at ``fps`` frames per second."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.width, self.height, self.fps = width, height, fps
        self._background = self._draw_background()
        # What moves is aligned to the encoder's 16-row stripes, so each frame re-encodes as few
        # stripes as possible (see jpeg.StripeEncoder): 3 for the square and 4 for the clock at 720p.
        self._box = _stripes(height // 12)
        self._band_h = _stripes(height // 11)
        self._glyphs = GlyphCache(max(10, self._band_h * 3 // 5), self._band_h)
        self._closed = False

    def describe(self) -> str:
        return f"pattern {self.width}x{self.height}@{self.fps:g}"

    def _draw_background(self) -> Yuv420:
        w, h = self.width, self.height
        bg = Yuv420.blank(w, h)
        bars_h = (h * 2 // 3) & ~1
        for i, rgb in enumerate(_BARS):
            x0, x1 = (w * i // len(_BARS)) & ~1, (w * (i + 1) // len(_BARS)) & ~1
            y, cb, cr = rgb_to_ycbcr(*rgb)
            bg.y[:bars_h, x0:x1] = y
            bg.u[: bars_h // 2, x0 // 2 : x1 // 2] = cb
            bg.v[: bars_h // 2, x0 // 2 : x1 // 2] = cr
        bg.y[bars_h:] = np.linspace(16, 235, w, dtype=np.float32).astype(np.uint8)
        return bg

    def draw(self, seq: int, wall: float) -> Yuv420:
        """The picture for frame ``seq`` captured at Unix time ``wall``."""
        w, h, box = self.width, self.height, self._box
        # Copying the background costs ~0.12 ms at 720p; reusing buffers and redrawing only what moved
        # was measured to save no more than that, so frames stay simple immutable copies.
        img = self._background.copy()
        # The square crosses the bars in CROSSING_SECONDS, then starts again from the left.
        travel = w - box
        x = int((seq / self.fps / CROSSING_SECONDS % 1.0) * travel) & ~1
        y = _stripes(h // 3 - box // 2)
        img.y[y : y + box, x : x + box] = 235
        img.u[y // 2 : (y + box) // 2, x // 2 : (x + box) // 2] = 128
        img.v[y // 2 : (y + box) // 2, x // 2 : (x + box) // 2] = 128
        # The clock band: wall time with milliseconds, and the frame counter.
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))
        text = f"{stamp}.{int(wall * 1000) % 1000:03d}  frame {seq:06d}"
        band_h = self._band_h
        mask = self._glyphs.render(text)[:, : w - band_h // 2]
        band_w = min(w, mask.shape[1] + band_h) & ~1
        margin = (band_w - mask.shape[1]) // 2
        b0 = _stripes(h * 2 // 3 - band_h - 8)
        band = img.y[b0 : b0 + band_h]
        band[:, :band_w] = 16
        np.maximum(
            band[:, margin : margin + mask.shape[1]], mask, out=band[:, margin : margin + mask.shape[1]]
        )
        img.u[b0 // 2 : (b0 + band_h) // 2, : band_w // 2] = 128
        img.v[b0 // 2 : (b0 + band_h) // 2, : band_w // 2] = 128
        return img

    def __aiter__(self) -> AsyncIterator[Frame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[Frame]:
        period = 1.0 / self.fps
        start = time.monotonic()
        seq = 0
        while not self._closed:
            seq += 1
            due = start + (seq - 1) * period
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -period:
                # Late by more than a frame (a stalled loop): skip ahead instead of bursting to catch up.
                skipped = int(-delay / period)
                seq += skipped
            now = time.monotonic()
            wall = time.time()
            yield Frame.of_image(seq, self.draw(seq, wall), at=now)

    async def aclose(self) -> None:
        self._closed = True
