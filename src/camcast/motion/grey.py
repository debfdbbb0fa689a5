"""The small grey picture the detector reads, made from a frame as cheaply as its form allows.

- A camera's own JPEG is decoded at 1/8 scale by libjpeg-turbo's DCT scaling, luma only: each 8x8
  block's average comes straight from its DC coefficient, with no full-size decode.
- Pixels (the pattern, a decoded file or stream) give their luma plane, averaged over 8x8 blocks.
- H.264 not decoded (nobody needed pixels) gives nothing: the camera decodes its source while motion
  is on (:meth:`camcast.camera.Camera.wants_pixels`).
"""

from __future__ import annotations

import numpy as np
import simplejpeg

from camcast.frames import Captured, Encoded, Yuv420
from camcast.motion.detector import Grey

#: The detector's picture is this fraction of each side of the camera's.
SCALE = 8


def small_grey(frame: Captured) -> Grey | None:
    """About 1/:data:`SCALE` of ``frame`` on each side, luma only; None when the frame has no pixels
    to read (H.264 not decoded, or a JPEG that does not decode)."""
    payload = frame.payload
    if isinstance(payload, Yuv420):
        return block_mean(payload.y, SCALE)
    if isinstance(payload, Encoded) and payload.codec == "jpeg":
        try:
            grey = simplejpeg.decode_jpeg(
                payload.data, colorspace="GRAY", fastdct=True, fastupsample=True,
                min_width=max(frame.width // SCALE, 1), min_height=max(frame.height // SCALE, 1),
            )  # fmt: skip
        except ValueError:
            return None
        small: Grey = np.ascontiguousarray(grey[:, :, 0])
        return small
    return None


def block_mean(plane: Grey, n: int) -> Grey:
    """``plane`` averaged over n x n blocks (the edges that do not fill a block are left out)."""
    h, w = plane.shape[0] // n, plane.shape[1] // n
    # Rows first, in 16 bits (8 values of 255 fit), then columns: half the time of one mean over both.
    rows = plane[: h * n, : w * n].reshape(h * n, w, n).sum(axis=2, dtype=np.uint16)
    blocks = rows.reshape(h, n, w).sum(axis=1, dtype=np.uint32)
    small: Grey = (blocks // (n * n)).astype(np.uint8)
    return small
