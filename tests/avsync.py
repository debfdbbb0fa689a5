"""How far apart the test pattern's flash and beep land in what an output made (a file, a segment):
the onsets of each, read by decoding it, paired by second. Used by the tests and ``bench/sync.py``."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

#: The flash's block is the bottom right corner (camcast.sources.pattern); these pixels are inside it.
CORNER = 6
#: Luma above which the corner is lit, and the level (of full scale) above which the beep sounds.
LIT, LOUD = 128, 0.05


def onsets(path: str | Path) -> tuple[list[float], list[float]]:
    """(flash onsets, beep onsets) in ``path``'s presentation time, seconds."""
    flashes: list[float] = []
    beeps: list[float] = []
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        was_lit, was_loud = True, True  # an onset is a change from dark (silent) after the start
        for frame in container.decode(*streams):
            if frame.pts is None or frame.time_base is None:
                continue
            start = float(frame.pts * frame.time_base)
            if isinstance(frame, av.VideoFrame):
                luma = frame.to_ndarray(format="gray")[-CORNER:, -CORNER:].mean()
                lit = luma > LIT
                if lit and not was_lit:
                    flashes.append(start)
                was_lit = lit
            else:
                # Of full scale: integer samples by their format's range (never by their values: a
                # near-silence of +-2 is not loud), floating point ones as they are.
                scale = {"s16": 32768.0, "s16p": 32768.0, "s32": 2.0**31, "s32p": 2.0**31}
                samples = np.abs(frame.to_ndarray().astype(np.float32).reshape(-1))
                samples = samples / scale.get(frame.format.name, 1.0)
                loud = np.flatnonzero(samples > LOUD)
                if len(loud) and not was_loud:
                    beeps.append(start + loud[0] / frame.sample_rate)
                # silent again once the frame's end is quiet
                was_loud = bool(len(loud)) and loud[-1] > len(samples) - frame.sample_rate // 200
    return flashes, beeps


def offsets(path: str | Path) -> list[float]:
    """For each flash, the beep's onset minus the flash's (seconds; positive: the sound comes late),
    pairing each flash with the beep nearest it within half a second."""
    flashes, beeps = onsets(path)
    paired = []
    for flash in flashes:
        nearest = min(beeps, key=lambda beep: abs(beep - flash), default=None)
        if nearest is not None and abs(nearest - flash) < 0.5:
            paired.append(nearest - flash)
    return paired
