"""Hostile COCO and VOC sources, crafted in tmp: missing split files and image folders,
images records without a usable file name, file names naming folders or running through
files, image folders and files symlinked out of SRC, masks in the wrong format. Each bad
entry is named with its reason; the other images are still converted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders.convert import ConversionError, convert
from visiondata.loaders.convert.voc import parse_voc_xml

from .convert_fakes import image_bytes, manifest, read_shards


def _skips(result: object) -> dict[str, str]:
    return {s.item: s.reason for s in result.skipped}  # type: ignore[attr-defined]


def _outside(src: Path, target: Path) -> str:
    return f"symlink resolves to {target.resolve()}, outside SRC {src.resolve()}"


# -- coco ------------------------------------------------------------------------------

CATS = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]


def _coco(root: Path, images: list[dict[str, Any]], split: str = "val", **files: Any) -> Path:
    """``root/annotations/instances_{split}.json`` over ``images`` and a real JPEG in
    ``root/{split}/`` for each string file name; ``files`` adds other annotation files."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / split).mkdir(exist_ok=True)
    anns = [
        {"id": 100 + rec["id"], "image_id": rec["id"], "category_id": 3, "bbox": [0, 0, 4, 4]}
        for rec in images
    ]
    kinds = files or {"instances": {"images": images, "annotations": anns, "categories": CATS}}
    for kind, body in kinds.items():
        (root / "annotations" / f"{kind}_{split}.json").write_text(json.dumps(body))
    for rec in images:
        name = rec.get("file_name")
        if isinstance(name, str) and name.endswith(".jpg") and "/" not in name:
            (root / split / name).write_bytes(image_bytes(rec["id"]))
    return root


GOOD = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}]


def test_coco_split_must_be_given_when_not_one(tmp_path: Path) -> None:
    root = _coco(tmp_path / "coco", GOOD, "train")
    _coco(root, GOOD, "val")
    with pytest.raises(ConversionError) as info:
        convert("coco", root, tmp_path / "out")
    assert str(info.value) == (
        f"give the split to convert (--split); {root / 'annotations'} has: train, val"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError) as info:
        convert("coco", tmp_path / "empty", tmp_path / "out")
    assert str(info.value).endswith("empty/annotations has: no annotation files")


def test_coco_without_the_split_files_or_folder(tmp_path: Path) -> None:
    root = _coco(tmp_path / "coco", GOOD, "val")
    ann = root.resolve() / "annotations"
    with pytest.raises(ConversionError) as info:
        convert("coco", root, tmp_path / "out", split="test")
    assert str(info.value) == (
        f"{ann}: no annotation file for split 'test' (expected one of instances_test.json, "
        "person_keypoints_test.json, captions_test.json)"
    )
    (root / "val").rename(root / "val-images")
    with pytest.raises(ConversionError) as info:
        convert("coco", root, tmp_path / "out", split="val")
    assert str(info.value) == f"{root}: no image folder val/ or images/val/"
    assert not (tmp_path / "out").exists()


def test_keypoints_alone_give_the_classes(tmp_path: Path) -> None:
    kp_cats = [{"id": 1, "name": "person", "keypoints": ["nose"], "skeleton": []}]
    kp = {
        "images": GOOD,
        "annotations": [{"id": 7, "image_id": 2, "category_id": 1, "keypoints": [1, 1, 2]}],
        "categories": kp_cats,
    }
    caps = {"images": GOOD, "annotations": [{"id": 8, "image_id": 1, "caption": "x"}]}
    root = _coco(tmp_path / "coco", GOOD, person_keypoints=kp, captions=caps)
    convert("coco", root, tmp_path / "out", split="val")
    m = manifest(tmp_path / "out")
    assert m["classes"] == ["person"]
    assert m["converter"]["options"]["keypoint_categories"] == kp_cats
    got = read_shards(tmp_path / "out", "validation")
    assert json.loads(got["b"]["json"])["keypoints"] == kp["annotations"]
    assert json.loads(got["a"]["json"])["captions"] == caps["annotations"]


