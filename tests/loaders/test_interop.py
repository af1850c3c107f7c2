"""Hugging Face ``datasets.load_dataset("webdataset", data_files=...)`` reads what every
converter writes, where its members have an Arrow type; the exceptions are declared here (and in
the README) and checked to fail, so neither list can drift. One row per registered format."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders.convert import convert
from visiondata.loaders.convert.run import FORMATS

from .convert_fakes import (
    WDS_LEAKS,
    image_bytes,
    make_cityscapes,
    make_imagefolder,
    manifest,
    read_shards,
    read_with_datasets,
    realdata,
)


def _imagefolder(tmp: Path) -> tuple[Path, dict[str, Any]]:
    make_imagefolder(tmp / "src", {"cat": ["c1.jpg", "c2.jpg"], "dog": ["d1.jpg", "d.2.jpg"]})
    return tmp / "src", {}


def _imagefolder_mixed(tmp: Path) -> tuple[Path, dict[str, Any]]:
    make_imagefolder(tmp / "src")  # jpg, JPEG and png files: samples with different members
    return tmp / "src", {}


def _voc(tmp: Path) -> tuple[Path, dict[str, Any]]:
    return realdata("voc_bccd", "BCCD"), {"split": "val"}


def _cityscapes(tmp: Path) -> tuple[Path, dict[str, Any]]:
    make_cityscapes(tmp / "src")
    return tmp / "src", {"split": "train"}


def _hf(tmp: Path) -> tuple[Path, dict[str, Any]]:
    import datasets

    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=["no", "yes"])}
    )
    ds = datasets.Dataset.from_dict(
        {"image": [{"bytes": image_bytes(i), "path": None} for i in range(4)], "label": [0, 1] * 2},
        features=features,
    )
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp / "saved"))
    return tmp / "saved", {"split": "train"}


def _list(tmp: Path) -> tuple[Path, dict[str, Any]]:
    (tmp / "src" / "imgs").mkdir(parents=True)
    rows = ["path,label,weather"]
    for i in range(3):
        (tmp / "src" / "imgs" / f"{i}.jpg").write_bytes(image_bytes(i))
        rows.append(f"imgs/{i}.jpg,{'sun' if i % 2 else 'rain'},dry")
    (tmp / "src" / "list.csv").write_text("\n".join(rows) + "\n")
    return tmp / "src" / "list.csv", {}


def _video_one_container(tmp: Path) -> tuple[Path, dict[str, Any]]:
    clip = realdata("video", "derived", "bbb_t05-10s_320x180_h264.mp4")
    for label in ("a", "b"):
        (tmp / "src" / label).mkdir(parents=True)
        shutil.copy(clip, tmp / "src" / label / "c.mp4")
    return tmp / "src", {}


def _coco(tmp: Path) -> tuple[Path, dict[str, Any]]:
    return realdata("coco"), {}


def _video_mixed(tmp: Path) -> tuple[Path, dict[str, Any]]:
    return realdata("video"), {}  # mp4, webm, avi and frame folders in one split


Build = Callable[[Path], tuple[Path, dict[str, Any]]]
#: format -> (source builder, the column holding the encoded image or clip, HF types it)
READABLE: dict[str, tuple[Build, str]] = {
    "imagefolder": (_imagefolder, "jpg"),
    "voc": (_voc, "jpg"),
    "cityscapes": (_cityscapes, "png"),
    "hf": (_hf, "image.jpg"),
    "list": (_list, "jpg"),
    "video": (_video_one_container, "mp4"),
}
#: case -> (format, source builder, what HF says): sets HF cannot type
NOT_READABLE: dict[str, tuple[str, Build, str]] = {
    # COCO's json member holds polygon lists and RLE dicts in one field: no Arrow type
    "coco": ("coco", _coco, "An error occurred while generating the dataset"),
    # samples with different members (mp4, webm, avi, frame folders; jpg next to png)
    "video-mixed": ("video", _video_mixed, "don't share the same prefix or the same types"),
    "imagefolder-mixed": ("imagefolder", _imagefolder_mixed, "don't share the same prefix"),
}


def test_every_format_is_declared() -> None:
    assert set(READABLE) | {fmt for fmt, _, _ in NOT_READABLE.values()} == set(FORMATS)


@WDS_LEAKS
@pytest.mark.parametrize("fmt", sorted(READABLE))
def test_datasets_reads_the_shards(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    build, column = READABLE[fmt]
    src, opts = build(tmp_path)
    out = tmp_path / "out"
    convert(fmt, src, out, **opts)
    split = next(iter(manifest(out)["splits"]))
    ours = read_shards(out, split)
    ds = read_with_datasets(out, split, tmp_path / "hf-cache", monkeypatch)
    kind = datasets.Video(decode=False) if column == "mp4" else datasets.Image(decode=False)
    ds = ds.cast_column(column, kind)
    assert sorted(ds["__key__"]) == sorted(ours)
    for row in ds:
        assert row[column]["bytes"] == ours[row["__key__"]][column]  # bytes unchanged
        if "cls" in ours[row["__key__"]]:
            assert row["cls"] == int(ours[row["__key__"]]["cls"])


@WDS_LEAKS
@pytest.mark.parametrize("case", sorted(NOT_READABLE))
def test_the_declared_exceptions_fail(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fmt, build, message = NOT_READABLE[case]
    src, opts = build(tmp_path)
    out = tmp_path / "out"
    convert(fmt, src, out, **opts)
    split = next(iter(manifest(out)["splits"]))
    with pytest.raises(Exception, match=message):  # whatever datasets raises
        read_with_datasets(out, split, tmp_path / "hf-cache", monkeypatch)
