"""COCO conversion on the real val2017 sample (instances, keypoints, captions)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, convert

from .convert_fakes import WDS_LEAKS, manifest, read_shards, read_with_webdataset, realdata


@pytest.fixture(scope="module")
def coco_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("coco") / "out"
    convert("coco", realdata("coco"), out, card="coco-2017")
    return out


def _load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(realdata("coco", "annotations", name).read_text())


def test_every_image_and_annotation_is_kept(coco_out: Path) -> None:
    inst, kp, cap = (
        _load("instances_val2017.json"),
        _load("person_keypoints_val2017.json"),
        _load("captions_val2017.json"),
    )
    assert manifest(coco_out)["splits"]["validation"]["source_split"] == "val2017"
    samples = read_shards(coco_out, "validation")
    assert len(samples) == len(inst["images"]) == 8
    for rec in inst["images"]:
        s = samples[rec["file_name"].removesuffix(".jpg")]
        assert s["jpg"] == realdata("coco", "val2017", rec["file_name"]).read_bytes()
        body = json.loads(s["json"])
        assert body["image"] == rec
        assert body["annotations"] == [a for a in inst["annotations"] if a["image_id"] == rec["id"]]
        assert body["keypoints"] == [a for a in kp["annotations"] if a["image_id"] == rec["id"]]
        assert body["captions"] == [a for a in cap["annotations"] if a["image_id"] == rec["id"]]
    total = sum(len(json.loads(s["json"])["annotations"]) for s in samples.values())
    assert total == 79
    rle = json.loads(samples["000000553664"]["json"])["annotations"]
    assert any(a["iscrowd"] == 1 and isinstance(a["segmentation"], dict) for a in rle)


def test_categories_keep_their_original_ids(coco_out: Path) -> None:
    m = manifest(coco_out)
    cats = _load("instances_val2017.json")["categories"]
    assert m["card"] == "coco-2017"
    assert m["converter"]["options"]["categories"] == sorted(cats, key=lambda c: c["id"])
    assert m["converter"]["options"]["keypoint_categories"][0]["keypoints"][0] == "nose"
    assert m["classes"] == [c["name"] for c in sorted(cats, key=lambda c: c["id"])]
    counts = m["splits"]["validation"]["class_counts"]
    person = m["classes"].index("person")
    assert counts[str(person)] == len(
        {
            a["image_id"]
            for a in _load("instances_val2017.json")["annotations"]
            if a["category_id"] == 1
        }
    )
    assert sum(1 for v in counts.values() if v) == 26


@WDS_LEAKS
def test_plain_webdataset_reads_coco(coco_out: Path) -> None:
    got = read_with_webdataset(coco_out, "validation")
    assert sorted(got) == sorted(read_shards(coco_out, "validation"))
    assert all(json.loads(s["json"])["image"]["file_name"] == f"{k}.jpg" for k, s in got.items())  # type: ignore[arg-type]


def _copy_coco(tmp_path: Path) -> Path:
    """A writable copy of the real sample in tmp (to break), never in the repo."""
    root = tmp_path / "coco"
    shutil.copytree(realdata("coco"), root)
    return root


def test_annotation_naming_a_missing_file(tmp_path: Path) -> None:
    root = _copy_coco(tmp_path)
    (root / "val2017" / "000000397133.jpg").unlink()
    with pytest.raises(
        ConversionError, match=r"val2017/000000397133.jpg: annotation names a missing file"
    ):
        convert("coco", root, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()
    result = convert("coco", root, tmp_path / "out", on_error="skip")
    assert result.split_info.num_samples == 7
    assert [s.item for s in result.skipped] == ["val2017/000000397133.jpg"]


@pytest.mark.parametrize("name", ["../escape.jpg", "/etc/passwd"])
def test_file_names_escaping_src_are_refused(tmp_path: Path, name: str) -> None:
    root = _copy_coco(tmp_path)
    for kind in ("instances", "person_keypoints", "captions"):
        p = root / "annotations" / f"{kind}_val2017.json"
        data = json.loads(p.read_text())
        data["images"][0]["file_name"] = name
        p.write_text(json.dumps(data))
    with pytest.raises(ConversionError, match=r"escapes SRC|absolute path"):
        convert("coco", root, tmp_path / "out")


def test_annotation_for_an_unknown_image_and_corrupt_image(tmp_path: Path) -> None:
    root = _copy_coco(tmp_path)
    p = root / "annotations" / "captions_val2017.json"
    data = json.loads(p.read_text())
    data["annotations"].append({"id": 999999, "image_id": 1, "caption": "x"})
    p.write_text(json.dumps(data))
    (root / "val2017" / "000000183709.jpg").write_bytes(b"\x00" * 100)
    result = convert("coco", root, tmp_path / "out", on_error="skip")
    reasons = {s.item: s.reason for s in result.skipped}
    assert (
        "names image_id 1, which is not in the images list"
        in reasons["annotations/captions_val2017.json: annotation 999999"]
    )
    assert "corrupt or unreadable image" in reasons["val2017/000000183709.jpg"]
    assert result.split_info.num_samples == 7


def test_max_size_is_refused_for_pixel_annotations(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="max_size is not supported for 'coco'"):
        convert("coco", realdata("coco"), tmp_path / "out", max_size=256)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"images": [', r"annotations/instances_val2017.json: not valid JSON: Expecting value"),
        (
            "[1, 2]",
            r"annotations/instances_val2017.json: not a COCO annotation file \(no 'images' list\)",
        ),
        (
            '{"images": {}}',
            r"instances_val2017.json: not a COCO annotation file \(no 'images' list\)",
        ),
    ],
)
def test_annotation_files_that_do_not_parse(tmp_path: Path, text: str, message: str) -> None:
    root = _copy_coco(tmp_path)
    (root / "annotations" / "instances_val2017.json").write_text(text)
    with pytest.raises(ConversionError, match=message):
        convert("coco", root, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()
