"""Decoding fused with cropping: RandomResizedCrop / resize + centre crop from encoded bytes.

The crop box is chosen from the header's size before any pixel is decoded. JPEGs are then
decoded by libjpeg-turbo at the smallest DCT scale that still covers the crop at the output
size, and only the crop window: the region decoder (the compiled ``_jpegregion`` extension,
built when a C compiler and libjpeg-turbo's headers are there at install time) skips the rows
above and below the box and decodes only the iMCU columns that cover it, about a quarter less
CPU than decoding the whole image, with the same pixels. Without the extension (see
:data:`REGION_DECODE`) or with ``region_decode=False``, simplejpeg decodes the whole image
at that scale and the box is cut out of it. The box is resized by torch's uint8 antialiased
bilinear resize (measured about 3x faster than Pillow's for 224 px crops of 300-500 px
photos). PNG, WebP, CMYK and anything libjpeg-turbo cannot take go through Pillow (with draft
mode for JPEG). Output: uint8 HWC numpy arrays or, from the loader-facing ``__call__``, uint8
CHW tensors. Masks and boxes follow the same crop.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from ..errors import ImageDecodeError
from ..shards.media import check_mask, check_pixels, open_image
from ..shards.members import MAX_PIXELS
from .cropbox import CropBox, center_crop_box, random_resized_crop_box, reduction_for
from .planar import planar

__all__ = [
    "REGION_DECODE",
    "CenterCrop",
    "ColorJitter",
    "GaussianBlur",
    "ImageDecodeError",
    "RandomGrayscale",
    "RandomResizedCrop",
    "crop_boxes",
    "crop_mask",
    "resize_crop",
    "to_chw_tensor",
]

_JPEG_MAGIC = b"\xff\xd8\xff"

try:  # libjpeg-turbo with DCT scaling; optional, Pillow is the fallback
    import simplejpeg as _sj
except ImportError:  # pragma: no cover - simplejpeg is part of the loaders extra
    _sj = None

try:  # the compiled region decoder (setup.py); optional, simplejpeg's whole decode is the fallback
    from . import _jpegregion
except ImportError:  # pragma: no cover - built wherever a compiler and the headers are
    _jpegregion = None  # type: ignore[assignment]

#: whether JPEGs are decoded just in the crop window (the ``_jpegregion`` extension is built)
REGION_DECODE = _jpegregion is not None
#: decoded pixels kept around the box on every side, so chroma upsampling at the edge of the
#: decoded region never reaches the box: the box's pixels equal those of a whole decode
_REGION_MARGIN = 2
#: the widest iMCU (4:1:1 sampling: 32 pixels); the region decoder may start this far left
_MAX_IMCU = 32


def _jpeg_header(data: bytes) -> tuple[int, int, str] | None:
    """(width, height, colorspace) from a JPEG header via simplejpeg, or None if not usable."""
    if _sj is None or not data.startswith(_JPEG_MAGIC):
        return None
    try:
        height, width, colorspace, _ = _sj.decode_jpeg_header(data)
    except ValueError:
        return None
    return int(width), int(height), str(colorspace)


def _decode_region(
    data: bytes,
    choose: Callable[[int, int], CropBox],
    out_w: int,
    out_h: int,
    limit: int,
    fast: bool,
    region: bool = True,
) -> tuple[np.ndarray, CropBox, tuple[int, int]]:
    """Decode just enough of ``data`` for the crop ``choose(width, height)`` at the output size.

    Returns the decoded (possibly DCT-reduced, possibly cut to the box) image as uint8 RGB
    (H, W, 3), the crop box in its coordinates and the original size."""
    head = _jpeg_header(data)
    if head is not None and head[2] in ("RGB", "YCbCr", "Gray"):
        width, height, _ = head
        check_pixels(width, height, limit)
        box = choose(width, height)
        r = reduction_for(box, out_w, out_h)
        try:
            if region and _jpegregion is not None:
                arr, scaled = _jpeg_window(_jpegregion, data, width, height, box, r, fast)
                return arr, scaled, (width, height)
            arr = _sj.decode_jpeg(  # type: ignore[union-attr]
                data,
                colorspace="RGB",
                fastdct=fast,
                fastupsample=fast,
                min_height=math.ceil(height / r),
                min_width=math.ceil(width / r),
                min_factor=1,
            )
        except ValueError as exc:
            raise ImageDecodeError(f"corrupt JPEG: {exc}") from None
        return arr, box.scaled(arr.shape[1] / width, arr.shape[0] / height), (width, height)
    img = open_image(data, limit)
    width, height = img.size
    box = choose(width, height)
    if img.format == "JPEG":
        r = reduction_for(box, out_w, out_h)
        if r > 1:
            img.draft("RGB", (math.ceil(width / r), math.ceil(height / r)))
    try:
        img.load()
    except Exception as exc:
        raise ImageDecodeError(f"corrupt {img.format or 'image'} data: {exc}") from None
    rgb = np.array(_to_rgb(img))  # writable: torch shares it
    return rgb, box.scaled(rgb.shape[1] / width, rgb.shape[0] / height), (width, height)


def _pixel_box(box: CropBox, width: int, height: int) -> tuple[int, int, int, int]:
    """``box`` rounded to whole pixels of a ``width`` x ``height`` image, at least one pixel,
    as (left, top, right, bottom): the rounding :func:`resize_crop` applies."""
    left = min(max(round(box.left), 0), width - 1)
    top = min(max(round(box.top), 0), height - 1)
    right = max(min(round(box.left + box.width), width), left + 1)
    bottom = max(min(round(box.top + box.height), height), top + 1)
    return left, top, right, bottom


def _jpeg_window(
    decoder: Any, data: bytes, width: int, height: int, box: CropBox, r: int, fast: bool
) -> tuple[np.ndarray, CropBox]:
    """The pixels of ``box`` (source pixels) at DCT scale 1/``r``, with a small margin, decoded
    by the region decoder; and the box, in whole pixels of the returned array."""
    sw, sh = math.ceil(width / r), math.ceil(height / r)  # libjpeg's scaled size
    left, top, right, bottom = _pixel_box(box.scaled(sw / width, sh / height), sw, sh)
    x0, y0 = max(0, left - _REGION_MARGIN), max(0, top - _REGION_MARGIN)
    x1, y1 = min(sw, right + _REGION_MARGIN), min(sh, bottom + _REGION_MARGIN)
    cols = min(sw, x1 - x0 + _MAX_IMCU)
    out = np.empty((y1 - y0, cols, 3), np.uint8)
    xoff, got = decoder.decode_region(data, out, cols * 3, r, fast, x0, y0, x1 - x0, y1 - y0)
    return out[:, :got], CropBox(left - xoff, top - y0, right - left, bottom - top, box.flip)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")  # L, I, CMYK (Pillow handles Adobe's inverted CMYK JPEGs)


def resize_crop(
    arr: np.ndarray, box: CropBox, size: tuple[int, int], contiguous: bool = True
) -> Any:
    """Crop ``box`` (rounded to whole pixels) out of an RGB (H, W, 3) array, resize it to
    ``size`` (height, width) with antialiased bilinear filtering, flip it if the box says so,
    and return a uint8 (3, H, W) tensor: contiguous, or with ``contiguous=False`` in whatever
    layout it came out (channels-last), for a caller that copies it anyway.

    torch's uint8 antialiased resize does the work (about 3x faster than Pillow's here, and
    within one grey level of it). It is given the box as channels-last contiguous pixels:
    handed the cut-out view itself, it takes a slower path and writes planar pixels, 220 us
    against 140 (plus 11 for the copy) for a 296 x 297 box to 224 x 224, measured; the same
    pixels either way. The planar layout is then one copy: :meth:`Tensor.contiguous` here, or
    the batch's own row copy (:class:`~visiondata.loaders._decode.collate.Stacker`), which
    then moves the pixels once instead of twice."""
    import torch
    import torch.nn.functional as F

    height, width = arr.shape[:2]
    left, top, right, bottom = _pixel_box(box, width, height)
    view = torch.from_numpy(arr).permute(2, 0, 1)[:, top:bottom, left:right].unsqueeze(0)
    if (bottom - top, right - left) == tuple(size):
        out = view
    else:
        out = F.interpolate(
            view.contiguous(memory_format=torch.channels_last),
            size=tuple(size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
    out = out.squeeze(0)
    if contiguous:
        return planar(out, box.flip)  # the flip folded into the copy
    return out.flip(2) if box.flip else out


@dataclass
class _Fused:
    size: tuple[int, int]  # (height, width) of the output
    augment: Sequence[Callable[[Image.Image, random.Random], Image.Image]] = ()
    #: refuse images above this many pixels; ``None``: the loader's ``max_pixels`` (bound when
    #: the loader is built), or :data:`~visiondata.loaders.shards.members.MAX_PIXELS` alone
    max_pixels: int | None = None
    fast_dct: bool = True
    #: decode only the crop window (when the region decoder is built, :data:`REGION_DECODE`);
    #: ``False``: decode the whole image and cut the box out (the same pixels, more CPU)
    region_decode: bool = field(default=True, kw_only=True)

    def _choose(self, width: int, height: int, rng: random.Random) -> CropBox:
        raise NotImplementedError

    def run(
        self, data: bytes, rng: random.Random, contiguous: bool = True
    ) -> tuple[Any, CropBox, tuple[int, int]]:
        """Decode ``data``: (uint8 (3, H, W) tensor, crop box in source pixels, source size).
        ``contiguous=False``: the tensor in the layout it came out in (see :func:`resize_crop`)."""
        out_h, out_w = self.size
        chosen: list[CropBox] = []

        def choose(w: int, h: int) -> CropBox:
            b = self._choose(w, h, rng)  # whole source pixels, so masks and boxes align exactly
            chosen.append(
                CropBox(
                    round(b.left),
                    round(b.top),
                    max(1, round(b.width)),
                    max(1, round(b.height)),
                    b.flip,
                )
            )
            return chosen[-1]

        limit = self.max_pixels if self.max_pixels is not None else MAX_PIXELS
        arr, box, src = _decode_region(
            data, choose, out_w, out_h, limit, self.fast_dct, self.region_decode
        )
        out = resize_crop(arr, box, self.size, contiguous=contiguous and not self.augment)
        if self.augment:
            img = Image.fromarray(np.ascontiguousarray(out.permute(1, 2, 0).numpy()))
            for aug in self.augment:
                img = aug(img, rng)
                if img.mode != "RGB":
                    img = img.convert("RGB")
            out = to_chw_tensor(np.array(img))
            if contiguous:
                out = out.contiguous()
        return out, chosen[0], src

    def apply(self, data: bytes, rng: random.Random) -> tuple[np.ndarray, CropBox, tuple[int, int]]:
        """Like :meth:`run`, with the image as a uint8 (H, W, 3) array."""
        out, box, src = self.run(data, rng)
        return out.permute(1, 2, 0).numpy(), box, src

    #: the loader passes a per-sample ``random.Random`` (seeded by seed, epoch and key)
    takes_rng = True

    def __call__(self, data: bytes, rng: random.Random | None = None) -> Any:
        """Decode and crop ``data`` into a contiguous uint8 CHW tensor."""
        return self.run(data, rng or random.Random())[0]

    def strided(self, data: bytes, rng: random.Random) -> Any:
        """The same pixels as ``self(data, rng)``, in whatever layout they came out
        (channels-last): the loader's decoder where the sample goes straight into a batch,
        whose row copy makes them planar (see :func:`resize_crop`)."""
        return self.run(data, rng, contiguous=False)[0]


@dataclass
class RandomResizedCrop(_Fused):
    """Training transform: RandomResizedCrop(size, scale, ratio) + horizontal flip, fused with
    decoding. ``augment`` callables ``(PIL image, rng) -> PIL image`` run after the crop."""

    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5

    def __post_init__(self) -> None:
        _check_size(self.size)
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {self.scale}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"ratio must satisfy 0 < min <= max, got {self.ratio}")

    def _choose(self, width: int, height: int, rng: random.Random) -> CropBox:
        return random_resized_crop_box(width, height, rng, self.scale, self.ratio, self.flip_p)


@dataclass
class CenterCrop(_Fused):
    """Eval transform: resize the shorter side to ``resize`` (default size/0.875), centre-crop."""

    resize: int | None = None

    def __post_init__(self) -> None:
        _check_size(self.size)

    def _choose(self, width: int, height: int, rng: random.Random) -> CropBox:
        crop = min(self.size)
        resize = self.resize or round(crop / 0.875)
        box = center_crop_box(width, height, resize, crop)
        if self.size[0] != self.size[1]:  # non-square output: keep the output's aspect ratio
            s = resize / min(width, height)
            w = min(self.size[1] / s, width)
            h = min(self.size[0] / s, height)
            box = CropBox((width - w) / 2, (height - h) / 2, w, h)
        return box


def _check_size(size: tuple[int, int]) -> None:
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"size must be (height, width) with positive values, got {size}")


# -- augmentations for domain randomization ---------------------------------------------------


@dataclass
class ColorJitter:
    """Random brightness, contrast and saturation factors in [1 - x, 1 + x]."""

    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4

    def __call__(self, img: Image.Image, rng: random.Random) -> Image.Image:
        from PIL import ImageEnhance

        for amount, enhancer in (
            (self.brightness, ImageEnhance.Brightness),
            (self.contrast, ImageEnhance.Contrast),
            (self.saturation, ImageEnhance.Color),
        ):
            if amount > 0:
                img = enhancer(img).enhance(rng.uniform(max(0.0, 1 - amount), 1 + amount))
        return img


@dataclass
class RandomGrayscale:
    p: float = 0.1

    def __call__(self, img: Image.Image, rng: random.Random) -> Image.Image:
        return img.convert("L").convert("RGB") if rng.random() < self.p else img


@dataclass
class GaussianBlur:
    sigma: tuple[float, float] = (0.1, 2.0)
    p: float = 0.5

    def __call__(self, img: Image.Image, rng: random.Random) -> Image.Image:
        if rng.random() < self.p:
            return img.filter(ImageFilter.GaussianBlur(rng.uniform(*self.sigma)))
        return img


# -- masks and boxes follow the crop ----------------------------------------------------------


def crop_mask(
    data: bytes,
    box: CropBox,
    src_size: tuple[int, int],
    size: tuple[int, int],
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Apply the image's crop to a segmentation-mask PNG: nearest-neighbour, integer labels kept."""
    img = open_image(data, max_pixels)
    check_mask(img)  # the one rule, shared with the whole-mask decoder and shards verify
    if img.mode == "I;16":
        img = img.convert("I")
    elif img.mode == "1":  # bilevel: labels 0 and 1, as the whole-mask decoder gives them
        img = img.convert("L").point(lambda v: 1 if v else 0)
    sx, sy = img.width / src_size[0], img.height / src_size[1]
    b = box.scaled(sx, sy)
    out = img.resize((size[1], size[0]), Image.Resampling.NEAREST, box=b.as_ltrb())
    if box.flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.array(out)


