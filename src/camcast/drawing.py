"""What a camera's pictures are drawn with: the steps every output shares (geometry, then privacy
masks), and what each output draws on top (caption, logo, LIVE badge)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from camcast.config import CameraSettings
from camcast.picture.geometry import transforms
from camcast.picture.masks import live_badge_step, mask_step
from camcast.picture.overlay import LogoOverlay, TextOverlay
from camcast.picture.steps import Step

#: Live values a caption can show, filled in by whoever knows them (the server knows its viewers).
Info = dict[str, Callable[[], object]]


def shared_steps(settings: CameraSettings) -> list[Step]:
    """The steps applied to every frame before any output sees it: geometry (so text is never
    rotated), then privacy masks."""
    steps: list[Step] = [
        (lambda image, wall, t=t: t(image))  # type: ignore[misc]
        for t in transforms(settings.crop, settings.rotate, settings.flip, settings.scale)
    ]
    if settings.mask:
        steps.append(mask_step(settings.mask))
    return steps


def shared_settings(settings: CameraSettings) -> tuple[object, ...]:
    """What :func:`shared_steps` is made of."""
    return (settings.crop, settings.rotate, settings.flip, settings.scale, settings.mask)


def drawing_steps(drawing: dict[str, Any], info: Info) -> list[Step]:
    """What one output draws on the shared pictures: caption, logo, LIVE badge."""
    steps: list[Step] = []
    if drawing["text"]:
        caption = TextOverlay(
            drawing["text"], drawing["text_position"], drawing["text_size"], drawing["text_color"],
            drawing["text_font"], stats=lambda: {key: value() for key, value in info.items()},
        )  # fmt: skip
        steps.append(caption)
    if drawing["logo"]:
        steps.append(LogoOverlay(drawing["logo"], drawing["logo_position"], drawing["logo_width"]))
    if drawing["live_badge"]:
        mic = info.get("mic", lambda: False)
        steps.append(live_badge_step(lambda: bool(mic())))
    return steps
