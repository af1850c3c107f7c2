"""Region decode: only the crop window of a JPEG is decoded, with the pixels of a whole decode.

Real photographs (the COCO sample) re-encoded in every chroma subsampling, progressive,
greyscale and at odd sizes; boxes from RandomResizedCrop and at the edges; every DCT scale;
the accurate and the fast IDCT/upsampling. The region path must agree with decoding the whole
image (simplejpeg, the fallback) and cutting the box out: within one grey level after the
resize, and the same refusals for damaged files wherever the box is.
"""

from __future__ import annotations

import io
import math
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from PIL import Image
from visiondata.loaders._decode import imageops
from visiondata.loaders._decode.cropbox import CropBox, random_resized_crop_box
from visiondata.loaders._decode.imageops import (
    REGION_DECODE,
    CenterCrop,
    RandomResizedCrop,
    _jpeg_window,
    _pixel_box,
    resize_crop,
)
from visiondata.loaders.errors import ImageDecodeError

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
COCO = sorted((REALDATA / "coco" / "val2017").glob("*.jpg"))


def test_the_region_decoder_is_built() -> None:
    # setup.py builds it where a C compiler and libjpeg-turbo's headers are (.ci/run installs
    # them); elsewhere the package works without it, but this suite must test it
    assert REGION_DECODE, (
        "visiondata.loaders._decode._jpegregion is not built: install gcc and libjpeg-turbo's "
        "headers (apt install gcc libjpeg62-turbo-dev), then pip install -e ."
    )
    assert imageops._jpegregion is not None
    assert imageops._jpegregion.BUILT_WITH >= 1005000  # jpeg_crop_scanline came in 1.5


