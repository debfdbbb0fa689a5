"""The values sound flows as: PCM chunks from an input, and encoded packets from a rendition."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Samples per second of every input and encoder: what Opus takes as it is, and AAC-LC's common rate.
RATE = 48_000

Samples = npt.NDArray[np.int16]
#: The quietest level shown, in dBFS (digital silence has no level).
FLOOR = -96.0


def dbfs(samples: np.ndarray) -> float:
    """The RMS level of 16-bit ``samples`` in dB below full scale (a full-scale sine reads -3)."""
    if samples.size == 0:
        return FLOOR
    rms = math.sqrt(float(np.mean(np.square(samples.astype(np.float64))))) / 32768.0
    return max(FLOOR, 20 * math.log10(rms)) if rms > 0 else FLOOR


@dataclass(frozen=True, slots=True)
class Chunk:
    """Mono 16-bit ``samples``, the first of them captured at monotonic time ``time`` (seconds): the
    clock the pictures' ``Frame.time`` is read from, so sound and pictures line up."""

    samples: Samples
    time: float

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


@dataclass(frozen=True, slots=True)
class AudioPacket:
    """One encoded audio frame: ``codec`` (``opus``, ``aac``: raw, no ADTS header), its bytes, the
    monotonic time of its first sample, and how many samples it spans (at :data:`RATE`)."""

    codec: str
    data: bytes
    time: float
    samples: int
