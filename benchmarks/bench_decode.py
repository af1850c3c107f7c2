"""Which decoder for the fused RandomResizedCrop: the measurement behind imageops' choice.

    python benchmarks/bench_decode.py [--count 1000] [--rounds 5] [--short-side 300 500]

On ImageNet-like JPEGs (shorter side 300-500 px, made from the photos that ship with
scikit-image and scikit-learn), one thread, the same crop boxes for every variant, 224 x 224
output with flip:

1. Pillow: full decode, resize of the box (what a plain webdataset pipeline does)
2. Pillow draft: DCT-scaled decode (``Image.draft``), resize of the box
3. simplejpeg + Pillow resize: DCT-scaled decode, Pillow's resize of the box
4. simplejpeg + torch resize: the whole image at the DCT scale, the box cut out and resized
   (``RandomResizedCrop(region_decode=False)``, and the path without the extension)
5. region decode + torch resize: only the crop window, through the ``_jpegregion`` extension
   (libjpeg-turbo's jpeg_skip_scanlines / jpeg_crop_scanline): what ``RandomResizedCrop`` runs
6. PyTurboJPEG lossless crop + scaled decode + torch resize (``TurboJPEG.crop`` to the iMCU
   grid around the box, then ``decode`` at the DCT scale): the maintained binding's way to
   decode a window, where the package and libturbojpeg are installed (PyTurboJPEG 1.x for
   libjpeg-turbo 2.x, as Debian 12's libturbojpeg0 is; 2.x needs libjpeg-turbo 3)

Rounds alternate the variants, each round with its own boxes. Reported: CPU ms per image
(median and range over the rounds), images/s and the ratio to (1), the largest difference
in grey levels of (5) and (6) from (4) over all outputs, and the decode alone (no resize) of
(4) against (5), alternating.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import statistics
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
from visiondata.loaders._decode import imageops
from visiondata.loaders._decode.cropbox import CropBox, random_resized_crop_box, reduction_for
from visiondata.loaders._decode.imageops import MAX_PIXELS, _decode_region, resize_crop

OUT = 224
Variant = Callable[[bytes, CropBox], np.ndarray]


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


def _decode(data: bytes, box: CropBox, region: bool) -> tuple[np.ndarray, CropBox]:
    """imageops' own decode of ``box``: (pixels, box in their coordinates)."""
    arr, scaled, _ = _decode_region(data, lambda w, h: box, OUT, OUT, MAX_PIXELS, True, region)
    return arr, scaled


def sj_pil(data: bytes, box: CropBox) -> np.ndarray:
    arr, b = _decode(data, box, False)
    return _pil_resize(Image.fromarray(arr), b)


def sj_torch(data: bytes, box: CropBox) -> np.ndarray:
    arr, b = _decode(data, box, False)
    return resize_crop(arr, b, (OUT, OUT)).numpy()


def region_torch(data: bytes, box: CropBox) -> np.ndarray:
    arr, b = _decode(data, box, True)
    return resize_crop(arr, b, (OUT, OUT)).numpy()


#: TurboJPEG's TJSAMP_* -> iMCU (width, height) in pixels
_IMCU = {0: (8, 8), 1: (16, 8), 2: (16, 16), 3: (8, 8), 4: (8, 16), 5: (32, 8)}


def turbojpeg_variant() -> tuple[Variant | None, str]:
    """PyTurboJPEG's window decode, or None and why it is not available."""
    try:
        import turbojpeg  # type: ignore[import-not-found]

        tj = turbojpeg.TurboJPEG()
    except Exception as exc:  # package or libturbojpeg missing, or the wrong major version
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    flags = turbojpeg.TJFLAG_FASTDCT | turbojpeg.TJFLAG_FASTUPSAMPLE

    def run(data: bytes, box: CropBox) -> np.ndarray:
        w, h, sub, _ = tj.decode_header(data)
        mw, mh = _IMCU.get(sub, (16, 16))
        left, top = int(box.left) // mw * mw, int(box.top) // mh * mh
        right = min(w, math.ceil((box.left + box.width) / mw) * mw)
        bottom = min(h, math.ceil((box.top + box.height) / mh) * mh)
        window = tj.crop(data, left, top, right - left, bottom - top, preserve=True)
        r = reduction_for(box, OUT, OUT)
        arr = tj.decode(
            window,
            pixel_format=turbojpeg.TJPF_RGB,
            scaling_factor=(1, r) if r > 1 else None,
            flags=flags,
        )
        sw, sh = math.ceil(w / r), math.ceil(h / r)
        s = box.scaled(sw / w, sh / h)
        b = CropBox(s.left - left / r, s.top - top / r, s.width, s.height, box.flip)
        return resize_crop(arr, b, (OUT, OUT)).numpy()

    return run, ""


