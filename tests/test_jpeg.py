"""Camera JPEG clean-up: Huffman tables added when missing, metadata removed, picture untouched."""

from __future__ import annotations

import numpy as np
import pytest

from camcast.encode import jpeg
from camcast.encode.stripes import StripeEncoder
from camcast.errors import SourceError
from camcast.frames import Yuv420
from camcast.picture.jpeg import decode_rgb
from camcast.sources.pattern import PatternSource


def _sample() -> bytes:
    return jpeg.encode(PatternSource(320, 240, 30).draw(1, 0.0), 80)


def _strip(data: bytes, marker: int) -> bytes:
    """``data`` without its header segments of type ``marker``."""
    out, pos = bytearray(data[:2]), 2
    while data[pos + 1] != 0xDA:
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if data[pos + 1] != marker:
            out += data[pos : pos + 2 + length]
        pos += 2 + length
    return bytes(out + data[pos:])


def _insert_after_soi(data: bytes, segment: bytes) -> bytes:
    return data[:2] + segment + data[2:]


def test_missing_huffman_tables_are_added() -> None:
    """A frame without DHT (motion-JPEG style) gets the standard tables, and decodes identically."""
    original = _sample()
    stripped = _strip(original, 0xC4)
    assert b"\xff\xc4" not in stripped[: stripped.index(b"\xff\xda")]
    fixed = jpeg.clean_camera_jpeg(stripped)
    assert fixed.count(b"\xff\xc4") >= 1  # decoders without built-in defaults (not libjpeg-turbo) need them
    assert np.array_equal(decode_rgb(fixed), decode_rgb(original))


def test_metadata_is_removed() -> None:
    """EXIF (APP1) and comments are dropped; the picture is unchanged."""
    original = _sample()
    exif = b"\xff\xe1" + (2 + 14).to_bytes(2, "big") + b"Exif\x00\x00GPS-HOME"
    comment = b"\xff\xfe" + (2 + 6).to_bytes(2, "big") + b"serial"
    tagged = _insert_after_soi(_insert_after_soi(original, exif), comment)
    cleaned = jpeg.clean_camera_jpeg(tagged)
    assert b"GPS-HOME" not in cleaned and b"serial" not in cleaned
    assert np.array_equal(decode_rgb(cleaned), decode_rgb(original))
    assert jpeg.clean_camera_jpeg(original) == original


def test_encoder_output_has_no_metadata() -> None:
    """camcast's own JPEGs carry no APP segment but JFIF's APP0."""
    data = _sample()
    header = data[: data.index(b"\xff\xda")]
    assert not any(bytes([0xFF, m]) in header for m in range(0xE1, 0xF0))


@pytest.mark.parametrize("bad", [b"", b"GIF89a", b"\xff\xd8\xff\xe0\x00"])
def test_not_a_jpeg(bad: bytes) -> None:
    """Garbage from a camera is a SourceError, not a crash."""
    with pytest.raises(SourceError):
        jpeg.clean_camera_jpeg(bad)


def _noisy(width: int, height: int, seed: int) -> Yuv420:
    rng = np.random.default_rng(seed)
    return Yuv420(
        rng.integers(0, 256, (height, width), np.uint8),
        rng.integers(0, 256, (height // 2, width // 2), np.uint8),
        rng.integers(0, 256, (height // 2, width // 2), np.uint8),
    )


@pytest.mark.parametrize("size", [(320, 240), (330, 250), (640, 360)])
def test_stripe_encoder_matches_a_full_encode(size: tuple[int, int]) -> None:
    """Re-encoding only changed stripes gives exactly the picture a full encode gives, at any size."""
    width, height = size
    encoder = StripeEncoder(80)
    pattern = PatternSource(width, height, 30)
    frames = [pattern.draw(i, 1000.0 + i / 30) for i in range(6)]
    still = frames[-1]
    # a moving pattern, the same picture again, then one change in the last (possibly partial) stripe
    bottom = still.copy()
    bottom.y[-2:, :10] = 255
    for image in [*frames, still, bottom]:
        data = encoder.encode(image)
        assert jpeg.is_complete(data)
        assert np.array_equal(decode_rgb(data), decode_rgb(jpeg.encode(image, 80)))
    assert encoder.stripes_encoded < 6 * -(-height // 16)  # it did not re-encode everything


def test_stripe_encoder_skips_unchanged_and_falls_back_on_noise() -> None:
    """An unchanged picture costs no encode; a picture that changes everywhere is encoded whole."""
    encoder = StripeEncoder(75)
    pattern = PatternSource(320, 240, 30)
    a = pattern.draw(1, 1000.0)
    encoder.encode(a)
    encoder.encode(pattern.draw(2, 1000.1))
    before = encoder.stripes_encoded
    same = encoder.encode(pattern.draw(2, 1000.1))
    assert encoder.stripes_encoded == before
    assert same == encoder.encode(pattern.draw(2, 1000.1))
    for seed in range(3):
        noisy = _noisy(320, 240, seed)
        data = encoder.encode(noisy)
        assert data == jpeg.encode(noisy, 75)
    assert encoder.stripes_encoded == before
