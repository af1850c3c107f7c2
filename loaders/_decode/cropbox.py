"""Crop-box arithmetic for RandomResizedCrop and centre crops. Pure functions, no I/O.

The box is chosen from the image size alone (read from the file header), before any pixel
is decoded, so the decoder can pick the smallest DCT scale that still covers it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["CropBox", "center_crop_box", "random_resized_crop_box", "reduction_for"]


@dataclass(frozen=True)
class CropBox:
    """A crop ``(left, top, width, height)`` in source pixels, and whether to flip it."""

    left: float
    top: float
    width: float
    height: float
    flip: bool = False

    def scaled(self, factor_x: float, factor_y: float) -> CropBox:
        return CropBox(
            self.left * factor_x,
            self.top * factor_y,
            self.width * factor_x,
            self.height * factor_y,
            self.flip,
        )

    def as_ltrb(self) -> tuple[float, float, float, float]:
        return (self.left, self.top, self.left + self.width, self.top + self.height)


def random_resized_crop_box(
    width: int,
    height: int,
    rng: random.Random,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip_p: float = 0.5,
) -> CropBox:
    """torchvision's RandomResizedCrop.get_params, driven by ``rng`` (10 tries, then a centre
    crop clamped to ``ratio``), plus a horizontal-flip draw."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    box: CropBox | None = None
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = rng.randint(0, height - h)
            left = rng.randint(0, width - w)
            box = CropBox(left, top, w, h)
            break
    if box is None:
        in_ratio = width / height
        if in_ratio < ratio[0]:
            w, h = width, round(width / ratio[0])
        elif in_ratio > ratio[1]:
            w, h = round(height * ratio[1]), height
        else:
            w, h = width, height
        box = CropBox((width - w) // 2, (height - h) // 2, w, h)
    flip = rng.random() < flip_p
    return CropBox(box.left, box.top, box.width, box.height, flip)


def center_crop_box(width: int, height: int, resize: int, crop: int) -> CropBox:
    """The source-pixel box that "resize the shorter side to ``resize``, then centre-crop
    ``crop`` x ``crop``" selects."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    s = resize / min(width, height)
    side = crop / s
    side_w = min(side, width)
    side_h = min(side, height)
    return CropBox((width - side_w) / 2, (height - side_h) / 2, side_w, side_h)


def reduction_for(box: CropBox, out_w: int, out_h: int, max_reduction: int = 8) -> int:
    """The largest JPEG DCT reduction (1, 2, 4 or 8) that keeps the crop at least the output size."""
    r = 1
    while r * 2 <= max_reduction and box.width / (r * 2) >= out_w and box.height / (r * 2) >= out_h:
        r *= 2
    return r