def crop_boxes(
    boxes: np.ndarray, box: CropBox, size: tuple[int, int], min_size: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Map ``boxes`` (N x 4, x0 y0 x1 y1 in source pixels) through the crop into output pixels.

    Boxes are clipped to the crop; those left smaller than ``min_size`` output pixels on a side
    are dropped. Returns (kept boxes as float32 N' x 4, indices of the kept input boxes)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out_h, out_w = size
    sx, sy = out_w / box.width, out_h / box.height
    x0 = (np.clip(b[:, 0], box.left, box.left + box.width) - box.left) * sx
    x1 = (np.clip(b[:, 2], box.left, box.left + box.width) - box.left) * sx
    y0 = (np.clip(b[:, 1], box.top, box.top + box.height) - box.top) * sy
    y1 = (np.clip(b[:, 3], box.top, box.top + box.height) - box.top) * sy
    if box.flip:
        x0, x1 = out_w - x1, out_w - x0
    keep = np.nonzero((x1 - x0 >= min_size) & (y1 - y0 >= min_size))[0]
    out = np.stack([x0, y0, x1, y1], axis=1)[keep].astype(np.float32)
    return out, keep


def to_chw_tensor(arr: np.ndarray) -> Any:
    """HWC uint8 array -> CHW uint8 torch tensor (a view; no copy)."""
    import torch

    t = torch.from_numpy(arr)
    return t.permute(2, 0, 1) if t.ndim == 3 else t.unsqueeze(0)