def test_images_records_without_a_usable_file_name(tmp_path: Path) -> None:
    records = [
        *GOOD,
        {"id": 3},
        {"id": 4, "file_name": ""},
        {"id": 5, "file_name": "album"},
    ]
    root = _coco(tmp_path / "coco", records)
    (root / "val" / "album").mkdir()
    result = convert("coco", root, tmp_path / "out", split="val", on_error="skip")
    assert _skips(result) == {
        "image id 3": "images record has no file_name",
        "val/": "empty path",
        "val/album": "is a directory, expected a file",
    }
    assert list(read_shards(tmp_path / "out", "validation")) == ["a", "b"]


@pytest.mark.parametrize("name", [None, 7])
def test_a_file_name_that_is_not_a_string_is_reported_not_a_crash(
    tmp_path: Path, name: object
) -> None:
    """``"file_name": null`` is checked (``images record has no file_name``), but the
    images are sorted by file name first: a None or a number among strings must not end
    the conversion with a TypeError."""
    root = _coco(tmp_path / "coco", [*GOOD, {"id": 3, "file_name": name}])
    result = convert("coco", root, tmp_path / "out", split="val", on_error="skip")
    assert _skips(result) == {"image id 3": "images record has no file_name"}
    assert list(read_shards(tmp_path / "out", "validation")) == ["a", "b"]


def test_a_file_name_through_a_file_is_reported_not_a_crash(tmp_path: Path) -> None:
    root = _coco(tmp_path / "coco", [*GOOD, {"id": 3, "file_name": "a.jpg/c.jpg"}])
    result = convert("coco", root, tmp_path / "out", split="val", on_error="skip")
    assert _skips(result) == {"val/a.jpg/c.jpg": "cannot stat: Not a directory"}
    assert list(read_shards(tmp_path / "out", "validation")) == ["a", "b"]


# -- voc -------------------------------------------------------------------------------

IDS = ["img_1", "img_2", "img_3"]


def _xml(name: str = "cell", extra: str = "") -> str:
    return (
        "<annotation><filename>x.jpg</filename><size><width>48</width><height>32</height>"
        f"<depth>3</depth></size><object><name>{name}</name>{extra}<bndbox><xmin>1</xmin>"
        "<ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>"
    )


@pytest.fixture
def voc(tmp_path: Path) -> Path:
    root = tmp_path / "voc"
    for d in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (root / d).mkdir(parents=True)
    for i, image_id in enumerate(IDS):
        (root / "JPEGImages" / f"{image_id}.jpg").write_bytes(image_bytes(i))
        (root / "Annotations" / f"{image_id}.xml").write_text(_xml())
    (root / "ImageSets" / "Main" / "val.txt").write_text("\n".join(IDS) + "\n")
    return root


def _split(voc: Path, *ids: str) -> None:
    (voc / "ImageSets" / "Main" / "val.txt").write_text("\n".join(ids) + "\n")


def test_voc_missing_split_file(voc: Path, tmp_path: Path) -> None:
    with pytest.raises(ConversionError) as info:
        convert("voc", voc, tmp_path / "out", split="trainval")
    assert str(info.value) == (
        f"{voc.resolve() / 'ImageSets' / 'Main' / 'trainval.txt'}: no such split file"
    )


def test_empty_annotation_fields_are_kept_as_null() -> None:
    xml = (
        b"<annotation><size><width>4</width><depth/></size><segmented/>"
        b"<object><name>cell</name><truncated/><difficult> </difficult></object></annotation>"
    )
    assert parse_voc_xml(xml, "a.xml") == {
        "filename": None,
        "size": {"width": 4, "depth": None},
        "segmented": None,
        "objects": [{"name": "cell", "truncated": None, "difficult": ""}],
    }


