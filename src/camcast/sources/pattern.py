"""The built-in test pattern: colour bars, a moving square, and a wall clock with a frame counter.

It is the default source when no camera is found, and how everything is tested on machines without one.
The background is drawn once; each frame copies it and draws only what moves (the square and the text
band), so the pattern costs well under a millisecond per 720p frame and never dominates a benchmark.
Frames are paced to ``fps`` against the monotonic clock and stamped with the time they were due; a
frame late by more than a period is skipped, not made up for. They are due on a grid that meets every
whole second of the monotonic clock (at a whole number of frames per second), so that with ``flash``
the frames of the first :data:`FLASH_SECONDS` of each second show a white block, in step with the beep
:class:`~camcast.audio.beep.Beep` plays on the same clock: what a bench measures sound and picture
sync by.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import numpy as np

from camcast import timecode as _timecode
from camcast.encode.stripes import STRIPE
from camcast.frames import Frame, Yuv420, of_image
from camcast.picture.color import rgb_to_ycbcr
from camcast.picture.draw import GlyphCache

#: Seconds the moving square takes to cross the picture: slow enough to follow, fast enough that two
#: frames 1/30 s apart always differ.
CROSSING_SECONDS = 4.0
#: How long the flash (and the beep) lasts at the start of each second.
FLASH_SECONDS = 0.1

# SMPTE 75% colour bars as RGB: white, yellow, cyan, green, magenta, red, blue.
_BARS = ((191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191))


def _stripes(pixels: int) -> int:
    """``pixels`` rounded down to whole 16-row stripes, at least one."""
    return max(STRIPE, pixels // STRIPE * STRIPE)


class PatternSource:
    """A moving test pattern of ``width`` × ``height`` pixels (both even) at ``fps`` frames per second;
    with ``timecode``, the capture time is also drawn as blocks a program reads (:mod:`camcast.timecode`)."""

    def __init__(self, width: int, height: int, fps: float, timecode: bool = False) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.timecode = timecode
        #: Whether the first frames of each second show the white block (set while the beep plays).
        self.flash = False
        self._background = self._draw_background()
        # What moves is aligned to the encoder's 16-row stripes, so each frame re-encodes as few
        # stripes as possible (see jpeg.StripeEncoder): 3 for the square and 4 for the clock at 720p.
        self._box = _stripes(height // 12)
        self._band_h = _stripes(height // 11)
        self._glyphs = GlyphCache(max(10, self._band_h * 3 // 5), self._band_h)
        self._closed = False

    def describe(self) -> str:
        timecode = " with timecode" if self.timecode else ""
        return f"pattern {self.width}x{self.height}@{self.fps:g}{timecode}"

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

    def draw(self, seq: int, wall: float, due: float = 0.5) -> Yuv420:
        """The picture for frame ``seq`` captured at Unix time ``wall`` (monotonic ``due``)."""
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
        if self.timecode:
            _timecode.draw(img, wall)
        if self.flash:
            # Bottom right, below the clock band: white while the beep sounds, black otherwise.
            side = _stripes(h // 6)
            lit = 235 if (due + 1e-6) % 1.0 < FLASH_SECONDS else 16  # 1e-6: a due time's rounding
            img.y[h - side :, w - side :] = lit
            img.u[(h - side) // 2 :, (w - side) // 2 :] = 128
            img.v[(h - side) // 2 :, (w - side) // 2 :] = 128
        return img

    def __aiter__(self) -> AsyncIterator[Frame[Yuv420]]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[Frame[Yuv420]]:
        period = 1.0 / self.fps
        now = time.monotonic()
        second = math.floor(now)  # frames are due on a grid through every whole second
        start = second + math.ceil((now - second) / period) * period
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
                due = start + (seq - 1) * period
            # A frame's capture time is when it was due, as a camera's clock would stamp it: a frame
            # made a little late (a busy loop) keeps its place in time, so frames are evenly spaced,
            # never bunched up after a stall.
            late = max(0.0, time.monotonic() - due)
            wall = time.time() - late
            yield of_image(seq, self.draw(seq, wall, due), at=due)

    async def aclose(self) -> None:
        self._closed = True
