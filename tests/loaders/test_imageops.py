"""Fused decode + crop: equal to decoding fully and cropping, on real JPEGs and fallbacks."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from visiondata.loaders._decode.cropbox import (
    CropBox,
    center_crop_box,
    random_resized_crop_box,
    reduction_for,
)
from visiondata.loaders._decode.imageops import (
    CenterCrop,
    ColorJitter,
    GaussianBlur,
    RandomGrayscale,
    RandomResizedCrop,
    crop_boxes,
    crop_mask,
    resize_crop,
    to_chw_tensor,
)
from visiondata.loaders.errors import DecompressionBombError, ImageDecodeError

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
COCO = sorted((REALDATA / "coco" / "val2017").glob("*.jpg"))


def _reference(data: bytes, box: CropBox, size: tuple[int, int]) -> np.ndarray:
    """Decode the whole image with Pillow, then crop and resize: what the fused path saves."""
    img = np.array(Image.open(io.BytesIO(data)).convert("RGB"))
    return resize_crop(img, box, size).permute(1, 2, 0).numpy()


def _pillow_crop(data: bytes, box: CropBox, size: tuple[int, int]) -> np.ndarray:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    out = img.resize((size[1], size[0]), Image.Resampling.BILINEAR, box=box.as_ltrb())
    if box.flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(out)


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_realdata_present() -> None:
    assert len(COCO) == 8, f"expected the COCO sample images under {REALDATA}"


@pytest.mark.parametrize("path", COCO, ids=[p.stem for p in COCO])
def test_fused_crop_equals_full_decode_then_crop_on_real_jpegs(path: Path) -> None:
    data = path.read_bytes()
    for seed in range(3):
        t = RandomResizedCrop((224, 224), fast_dct=False)
        out, box, src = t.apply(data, random.Random(seed))
        assert out.shape == (224, 224, 3) and out.dtype == np.uint8
        assert src == Image.open(io.BytesIO(data)).size
        if reduction_for(box, 224, 224) == 1:  # same pixels, bit for bit
            assert np.array_equal(out, _reference(data, box, (224, 224)))
        # and within a few grey levels of Pillow's own antialiased bilinear resize
        assert (
            np.abs(out.astype(int) - _pillow_crop(data, box, (224, 224)).astype(int)).mean() < 4.0
        )


def test_reduced_dct_decode_stays_close_to_full_decode() -> None:
    big = Image.open(COCO[0]).resize((1920, 1280))
    data = _encode(big, "JPEG", quality=92)
    t = RandomResizedCrop((224, 224), scale=(0.9, 1.0), fast_dct=False)
    out, box, _ = t.apply(data, random.Random(0))
    assert reduction_for(box, 224, 224) >= 4
    diff = np.abs(out.astype(int) - _reference(data, box, (224, 224)).astype(int))
    assert diff.mean() < 4.0  # scaled IDCT vs bilinear downscale: a few grey levels


@pytest.mark.parametrize(
    "mode,fmt",
    [("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "PNG"), ("P", "PNG"), ("RGB", "WEBP"), ("L", "PNG")],
)
def test_fallback_formats_give_rgb(mode: str, fmt: str) -> None:
    img = Image.open(COCO[1]).convert(mode)
    out = CenterCrop((96, 128)).apply(_encode(img, fmt), random.Random(0))[0]
    assert out.shape == (96, 128, 3) and out.dtype == np.uint8


def test_center_crop_is_deterministic_and_centred() -> None:
    data = COCO[2].read_bytes()
    a = CenterCrop((224, 224))(data)
    b = CenterCrop((224, 224))(data)
    assert tuple(a.shape) == (3, 224, 224) and bool((a == b).all())
    box = center_crop_box(640, 480, 256, 224)
    assert box.width == box.height == pytest.approx(224 * 480 / 256)
    assert box.left == pytest.approx((640 - box.width) / 2)


def test_corrupt_and_bomb_images_are_refused() -> None:
    data = COCO[0].read_bytes()
    with pytest.raises(ImageDecodeError, match=r"corrupt JPEG|not a readable image"):
        RandomResizedCrop((64, 64))(data[: len(data) // 3] + b"\x00" * 100, random.Random(0))
    with pytest.raises(ImageDecodeError, match="not a readable image"):
        CenterCrop((64, 64))(b"definitely not an image")
    huge = _encode(Image.new("L", (12000, 12000)), "PNG")
    with pytest.raises(DecompressionBombError, match="decompression bomb"):
        CenterCrop((64, 64), max_pixels=50_000_000)(huge)


def test_augmentations_run_and_keep_shape() -> None:
    t = RandomResizedCrop(
        (64, 64), augment=[ColorJitter(), RandomGrayscale(p=1.0), GaussianBlur(p=1.0)]
    )
    out = t.apply(COCO[3].read_bytes(), random.Random(1))[0]
    assert out.shape == (64, 64, 3)
    assert np.array_equal(out[..., 0], out[..., 1])  # grayscale applied
    chw = to_chw_tensor(out)
    assert tuple(chw.shape) == (3, 64, 64)


def test_masks_and_boxes_follow_the_crop() -> None:
    # A mask whose label is the column band: left half 1, right half 2.
    w, h = 200, 100
    mask = np.ones((h, w), np.uint8)
    mask[:, w // 2 :] = 2
    png = _encode(Image.fromarray(mask, "L"), "PNG")
    box = CropBox(50, 0, 100, 100, flip=False)
    out = crop_mask(png, box, (w, h), (10, 10))
    assert set(np.unique(out)) == {1, 2} and out[0, 0] == 1 and out[0, -1] == 2
    flipped = crop_mask(png, CropBox(50, 0, 100, 100, flip=True), (w, h), (10, 10))
    assert flipped[0, 0] == 2 and flipped[0, -1] == 1
    boxes = np.array([[60, 10, 90, 40], [0, 0, 20, 20], [140, 50, 199, 99]], np.float32)
    kept, idx = crop_boxes(boxes, box, (10, 10))
    assert idx.tolist() == [0, 2]
    assert kept[0].tolist() == pytest.approx([1.0, 1.0, 4.0, 4.0])
    kept_f, _ = crop_boxes(boxes, CropBox(50, 0, 100, 100, flip=True), (10, 10))
    assert kept_f[0].tolist() == pytest.approx([6.0, 1.0, 9.0, 4.0])


@settings(max_examples=300, deadline=None)
@given(
    w=st.integers(1, 4000),
    h=st.integers(1, 4000),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_crop_box_is_inside_the_image_and_deterministic(w: int, h: int, seed: int) -> None:
    a = random_resized_crop_box(w, h, random.Random(seed))
    b = random_resized_crop_box(w, h, random.Random(seed))
    assert a == b
    assert a.left >= 0 and a.top >= 0 and a.width > 0 and a.height > 0
    assert a.left + a.width <= w and a.top + a.height <= h
    r = reduction_for(a, 224, 224)
    assert r in (1, 2, 4, 8)
    assert r == 1 or (a.width / r >= 224 and a.height / r >= 224)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomResizedCrop((224, 224)),
        lambda: RandomResizedCrop((96, 160), scale=(0.5, 1.0)),
        lambda: CenterCrop((224, 224)),
        lambda: RandomResizedCrop((64, 64), augment=[ColorJitter(), GaussianBlur(p=1.0)]),
    ],
    ids=["rrc-224", "rrc-96x160", "center", "augmented"],
)
def test_strided_form_has_the_same_pixels_and_the_call_is_contiguous(make: object) -> None:
    """``strided`` (what the loader uses where the sample goes straight into a batch) gives
    the same pixels as the call, flips and same-size crops included; the call's tensor is
    contiguous, as its users expect."""
    t = make()  # type: ignore[operator]
    flips = 0
    for path in COCO[:6]:
        data = path.read_bytes()
        for seed in range(4):
            out = t(data, random.Random(seed))
            strided = t.strided(data, random.Random(seed))
            assert out.is_contiguous(), (path.name, seed)
            assert strided.shape == out.shape and strided.dtype == out.dtype
            assert torch.equal(strided, out), (path.name, seed)
            flips += t.run(data, random.Random(seed))[1].flip
    assert isinstance(t, CenterCrop) or flips > 0  # the flipped path was taken


def test_resize_crop_layouts_agree_for_same_size_and_flipped_boxes() -> None:
    arr = np.array(Image.open(COCO[0]).convert("RGB"))
    for box in (CropBox(3, 5, 64, 48), CropBox(3, 5, 64, 48, flip=True), CropBox(0, 0, 200, 150)):
        a = resize_crop(arr, box, (48, 64))
        b = resize_crop(arr, box, (48, 64), contiguous=False)
        assert a.is_contiguous() and torch.equal(a, b), box