def test_annotation_that_is_a_folder_or_too_long_a_name(voc: Path, tmp_path: Path) -> None:
    long_id = "i" * 300
    (voc / "Annotations" / "img_2.xml").unlink()
    (voc / "Annotations" / "img_2.xml").mkdir()
    _split(voc, "img_1", "img_2", long_id, "img_3")
    result = convert("voc", voc, tmp_path / "out", split="val", on_error="skip")
    assert _skips(result) == {
        "Annotations/img_2.xml": "is a directory, expected a file",
        f"Annotations/{long_id}.xml": "cannot read: File name too long",
    }
    assert list(read_shards(tmp_path / "out", "validation")) == ["img_1", "img_3"]


def test_image_folder_symlinked_out_of_src_is_refused(voc: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "img_9.jpg").write_bytes(image_bytes(9))
    os.symlink(elsewhere, voc / "JPEGImages" / "ext")
    (voc / "Annotations" / "ext").mkdir()
    (voc / "Annotations" / "ext" / "img_9.xml").write_text(_xml())
    _split(voc, "img_1", "ext/img_9", "img_2")
    result = convert("voc", voc, tmp_path / "out", split="val", on_error="skip")
    assert _skips(result) == {"JPEGImages/ext/img_9": _outside(voc, elsewhere / "img_9")}
    assert list(read_shards(tmp_path / "out", "validation")) == ["img_1", "img_2"]


def test_image_file_symlinked_out_of_src_is_refused(voc: Path, tmp_path: Path) -> None:
    """``JPEGImages/img_2.jpg -> /elsewhere/secret.jpg``: refused like the same link under
    imagefolder or cityscapes, not read from outside SRC."""
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(image_bytes(42))
    (voc / "JPEGImages" / "img_2.jpg").unlink()
    os.symlink(secret, voc / "JPEGImages" / "img_2.jpg")
    result = convert("voc", voc, tmp_path / "out", split="val", on_error="skip")
    assert _skips(result) == {"JPEGImages/img_2.jpg": _outside(voc, secret)}
    assert list(read_shards(tmp_path / "out", "validation")) == ["img_1", "img_3"]


def test_segmentation_mask_symlinked_out_of_src_is_refused(voc: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(image_bytes(43, "PNG"))
    (voc / "SegmentationClass").mkdir()
    os.symlink(secret, voc / "SegmentationClass" / "img_2.png")
    result = convert("voc", voc, tmp_path / "out", split="val", on_error="skip")
    assert _skips(result) == {"SegmentationClass/img_2.png": _outside(voc, secret)}
    got = read_shards(tmp_path / "out", "validation")
    assert list(got) == ["img_1", "img_3"]  # the image is refused, not converted without it
    assert all("seg.png" not in s for s in got.values())


def test_segmentation_folder_symlinked_out_of_src_is_refused(voc: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "img_3.png").write_bytes(image_bytes(44, "PNG"))
    os.symlink(elsewhere, voc / "SegmentationObject")
    result = convert("voc", voc, tmp_path / "out", split="val", on_error="skip")
    assert _skips(result) == {
        "SegmentationObject/img_3.png": _outside(voc, elsewhere / "img_3.png")
    }
    assert list(read_shards(tmp_path / "out", "validation")) == ["img_1", "img_2"]


def test_a_jpeg_segmentation_mask_is_refused(voc: Path, tmp_path: Path) -> None:
    (voc / "SegmentationObject").mkdir()
    (voc / "SegmentationObject" / "img_1.png").write_bytes(image_bytes(5, "PNG"))
    (voc / "SegmentationObject" / "img_3.png").write_bytes(image_bytes(6, "JPEG"))
    result = convert("voc", voc, tmp_path / "out", split="val", on_error="skip")
    assert _skips(result) == {
        "SegmentationObject/img_3.png": "segmentation mask is jpg, expected png"
    }
    got = read_shards(tmp_path / "out", "validation")
    assert list(got) == ["img_1", "img_2"]
    assert got["img_1"]["inst.png"] == image_bytes(5, "PNG")
    assert "inst.png" not in got["img_2"]
