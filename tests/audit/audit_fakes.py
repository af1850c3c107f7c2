"""Shard sets with planted facts for the audit tests, built with the real writer and manifest."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from visiondata.loaders.shards.manifest import (
    ConverterInfo,
    Manifest,
    ShardInfo,
    SplitInfo,
    write_manifest,
)
from visiondata.loaders.shards.writer import ShardWriter

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"

Sample = tuple[str, Mapping[str, bytes], int | None]  # key, members, label


def realdata(*parts: str) -> Path:
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"real test data not found at {path} (expected ../shared/realdata)")
    return path


def texture(
    seed: int, size: tuple[int, int] = (96, 72), grid: tuple[int, int] = (6, 8)
) -> Image.Image:
    """A smooth random colour field: distinct seeds give perceptually distinct images."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (*grid, 3), dtype=np.uint8)
    return Image.fromarray(low).resize(size, Image.Resampling.BICUBIC)


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def crop(im: Image.Image, share: float) -> Image.Image:
    w, h = im.size
    dx, dy = int(w * share), int(h * share)
    return im.crop((dx, dy, w - dx, h - dy))


def build(
    root: Path,
    splits: Mapping[str, Sequence[Sample]],
    *,
    classes: list[str] | None = None,
    per_shard: int = 10,
    card: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> Path:
    """Write ``root/{split}-{n:06d}.tar`` shards and ``root/manifest.json``."""
    root.mkdir(parents=True, exist_ok=True)
    infos: dict[str, SplitInfo] = {}
    for split, samples in splits.items():
        shards: list[ShardInfo] = []
        for n, start in enumerate(range(0, len(samples), per_shard)):
            with ShardWriter(root / f"{split}-{n:06d}.tar") as w:
                for key, members, label in samples[start : start + per_shard]:
                    w.write(key, members, label=label)
                shards.append(w.close())
        counts = None
        if classes is not None:
            counts = {str(i): sum(1 for s in samples if s[2] == i) for i in range(len(classes))}
        infos[split] = SplitInfo(num_samples=len(samples), shards=shards, class_counts=counts)
    manifest = Manifest(
        card=card,
        converter=ConverterInfo(name="test-fakes", version="0"),
        fields=dict(fields or {"jpg": "image", "cls": "class index"}),
        classes=classes,
        splits=infos,
    )
    write_manifest(manifest, root)
    return root


def index_tars(
    root: Path, splits: Mapping[str, Sequence[Path]], *, card: str | None = None
) -> Path:
    """Copy existing WebDataset tars into ``root`` and write a manifest indexing them."""
    root.mkdir(parents=True, exist_ok=True)
    infos: dict[str, SplitInfo] = {}
    exts: set[str] = set()
    for split, tars in splits.items():
        shards = []
        for tar_path in tars:
            dest = root / tar_path.name
            shutil.copyfile(tar_path, dest)
            keys: list[str] = []
            offsets: list[int] = []
            with tarfile.open(dest) as tar:
                for info in tar:
                    key, _, ext = info.name.partition(".")
                    exts.add(ext)
                    if not keys or keys[-1] != key:
                        keys.append(key)
                        offsets.append(info.offset)
            data = dest.read_bytes()
            shards.append(
                ShardInfo(
                    name=dest.name,
                    num_samples=len(keys),
                    bytes=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    keys=keys,
                    offsets=offsets,
                )
            )
        infos[split] = SplitInfo(num_samples=sum(s.num_samples for s in shards), shards=shards)
    manifest = Manifest(
        card=card,
        converter=ConverterInfo(name="indexed-by-test", version="0"),
        fields={e: e for e in sorted(exts)},
        splits=infos,
    )
    write_manifest(manifest, root)
    return root


def attrs_json(**fields: object) -> bytes:
    return json.dumps(fields).encode()