def _encode(img: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def _variants() -> Iterator[tuple[str, bytes]]:
    """(name, JPEG bytes): the originals and re-encodings that exercise every decoder path."""
    assert len(COCO) == 8, f"expected the COCO sample images under {REALDATA}"
    for i, path in enumerate(COCO[:4]):
        data = path.read_bytes()
        yield f"{path.name}", data
        img = Image.open(io.BytesIO(data)).convert("RGB")
        odd = img.crop((3, 5, min(img.width, 3 + 333 + i), min(img.height, 5 + 257 + 2 * i)))
        yield f"{path.name}:444", _encode(img, quality=90, subsampling=0)
        yield f"{path.name}:422", _encode(img, quality=90, subsampling=1)
        yield f"{path.name}:420-odd", _encode(odd, quality=85, subsampling=2)
        yield f"{path.name}:progressive", _encode(img, quality=88, progressive=True)
        yield f"{path.name}:gray", _encode(img.convert("L"), quality=90)
        yield f"{path.name}:restart", _encode(odd, quality=80, restart_marker_blocks=3)


VARIANTS = list(_variants())


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """torch's resize on one thread, as in the loader's workers (two threads on a loaded
    2-core machine make each 224 px resize four times slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _boxes(width: int, height: int, rng: random.Random) -> Iterator[CropBox]:
    yield CropBox(0, 0, width, height)
    yield CropBox(0, 0, 1, 1)
    yield CropBox(width - 1, height - 1, 1, 1, flip=True)
    yield CropBox(width - 17, 0, 17, height)
    yield CropBox(0, height - 9, width, 9)
    for _ in range(12):
        b = random_resized_crop_box(width, height, rng)
        yield CropBox(round(b.left), round(b.top), round(b.width), round(b.height), b.flip)


def _whole(data: bytes, width: int, height: int, r: int, fast: bool) -> np.ndarray:
    return simplejpeg.decode_jpeg(
        data,
        colorspace="RGB",
        fastdct=fast,
        fastupsample=fast,
        min_height=math.ceil(height / r),
        min_width=math.ceil(width / r),
        min_factor=1,
    )


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "accurate"])
@pytest.mark.parametrize(("name", "data"), VARIANTS, ids=[n for n, _ in VARIANTS])
def test_window_pixels_equal_the_whole_decode(name: str, data: bytes, fast: bool) -> None:
    assert imageops._jpegregion is not None
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    rng = random.Random(name)
    for r in (1, 2, 4, 8):
        whole = _whole(data, width, height, r, fast)
        sh, sw = whole.shape[:2]
        for box in _boxes(width, height, rng):
            arr, got = _jpeg_window(imageops._jpegregion, data, width, height, box, r, fast)
            left, top, right, bottom = _pixel_box(box.scaled(sw / width, sh / height), sw, sh)
            assert (got.width, got.height) == (right - left, bottom - top)
            window = arr[int(got.top) : int(got.top + got.height), int(got.left) :][
                :, : right - left
            ]
            ref = whole[top:bottom, left:right]
            diff = np.abs(window.astype(int) - ref.astype(int)).max()
            assert diff <= 1, f"{name} r={r} box={box}: max difference {diff} grey levels"


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "accurate"])
@pytest.mark.parametrize(
    "make",
    [
        lambda fast: RandomResizedCrop((224, 224), fast_dct=fast),
        lambda fast: RandomResizedCrop((96, 128), scale=(0.02, 0.3), fast_dct=fast),
        lambda fast: CenterCrop((224, 224), fast_dct=fast),
        lambda fast: CenterCrop((64, 64), fast_dct=fast),
    ],
    ids=["rrc224", "rrc-small", "center224", "center64"],
)
def test_transform_output_within_one_grey_level_of_whole_then_crop(
    make: object, fast: bool
) -> None:
    region = make(fast)  # type: ignore[operator]
    whole = type(region)(**{**region.__dict__, "region_decode": False})
    assert region.region_decode and not whole.region_decode
    for name, data in VARIANTS[::2]:
        for seed in range(3):
            a = region(data, random.Random(f"{name}/{seed}"))
            b = whole(data, random.Random(f"{name}/{seed}"))
            assert a.shape == b.shape and a.dtype == b.dtype
            diff = int((a.int() - b.int()).abs().max())
            assert diff <= 1, f"{name} seed {seed}: {diff} grey levels from whole-then-crop"


def test_region_is_used_and_decodes_less(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transform goes through the region decoder, and asks it for the box's rows only."""
    assert imageops._jpegregion is not None
    calls: list[tuple[int, ...]] = []
    real = imageops._jpegregion

    class Spy:
        BUILT_WITH = real.BUILT_WITH

        @staticmethod
        def decode_region(*args: object) -> tuple[int, int]:
            calls.append(tuple(int(a) for a in args[2:]))  # type: ignore[call-overload]
            return real.decode_region(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(imageops, "_jpegregion", Spy)
    _, data = VARIANTS[0]
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    out = RandomResizedCrop((64, 64), scale=(0.05, 0.1))(data, random.Random(1))
    assert out.shape == (3, 64, 64)
    ((_, r, _, _, _, w, h),) = calls
    assert w < width / r and h < height / r  # a window, not the whole image


def _truncated(data: bytes) -> bytes:
    return data[: len(data) * 6 // 10]


def _zeroed_middle(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(200) + data[mid + 200 :]


@dataclass
class _FixedBox(RandomResizedCrop):
    """A 40 x 30 box at the top-left or the bottom-right corner."""

    corner: str = "top-left"

    def _choose(self, width: int, height: int, rng: random.Random) -> CropBox:
        if self.corner == "top-left":
            return CropBox(0, 0, 40, 30)
        return CropBox(width - 40, height - 30, 40, 30)


@pytest.mark.parametrize("damage", [_truncated, _zeroed_middle], ids=["truncated", "zeroed"])
@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
@pytest.mark.parametrize("region", [True, False], ids=["region", "whole"])
def test_damaged_file_refused_wherever_the_box_is(
    damage: object, corner: str, region: bool
) -> None:
    """A box at the top of a file damaged lower down is refused, as a whole decode refuses it:
    whether a sample is bad never depends on the random crop."""
    _, data = VARIANTS[0]
    bad = damage(data)  # type: ignore[operator]
    with pytest.raises(ValueError):
        simplejpeg.decode_jpeg(bad)
    t = _FixedBox((32, 32), corner=corner, region_decode=region)
    assert t(data, random.Random(0)).shape == (3, 32, 32)
    with pytest.raises(ImageDecodeError, match="corrupt JPEG"):
        t(bad, random.Random(0))


def test_bad_requests_are_refused_in_one_line() -> None:
    assert imageops._jpegregion is not None
    dec = imageops._jpegregion
    _, data = VARIANTS[0]
    _, width, _, _ = simplejpeg.decode_jpeg_header(data)
    out = bytearray(width * 3 * 10)
    with pytest.raises(ValueError, match="outside the"):
        dec.decode_region(data, out, width * 3, 1, True, width - 5, 0, 10, 10)
    with pytest.raises(ValueError, match="denom must be 1, 2, 4 or 8, got 3"):
        dec.decode_region(data, out, width * 3, 3, True, 0, 0, 10, 10)
    with pytest.raises(ValueError, match="too small"):
        dec.decode_region(data, bytearray(10), width * 3, 1, True, 0, 0, 10, 10)
    with pytest.raises(ValueError, match="Not a JPEG file"):
        dec.decode_region(b"hello world" * 10, out, width * 3, 1, True, 0, 0, 10, 10)


def test_threads_decode_in_parallel_with_the_same_pixels() -> None:
    """The decoder releases the GIL; concurrent decodes give the same results as serial ones."""
    t = RandomResizedCrop((128, 128))
    jobs = [(data, f"{name}/{k}") for name, data in VARIANTS for k in range(3)]
    serial = [t(data, random.Random(seed)) for data, seed in jobs]
    results: dict[int, object] = {}

    def work(offset: int) -> None:
        for i in range(offset, len(jobs), 4):
            data, seed = jobs[i]
            results[i] = t(data, random.Random(seed))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert len(results) == len(jobs)
    for i, ref in enumerate(serial):
        assert bool((results[i] == ref).all())  # type: ignore[attr-defined]


def test_resize_of_window_matches_resize_of_whole() -> None:
    """resize_crop on the window's whole-pixel box is resize_crop on the whole image's box."""
    _, data = VARIANTS[2]
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    assert imageops._jpegregion is not None
    whole = _whole(data, width, height, 1, True)
    box = CropBox(10.4, 7.5, 200.2, 150.5, flip=True)  # fractional: rounding must agree
    arr, got = _jpeg_window(imageops._jpegregion, data, width, height, box, 1, True)
    a = resize_crop(arr, got, (64, 64))
    b = resize_crop(whole, box, (64, 64))
    assert bool((a == b).all())
