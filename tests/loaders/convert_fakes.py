"""Fakes for the converter tests, generated in code in the real layouts (ImageFolder,
Cityscapes), plus the helpers that read shards back. Real samples come from
``../shared/realdata`` (see :data:`REALDATA`)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

REALDATA = Path(__file__).parents[2].parent / "shared" / "realdata"


def realdata(*parts: str) -> Path:
    """A path under ../shared/realdata; fails the test clearly when the folder is absent."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(
            f"real test data not found at {path}: the converter tests need ../shared/realdata next to the repo"
        )
    return path


def folder_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file in ``folder`` by name (hidden files too: a journal or lock left
    behind would show)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def image_bytes(seed: int, fmt: str = "JPEG", size: tuple[int, int] = (48, 32)) -> bytes:
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    grad = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    arr = np.clip(grad + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(arr).save(out, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue()


#: class -> file names of the fake ImageFolder (a PNG among the JPEGs, a dotted name).
IMAGEFOLDER = {
    "cat": ["c01.jpg", "c02.jpg", "c03.JPEG", "c04.png"],
    "dog": ["d01.jpg", "d02.jpg", "d.03.jpg"],
    "fish": ["f01.jpg", "f02.jpg", "f03.jpg", "f04.jpg", "f05.jpg"],
}


def make_imagefolder(root: Path, spec: dict[str, list[str]] | None = None) -> dict[str, bytes]:
    """Write an ImageFolder tree; return {relative path: bytes}."""
    files = {}
    for c, names in (spec or IMAGEFOLDER).items():
        (root / c).mkdir(parents=True, exist_ok=True)
        for n in names:
            data = image_bytes(len(files), "PNG" if n.endswith(".png") else "JPEG")
            (root / c / n).write_bytes(data)
            files[f"{c}/{n}"] = data
    return files


CITIES = {
    "train": {"aachen": ["000000_000019", "000001_000019"], "bremen": ["000000_000019"]},
    "val": {"frankfurt": ["000000_000294"]},
}


def make_list_tree(root: Path, count: int) -> Path:
    """``root/imgs/0.jpg`` ... ``{count - 1}.jpg``: the images a list file names."""
    (root / "imgs").mkdir(parents=True)
    for i in range(count):
        (root / "imgs" / f"{i}.jpg").write_bytes(image_bytes(i))
    return root


def make_cityscapes(root: Path) -> dict[str, dict[str, bytes]]:
    """Write a Cityscapes tree (leftImg8bit + gtFine); return {key: {member: bytes}}."""
    out: dict[str, dict[str, bytes]] = {}
    n = 0
    for split, cities in CITIES.items():
        for city, frames in cities.items():
            img_dir = root / "leftImg8bit" / split / city
            gt_dir = root / "gtFine" / split / city
            img_dir.mkdir(parents=True)
            gt_dir.mkdir(parents=True)
            for frame in frames:
                stem = f"{city}_{frame}"
                n += 1
                img = image_bytes(100 + n, "PNG", (64, 32))
                label = np.full((32, 64), 7, np.uint8)
                label[20:, :] = 26 if n % 2 else 24
                lab, inst, color = io.BytesIO(), io.BytesIO(), io.BytesIO()
                Image.fromarray(label).save(lab, format="PNG")
                Image.fromarray(label.astype(np.uint16) * 1000).save(inst, format="PNG")
                Image.fromarray(np.stack([label] * 3, -1)).save(color, format="PNG")
                objects = [
                    {"label": "road", "polygon": [[0, 0], [63, 0], [63, 19], [0, 19]]},
                    {
                        "label": "cargroup" if n % 2 else "person",
                        "polygon": [[0, 20], [63, 20], [63, 31]],
                    },
                ]
                poly = json.dumps({"imgHeight": 32, "imgWidth": 64, "objects": objects}).encode()
                members = {
                    "png": img,
                    "labelids.png": lab.getvalue(),
                    "instanceids.png": inst.getvalue(),
                    "color.png": color.getvalue(),
                    "polygons.json": poly,
                }
                (img_dir / f"{stem}_leftImg8bit.png").write_bytes(img)
                (gt_dir / f"{stem}_gtFine_labelIds.png").write_bytes(members["labelids.png"])
                (gt_dir / f"{stem}_gtFine_instanceIds.png").write_bytes(members["instanceids.png"])
                (gt_dir / f"{stem}_gtFine_color.png").write_bytes(members["color.png"])
                (gt_dir / f"{stem}_gtFine_polygons.json").write_bytes(poly)
                out[stem] = members
    return out


def read_shards(out: Path, split: str) -> dict[str, dict[str, bytes]]:
    """{key: {member ext: bytes}} of every sample of ``split``, in manifest order."""
    manifest = json.loads((out / "manifest.json").read_text())
    samples: dict[str, dict[str, bytes]] = {}
    for shard in manifest["splits"][split]["shards"]:
        with tarfile.open(out / shard["name"]) as tar:
            for m in tar:
                head, _, base = m.name.rpartition("/")
                key, _, ext = base.partition(".")
                f = tar.extractfile(m)
                assert f is not None
                samples.setdefault(f"{head}/{key}" if head else key, {})[ext] = f.read()
    return samples


def manifest(out: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((out / "manifest.json").read_text())


def tree_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


#: webdataset 1.0 leaves its tar file objects for the garbage collector to close.
WDS_LEAKS = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


def read_with_webdataset(out: Path, split: str) -> dict[str, dict[str, object]]:
    """{key: sample} as plain ``webdataset.WebDataset`` yields them (no decoding)."""
    import gc

    import webdataset as wds

    urls = [str(out / s["name"]) for s in manifest(out)["splits"][split]["shards"]]
    got = {
        str(s["__key__"]): s for s in wds.WebDataset(urls, shardshuffle=False, empty_check=False)
    }
    gc.collect()  # close webdataset's leaked files while this test's warning filter holds
    return got


def read_with_datasets(out: Path, split: str, cache: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The split through ``datasets.load_dataset("webdataset", data_files=...)``, offline."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)

    urls = [str(out / s["name"]) for s in manifest(out)["splits"][split]["shards"]]
    return datasets.load_dataset(
        "webdataset", data_files={split: urls}, split=split, cache_dir=str(cache)
    )
