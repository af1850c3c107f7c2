"""Real photographs that ship inside PyPI packages, for demos and benchmarks that run offline.

scikit-image (CC0 / public-domain photos) and scikit-learn (two CC BY 2.0 Flickr photos) install
them as package data; they are read where they lie, never copied into the repository.
"""

from __future__ import annotations

import importlib.util
import io
import random
from pathlib import Path

from PIL import Image

__all__ = ["make_imagefolder", "photo_paths"]

# (package, folder inside the package, file names) -- licences in ../shared/realdata/README.md
_SOURCES = [
    (
        "skimage",
        "data",
        [
            "astronaut.png",
            "chelsea.png",
            "coffee.png",
            "rocket.jpg",
            "hubble_deep_field.jpg",
            "retina.jpg",
        ],
    ),
    ("sklearn", "datasets/images", ["china.jpg", "flower.jpg"]),
]


def photo_paths() -> list[Path]:
    """Paths of the installed photos; raises if neither package is installed."""
    out = []
    for package, folder, names in _SOURCES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        base = Path(next(iter(spec.submodule_search_locations))) / folder
        out += [base / n for n in names if (base / n).exists()]
    if not out:
        raise RuntimeError("no photos found: pip install scikit-image scikit-learn")
    return out


def make_imagefolder(
    root: Path, n: int, classes: int = 10, seed: int = 0, short_side: tuple[int, int] = (300, 500)
) -> Path:
    """Write ``n`` ImageNet-like JPEGs (shorter side in ``short_side``) as ``root/class_k/img_i.jpg``,
    each a random crop, scale, flip and colour shift of a real photo."""
    rng = random.Random(seed)
    photos = [Image.open(p).convert("RGB") for p in photo_paths()]
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = photos[i % len(photos)]
        w, h = src.size
        cw, ch = rng.randint(w // 3, w), rng.randint(h // 3, h)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        img = src.crop((x, y, x + cw, y + ch))
        target = rng.randint(*short_side)
        scale = target / min(img.size)
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
            Image.Resampling.BILINEAR,
        )
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        r, g, b = (rng.uniform(0.8, 1.2) for _ in range(3))
        img = Image.merge(
            "RGB",
            [
                band.point(lambda v, f=f: min(255, int(v * f)))
                for band, f in zip(img.split(), (r, g, b), strict=True)
            ],
        )
        folder = root / f"class_{i % classes:02d}"
        folder.mkdir(exist_ok=True)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randint(85, 95))
        (folder / f"img_{i:06d}.jpg").write_bytes(buf.getvalue())
    return root
