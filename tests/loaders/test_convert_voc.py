"""VOC conversion on the real BCCD set (VOC layout)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, ItemError, convert
from visiondata.loaders.convert.voc import parse_voc_xml

from .convert_fakes import (
    WDS_LEAKS,
    manifest,
    read_shards,
    read_with_datasets,
    read_with_webdataset,
    realdata,
)

SPLITS = {"train": 8, "val": 4, "test": 4}  # as ImageSets/Main names them
OFFICIAL = {"train": "train", "val": "validation", "test": "test"}  # as the manifest does


@pytest.fixture(scope="module")
def voc_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("voc") / "out"
    for split in SPLITS:
        convert("voc", realdata("voc_bccd", "BCCD"), out, split=split, samples_per_shard=5)
    return out


def test_splits_counts_and_bytes(voc_out: Path) -> None:
    root = realdata("voc_bccd", "BCCD")
    m = manifest(voc_out)
    assert {s: m["splits"][OFFICIAL[s]]["num_samples"] for s in SPLITS} == SPLITS
    assert m["splits"]["validation"]["source_split"] == "val"
    assert m["classes"] == ["Platelets", "RBC", "WBC"]
    for split in SPLITS:
        ids = (root / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
        samples = read_shards(voc_out, OFFICIAL[split])
        assert list(samples) == ids  # the split file's order
        for image_id, s in samples.items():
            assert s["jpg"] == (root / "JPEGImages" / f"{image_id}.jpg").read_bytes()
            assert s["xml"] == (root / "Annotations" / f"{image_id}.xml").read_bytes()
            objs = json.loads(s["json"])["objects"]
            xml_objs = ET.fromstring(s["xml"]).findall("object")
            assert len(objs) == len(xml_objs)
            for o, x in zip(objs, xml_objs, strict=True):
                assert o["name"] == x.findtext("name").strip()  # type: ignore[union-attr]
                assert o["truncated"] == int(x.findtext("truncated"))  # type: ignore[arg-type]
                assert o["difficult"] == int(x.findtext("difficult"))  # type: ignore[arg-type]
                assert o["pose"] == x.findtext("pose")
                assert o["bbox"]["xmin"] == int(x.find("bndbox").findtext("xmin"))  # type: ignore[union-attr, arg-type]
    counts = m["splits"]["train"]["class_counts"]
    assert counts == {"0": 5, "1": 8, "2": 8}
    assert any(
        o["truncated"] == 1
        for s in read_shards(voc_out, "train").values()
        for o in json.loads(s["json"])["objects"]
    )


@WDS_LEAKS
def test_round_trips(voc_out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = read_shards(voc_out, "validation")
    got = read_with_webdataset(voc_out, "validation")
    assert {k: s["xml"] for k, s in got.items()} == {k: s["xml"] for k, s in ours.items()}
    ds = read_with_datasets(voc_out, "validation", tmp_path / "hf", monkeypatch)
    import datasets

    ds = ds.cast_column("jpg", datasets.Image(decode=False))
    assert len(ds) == 4
    for row in ds:
        assert row["jpg"]["bytes"] == ours[row["__key__"]]["jpg"]
        assert [o["name"] for o in row["json"]["objects"]] == [
            o["name"] for o in json.loads(ours[row["__key__"]]["json"])["objects"]
        ]


def test_segmentation_masks_are_added(tmp_path: Path) -> None:
    root = tmp_path / "voc"
    shutil.copytree(realdata("voc_bccd", "BCCD"), root)
    (root / "SegmentationClass").mkdir()
    from .convert_fakes import image_bytes

    first = (root / "ImageSets" / "Main" / "val.txt").read_text().split()[0]
    mask = image_bytes(5, "PNG")
    (root / "SegmentationClass" / f"{first}.png").write_bytes(mask)
    convert("voc", root, tmp_path / "out", split="val")
    s = read_shards(tmp_path / "out", "validation")
    assert [k for k, v in s.items() if "seg.png" in v] == [first]
    assert s[first]["seg.png"] == mask
    assert "seg.png" in manifest(tmp_path / "out")["fields"]


def test_bad_voc_items(tmp_path: Path) -> None:
    root = tmp_path / "voc"
    shutil.copytree(realdata("voc_bccd", "BCCD"), root)
    split = root / "ImageSets" / "Main" / "val.txt"
    ids = split.read_text().split()
    split.write_text("\n".join([*ids, "BloodImage_99999", ids[0], "../../etc/passwd"]) + "\n")
    (root / "JPEGImages" / f"{ids[1]}.jpg").unlink()
    (root / "Annotations" / f"{ids[2]}.xml").write_text("<annotation><object>")
    with pytest.raises(ConversionError) as info:
        convert("voc", root, tmp_path / "out", split="val")
    text = str(info.value)
    assert (
        "Annotations/BloodImage_99999.xml: split file val.txt names image id 'BloodImage_99999', which has no annotation"
        in text
    )
    assert (
        f"JPEGImages/{ids[1]}.jpg: annotation Annotations/{ids[1]}.xml names a missing image file"
        in text
    )
    assert f"Annotations/{ids[2]}.xml: malformed annotation XML" in text
    assert f"duplicate sample key '{ids[0]}'" in text
    assert "contains '..' (escapes SRC)" in text
    result = convert("voc", root, tmp_path / "out", split="val", on_error="skip")
    assert result.split_info.num_samples == 2
    assert len(result.skipped) == 5


def test_voc_needs_a_split(tmp_path: Path) -> None:
    with pytest.raises(
        ConversionError, match=r"give the split to convert .*has: test, train, trainval, val"
    ):
        convert("voc", realdata("voc_bccd", "BCCD"), tmp_path / "out")


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (b"<annotation><object>", "malformed annotation XML (no element found: line 1, column 20)"),
        (b"", "malformed annotation XML (no element found: line 1, column 0)"),
        (
            b"<voc><object><name>x</name></object></voc>",
            "root element is <voc>, expected <annotation>",
        ),
        (
            b"<annotation><object><pose>Left</pose></object></annotation>",
            "an <object> has no <name>",
        ),
        (b"<annotation><object><name></name></object></annotation>", "an <object> has no <name>"),
    ],
)
def test_annotation_parse_errors(xml: bytes, reason: str) -> None:
    with pytest.raises(ItemError) as info:
        parse_voc_xml(xml, "Annotations/a.xml")
    assert (info.value.item, info.value.reason) == ("Annotations/a.xml", reason)


def test_annotation_parse() -> None:
    xml = (
        b"<annotation><filename>a.jpg</filename><size><width>4</width><height>3</height></size>"
        b"<segmented>0</segmented><object><name>cell</name><difficult>1</difficult>"
        b"<bndbox><xmin>1</xmin><ymin>2.5</ymin><xmax>3</xmax><ymax>x</ymax></bndbox>"
        b"<part><name>hand</name><bndbox><xmin>0</xmin></bndbox></part></object></annotation>"
    )
    assert parse_voc_xml(xml, "a.xml") == {
        "filename": "a.jpg",
        "size": {"width": 4, "height": 3},
        "segmented": 0,
        "objects": [
            {
                "name": "cell",
                "difficult": 1,
                "bbox": {"xmin": 1, "ymin": 2.5, "xmax": 3, "ymax": "x"},
                "parts": [{"name": "hand", "bbox": {"xmin": 0}}],
            }
        ],
    }
