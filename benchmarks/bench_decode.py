"""Which decoder for the fused RandomResizedCrop: the measurement behind imageops' choice.

    python benchmarks/bench_decode.py [--count 300] [--repeat 3] [--short-side 300 500]

On ImageNet-like JPEGs (shorter side 300-500 px, made from the photos that ship with
scikit-image and scikit-learn), one thread, the same crop boxes for every variant, 224 x 224
output with flip:

1. Pillow: full decode, resize of the box (what a plain webdataset pipeline does)
2. Pillow draft: DCT-scaled decode (``Image.draft``), resize of the box
3. simplejpeg + Pillow resize: DCT-scaled decode, Pillow's resize of the box
4. simplejpeg + torch resize: what ``imageops.RandomResizedCrop`` runs
5. PyTurboJPEG (scaled decode + torch resize), where the package and libturbojpeg are installed

Reported: images/s of each and the ratio to (1), best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from photos import make_imagefolder
from visiondata.loaders._decode.cropbox import CropBox, random_resized_crop_box, reduction_for
from visiondata.loaders._decode.imageops import (
    MAX_PIXELS,
    RandomResizedCrop,
    _decode_region,
    resize_crop,
)

OUT = 224


def _pil_resize(img: Image.Image, box: CropBox) -> np.ndarray:
    """Pillow's resize of ``box`` (in ``img``'s pixels, clamped: DCT scaling can overshoot)."""
    left, top, right, bottom = box.as_ltrb()
    clamped = (max(left, 0), max(top, 0), min(right, img.width), min(bottom, img.height))
    out = img.resize((OUT, OUT), Image.Resampling.BILINEAR, box=clamped)
    if box.flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(out)


def pil_full(data: bytes, box: CropBox) -> np.ndarray:
    return _pil_resize(Image.open(io.BytesIO(data)).convert("RGB"), box)


def pil_draft(data: bytes, box: CropBox) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    w, h = img.size
    r = reduction_for(box, OUT, OUT)
    if r > 1:
        img.draft("RGB", (math.ceil(w / r), math.ceil(h / r)))
    img = img.convert("RGB")
    return _pil_resize(img, box.scaled(img.width / w, img.height / h))


def _sj_decode(data: bytes, box: CropBox) -> tuple[np.ndarray, CropBox]:
    """imageops' own DCT-scaled simplejpeg decode of ``box``: (pixels, box in their coordinates)."""
    arr, scaled, _ = _decode_region(data, lambda w, h: box, OUT, OUT, MAX_PIXELS, True)
    return arr, scaled


def sj_pil(data: bytes, box: CropBox) -> np.ndarray:
    arr, b = _sj_decode(data, box)
    return _pil_resize(Image.fromarray(arr), b)


def sj_torch(data: bytes, box: CropBox) -> np.ndarray:
    arr, b = _sj_decode(data, box)
    return resize_crop(arr, b, (OUT, OUT)).numpy()


def turbojpeg_variant() -> Callable[[bytes, CropBox], np.ndarray] | None:
    try:
        from turbojpeg import TJPF_RGB, TurboJPEG  # type: ignore[import-not-found]

        tj = TurboJPEG()
    except Exception:  # package or libturbojpeg missing
        return None

    def run(data: bytes, box: CropBox) -> np.ndarray:
        w, h, _, _ = tj.decode_header(data)
        r = reduction_for(box, OUT, OUT)
        arr = tj.decode(data, pixel_format=TJPF_RGB, scaling_factor=(1, r))
        b = box.scaled(arr.shape[1] / w, arr.shape[0] / h)
        return resize_crop(arr, b, (OUT, OUT)).numpy()

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--short-side", type=int, nargs=2, default=(300, 500), help="range of the shorter side"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)  # one loader worker's view
    with tempfile.TemporaryDirectory() as tmp:
        make_imagefolder(Path(tmp), args.count, short_side=tuple(args.short_side))
        images = [p.read_bytes() for p in sorted(Path(tmp).rglob("*.jpg"))]
    rng = random.Random(0)
    boxes = []
    for data in images:
        w, h = Image.open(io.BytesIO(data)).size
        boxes.append(random_resized_crop_box(w, h, rng))
    variants: list[tuple[str, Callable[[bytes, CropBox], np.ndarray]]] = [
        ("Pillow full decode + resize", pil_full),
        ("Pillow draft + resize", pil_draft),
        ("simplejpeg scaled + Pillow resize", sj_pil),
        ("simplejpeg scaled + torch resize (imageops)", sj_torch),
    ]
    tj = turbojpeg_variant()
    if tj is not None:
        variants.append(("PyTurboJPEG scaled + torch resize", tj))
    rates = {}
    for name, fn in variants:
        best = math.inf
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            for data, box in zip(images, boxes, strict=True):
                fn(data, box)
            best = min(best, time.perf_counter() - t0)
        rates[name] = len(images) / best
    # the shipped transform, end to end (its own crop boxes, same distribution)
    rrc = RandomResizedCrop((OUT, OUT))
    t0 = time.perf_counter()
    for i, data in enumerate(images):
        rrc.apply(data, random.Random(i))
    rates["imageops.RandomResizedCrop.apply"] = len(images) / (time.perf_counter() - t0)
    base = rates["Pillow full decode + resize"]
    reduced = [reduction_for(b, OUT, OUT) for b in boxes]
    low, high = args.short_side
    print(
        f"{len(images)} JPEGs, shorter side {low}-{high} px, RandomResizedCrop to {OUT}, one thread"
    )
    print(
        "DCT reduction per crop: "
        + ", ".join(f"1/{r}: {reduced.count(r) / len(reduced):.0%}" for r in (1, 2, 4, 8))
    )
    for name, rate in rates.items():
        print(f"{name:<46} {rate:8.1f} images/s  {rate / base:5.2f}x")
    if tj is None:
        print("PyTurboJPEG: not installed (pip install PyTurboJPEG, needs libturbojpeg)")


if __name__ == "__main__":
    main()
