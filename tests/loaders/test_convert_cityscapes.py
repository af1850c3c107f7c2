"""Cityscapes conversion on a fake leftImg8bit + gtFine tree generated in code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, convert
from visiondata.loaders.convert.cityscapes import LABELS

from .convert_fakes import (
    WDS_LEAKS,
    make_cityscapes,
    manifest,
    read_shards,
    read_with_webdataset,
    tree_bytes,
)


def test_both_splits_every_file_unchanged(tmp_path: Path) -> None:
    expected = make_cityscapes(tmp_path / "cs")
    out = tmp_path / "out"
    convert("cityscapes", tmp_path / "cs", out, split="train")
    convert("cityscapes", tmp_path / "cs", out, split="val")
    m = manifest(out)
    assert {k: v["num_samples"] for k, v in m["splits"].items()} == {"train": 3, "validation": 1}
    assert m["classes"] == LABELS and len(LABELS) == 34
    got = {**read_shards(out, "train"), **read_shards(out, "validation")}
    assert got == expected
    counts = m["splits"]["train"]["class_counts"]
    assert counts[str(LABELS.index("road"))] == 3
    assert counts[str(LABELS.index("car"))] == 2  # 'cargroup' counts as car
    assert counts[str(LABELS.index("person"))] == 1
    assert set(m["fields"]) == {
        "png",
        "labelids.png",
        "instanceids.png",
        "color.png",
        "polygons.json",
    }


@WDS_LEAKS
def test_plain_webdataset_and_rerun(tmp_path: Path) -> None:
    expected = make_cityscapes(tmp_path / "cs")
    convert("cityscapes", tmp_path / "cs", tmp_path / "a", split="train", samples_per_shard=2)
    convert(
        "cityscapes", tmp_path / "cs", tmp_path / "b", split="train", samples_per_shard=2, workers=2
    )
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    got = read_with_webdataset(tmp_path / "a", "train")
    assert (
        got["aachen_000000_000019"]["labelids.png"]
        == expected["aachen_000000_000019"]["labelids.png"]
    )
    assert json.loads(got["bremen_000000_000019"]["polygons.json"])["imgWidth"] == 64  # type: ignore[arg-type]


def test_bad_cityscapes_items(tmp_path: Path) -> None:
    make_cityscapes(tmp_path / "cs")
    gt = tmp_path / "cs" / "gtFine" / "train"
    img = tmp_path / "cs" / "leftImg8bit" / "train"
    (gt / "aachen" / "aachen_000001_000019_gtFine_color.png").unlink()
    (gt / "bremen" / "bremen_000009_000019_gtFine_polygons.json").write_text("{}")
    (img / "aachen" / "thumbs.db").write_text("x")
    (img / "bremen" / "bremen_000000_000019_leftImg8bit.png").write_bytes(b"PNG?")
    with pytest.raises(ConversionError) as info:
        convert("cityscapes", tmp_path / "cs", tmp_path / "out", split="train")
    text = str(info.value)
    assert (
        "leftImg8bit/train/aachen/aachen_000001_000019_leftImg8bit.png: gtFine file(s) missing: aachen_000001_000019_gtFine_color.png"
        in text
    )
    assert (
        "gtFine/train/bremen/bremen_000009_000019_gtFine_*: annotation names a missing file" in text
    )
    assert "leftImg8bit/train/aachen/thumbs.db: unexpected file type" in text
    result = convert(
        "cityscapes", tmp_path / "cs", tmp_path / "out", split="train", on_error="skip"
    )
    reasons = {s.item: s.reason for s in result.skipped}
    assert (
        "corrupt or unreadable image"
        in reasons["leftImg8bit/train/bremen/bremen_000000_000019_leftImg8bit.png"]
    )
    assert len(reasons) == 4
    assert result.split_info.num_samples == 1


def test_cityscapes_needs_a_split(tmp_path: Path) -> None:
    make_cityscapes(tmp_path / "cs")
    with pytest.raises(ConversionError, match="has: train, val"):
        convert("cityscapes", tmp_path / "cs", tmp_path / "out")


def test_hidden_files_and_cities_are_ignored_stray_files_named(tmp_path: Path) -> None:
    make_cityscapes(tmp_path / "plain")
    make_cityscapes(tmp_path / "noisy")
    img = tmp_path / "noisy" / "leftImg8bit" / "train"
    gt = tmp_path / "noisy" / "gtFine" / "train"
    (img / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (img / "aachen" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (gt / "bremen" / "._bremen_000000_000019_gtFine_color.png").write_bytes(b"\0\5\26\7")
    (img / ".cache").mkdir()
    (img / ".cache" / "aachen_000000_000019_leftImg8bit.png").write_bytes(b"x")
    convert("cityscapes", tmp_path / "plain", tmp_path / "a", split="train")
    convert("cityscapes", tmp_path / "noisy", tmp_path / "b", split="train")
    a = json.loads((tmp_path / "a" / "manifest.json").read_text())["splits"]["train"]["shards"]
    b = json.loads((tmp_path / "b" / "manifest.json").read_text())["splits"]["train"]["shards"]
    assert [s["keys"] for s in a] == [s["keys"] for s in b] and a
    assert [s["sha256"] for s in a] == [s["sha256"] for s in b]
    (img / "README").write_text("stray")  # not hidden, not a city folder
    with pytest.raises(
        ConversionError,
        match=r"leftImg8bit/train/README: unexpected file \(expected city folders\)",
    ):
        convert("cityscapes", tmp_path / "noisy", tmp_path / "c", split="train")