def _boxes(images: list[bytes], seed: int) -> list[CropBox]:
    rng = random.Random(seed)
    out = []
    for data in images:
        w, h = Image.open(io.BytesIO(data)).size
        b = random_resized_crop_box(w, h, rng)
        out.append(CropBox(round(b.left), round(b.top), round(b.width), round(b.height), b.flip))
    return out


def _cpu_ms(fn: Variant, images: list[bytes], boxes: list[CropBox]) -> float:
    t0 = time.process_time()
    for data, box in zip(images, boxes, strict=True):
        fn(data, box)
    return (time.process_time() - t0) / len(images) * 1e3


def _largest_difference(fn: Variant, images: list[bytes], boxes: list[CropBox]) -> int:
    worst = 0
    for data, box in zip(images, boxes, strict=True):
        ref = sj_torch(data, box).astype(int)
        worst = max(worst, int(np.abs(fn(data, box).astype(int) - ref).max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--short-side", type=int, nargs=2, default=(300, 500), help="range of the shorter side"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)  # one loader worker's view
    with tempfile.TemporaryDirectory() as tmp:
        make_imagefolder(Path(tmp), args.count, short_side=tuple(args.short_side))
        images = [p.read_bytes() for p in sorted(Path(tmp).rglob("*.jpg"))]
    variants: dict[str, Variant] = {
        "Pillow full decode + resize": pil_full,
        "Pillow draft + resize": pil_draft,
        "simplejpeg scaled + Pillow resize": sj_pil,
        "simplejpeg scaled, whole + torch resize": sj_torch,
    }
    if imageops.REGION_DECODE:
        variants["region decode + torch resize (imageops)"] = region_torch
    tj, why = turbojpeg_variant()
    if tj is not None:
        variants["PyTurboJPEG lossless crop + scaled decode"] = tj
    ms: dict[str, list[float]] = {name: [] for name in variants}
    for k in range(args.rounds):  # alternating: every variant in every round, own boxes
        boxes = _boxes(images, k)
        for name, fn in variants.items():
            ms[name].append(_cpu_ms(fn, images, boxes))
    check = _boxes(images, 10_000)
    boxes = _boxes(images, 0)
    reduced = [reduction_for(b, OUT, OUT) for b in boxes]
    low, high = args.short_side
    print(
        f"{len(images)} JPEGs, shorter side {low}-{high} px, RandomResizedCrop to {OUT}, "
        f"one thread, {args.rounds} alternating rounds"
    )
    print(
        "DCT reduction per crop: "
        + ", ".join(f"1/{r}: {reduced.count(r) / len(reduced):.0%}" for r in (1, 2, 4, 8))
    )
    base = statistics.median(ms["Pillow full decode + resize"])
    whole = statistics.median(ms["simplejpeg scaled, whole + torch resize"])
    for name, values in ms.items():
        med = statistics.median(values)
        line = (
            f"{name:<44} {med:6.3f} CPU ms/image ({min(values):.3f}-{max(values):.3f})  "
            f"{1e3 / med:7.1f} images/s  {base / med:5.2f}x Pillow  {whole / med:5.2f}x whole"
        )
        if name.startswith(("region", "PyTurboJPEG")):
            line += f"  max diff {_largest_difference(variants[name], images, check)} grey levels"
        print(line)
    if imageops.REGION_DECODE:  # the decode alone, without the (equal) resize
        whole_ms, region_ms = [], []
        for k in range(args.rounds):
            boxes = _boxes(images, 100 + k)
            whole_ms.append(_cpu_ms(lambda d, b: _decode(d, b, False)[0], images, boxes))
            region_ms.append(_cpu_ms(lambda d, b: _decode(d, b, True)[0], images, boxes))
        w, r = statistics.median(whole_ms), statistics.median(region_ms)
        print(
            f"decode alone: whole {w:.3f} CPU ms/image ({min(whole_ms):.3f}-{max(whole_ms):.3f}), "
            f"region {r:.3f} ({min(region_ms):.3f}-{max(region_ms):.3f}): {1 - r / w:.0%} less"
        )
    else:
        print("region decode: the _jpegregion extension is not built (see setup.py)")
    if tj is None:
        print(f"PyTurboJPEG: skipped ({why})")


if __name__ == "__main__":
    main()
