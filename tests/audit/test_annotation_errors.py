"""Hostile annotation members: each problem is named for its sample, and nothing else is lost."""

from __future__ import annotations

import json
import tarfile

import pytest
from visiondata.loaders.audit.annotations import parse_annotations
from visiondata.loaders.audit.audit import AuditResult, run_audit
from visiondata.loaders.audit.figures import split_summary
from visiondata.loaders.shards.manifest import read_manifest, write_manifest

from tests.audit.audit_fakes import build, realdata

COCO_KEY = "000000126107"
VOC = "BloodImage_00000"


def _coco_members() -> dict[str, bytes]:
    """The jpg and json members of one sample of the real COCO WebDataset shard."""
    out = {}
    with tarfile.open(realdata("webdataset", "coco-val2017-ccby-000000.tar")) as tar:
        for ext in ("jpg", "json"):
            f = tar.extractfile(f"{COCO_KEY}.{ext}")
            assert f is not None
            out[ext] = f.read()
    return out


def _voc_xml() -> bytes:
    return realdata("voc_bccd", "BCCD", "Annotations", f"{VOC}.xml").read_bytes()


def _voc_names() -> list[str]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(_voc_xml())
    return [o.findtext("name", "").strip() for o in root.iter("object")]


def _coco_ids() -> list[int]:
    return [a["category_id"] for a in json.loads(_coco_members()["json"])["annotations"]]


# --- parse_annotations on single members -------------------------------------------------


def test_json_that_does_not_parse_is_a_problem_and_the_xml_still_counts() -> None:
    truncated = _coco_members()["json"][:300]
    ann = parse_annotations({"json": truncated, "xml": _voc_xml(), "cls": b"1"}, classes=["a", "b"])
    assert len(ann.problems) == 1
    assert ann.problems[0].startswith("json member does not parse: Unterminated string")
    assert ann.instances == _voc_names()  # the good xml member of the same sample is kept
    assert ann.label == "b"


def test_json_that_is_not_utf8_is_a_problem() -> None:
    ann = parse_annotations({"json": b'{"gender": "f\xff"}'})
    assert ann.problems == [
        "json member does not parse: 'utf-8' codec can't decode byte 0xff in position 13: "
        "invalid start byte"
    ]
    assert ann.attributes == {} and ann.instances is None


def test_xml_that_does_not_parse_is_a_problem_and_the_json_still_counts() -> None:
    xml = _voc_xml()
    cut = xml[: xml.index(b"</object>")]
    ann = parse_annotations({"xml": cut, "json": b'{"objects": [{"name": "cat"}], "sex": "f"}'})
    assert len(ann.problems) == 1
    assert ann.problems[0].startswith("xml member does not parse: no element found: line ")
    assert ann.instances == ["cat"]
    assert ann.attributes == {"sex": "f"}


def test_voc_objects_with_empty_or_missing_names_are_skipped() -> None:
    xml = _voc_xml().decode()
    first = xml.index("<name>")
    end = xml.index("</name>", first)
    emptied = xml[:first] + "<name>   " + xml[end:]  # first object: a blank name
    second = emptied.index("<name>", first + 10)
    end2 = emptied.index("</name>", second) + len("</name>")
    unnamed = emptied[:second] + emptied[end2:]  # second object: no <name> at all
    ann = parse_annotations({"xml": unnamed.encode()})
    assert ann.problems == []
    assert ann.instances == _voc_names()[2:]


def test_coco_category_ids_not_in_the_categories_are_kept_as_ids() -> None:
    ids = _coco_ids()
    known = {ids[0]: "named"}
    ann = parse_annotations({"json": _coco_members()["json"]}, categories=known)
    assert ann.problems == []
    assert ann.instances == ["named" if i == ids[0] else str(i) for i in ids]
    assert any(i != ids[0] for i in ids)  # the sample does have an id missing from the map


def test_objects_without_a_usable_name_are_dropped() -> None:
    data = {
        "objects": [
            {"name": "cat"},
            {"label": "", "category": "dog"},  # an empty name falls through to the next key
            {"category_id": True},  # a bool is no category id
            {"category_id": "3"},  # nor is a string
            {"class": "bird", "category_id": 1},  # a name wins over an id
            "not an object",
            {"category_id": 2},
        ]
    }
    ann = parse_annotations({"json": json.dumps(data).encode()}, categories={1: "one"})
    assert ann.instances == ["cat", "dog", "bird", "2"]
    assert ann.problems == []


def test_celeba_binary_attributes_accept_minus_one_zero_one_and_bool_only() -> None:
    attrs = {
        "Male": 1,
        "Eyeglasses": -1,
        "Smiling": 0,
        "Young": True,
        "Bald": False,
        "Wavy_Hair": 2,  # not a binary value
        "Hat": "yes",  # a string that is not a wanted categorical field
        "Score": 0.5,
    }
    ann = parse_annotations({"json": json.dumps({"attributes": attrs}).encode()})
    assert ann.binary == {
        "Male": True,
        "Eyeglasses": False,
        "Smiling": False,
        "Young": True,
        "Bald": False,
    }
    assert ann.attributes == {}


def test_a_categorical_field_under_attributes_is_not_also_binary() -> None:
    data = {"attributes": {"Gender": 1, "Male": -1, "race": True}}
    ann = parse_annotations({"json": json.dumps(data).encode()})
    assert ann.attributes == {"gender": "1"}  # a bool race is no category
    assert ann.binary == {"Male": False, "race": True}


@pytest.mark.parametrize(
    ("cls", "label"),
    [(b"tabby\n", "tabby"), (b"-1", "-1"), (b"7", "7"), (b"  \n", None), (b"\xff2", "\ufffd2")],
)
def test_cls_members_that_are_not_class_indices(cls: bytes, label: str | None) -> None:
    ann = parse_annotations({"cls": cls}, classes=["cat", "dog"])
    assert ann.label == label
    assert ann.problems == []


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'[{"category_id": 1}]', "an array"),
        (b"7", "a number"),
        (b"-0.5e3", "a number"),
        (b'"cat"', "a string"),
        (b"true", "a boolean"),
        (b"null", "null"),
    ],
)
def test_json_that_is_not_an_object_is_a_problem(data: bytes, kind: str) -> None:
    ann = parse_annotations({"json": data, "cls": b"1"}, classes=["a", "b"])
    assert ann.problems == [f"json member is {kind}, expected an object"]
    assert ann.instances is None and ann.attributes == {} and ann.binary == {}
    assert ann.label == "b"  # the sample's other members still count


# --- the same members inside a real shard set, through run_audit -------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    coco = _coco_members()
    xml = _voc_xml()
    samples = [
        ("coco-ok", coco, None),
        ("json-cut", {"jpg": coco["jpg"], "json": coco["json"][:300]}, None),
        ("xml-cut", {"jpg": coco["jpg"], "xml": xml[:200]}, None),
        ("both-cut", {"jpg": coco["jpg"], "json": b"{", "xml": b"<a>"}, None),
        ("json-list", {"jpg": coco["jpg"], "json": b"[1, 2]", "cls": b"dog"}, None),
        ("voc-ok", {"jpg": coco["jpg"], "xml": xml}, None),
        ("no-image", {"cls": b"0", "json": b'{"gender": "female"}'}, None),
    ]
    root = build(tmp_path_factory.mktemp("hostile") / "shards", {"train": samples}, per_shard=4)
    manifest = read_manifest(root)
    ids = _coco_ids()
    cats = [{"id": ids[0], "name": "first"}, {"id": "x", "name": "bad id"}, "not a category"]
    converter = manifest.converter.model_copy(update={"options": {"categories": cats}})
    write_manifest(manifest.model_copy(update={"converter": converter}), root)
    return run_audit(root / "manifest.json")  # the manifest's own path is accepted too


def test_audit_lists_each_annotation_problem_by_sample(hostile: AuditResult) -> None:
    s = split_summary(hostile, "train")
    problems = {p["key"]: p["problem"] for p in s["annotation_problems"]}
    assert sorted(problems) == ["both-cut", "json-cut", "json-list", "xml-cut"]
    assert problems["json-list"] == "json member is an array, expected an object"
    assert problems["json-cut"].startswith("json member does not parse: ")
    assert problems["xml-cut"].startswith("xml member does not parse: ")
    # only the first problem of a sample is listed: its json member is read first
    assert problems["both-cut"] == (
        "json member does not parse: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)"
    )


def test_audit_still_counts_everything_else(hostile: AuditResult) -> None:
    s = split_summary(hostile, "train")
    assert s["samples"] == 7 and s["images"] == 6
    assert s["image_properties"]["without_image"] == ["no-image"]
    assert s["image_properties"]["undecodable"] == 0
    ids = _coco_ids()
    expected: dict[str, int] = {}
    for name in ["first" if i == ids[0] else str(i) for i in ids] + _voc_names():
        expected[name] = expected.get(name, 0) + 1
    assert s["instances"]["histogram"] == expected
    # coco-ok, voc-ok: the json-list and broken samples have no instances
    assert s["instances"]["annotated_images"] == 2
    assert s["classes"]["histogram"] == {"0": 1, "dog": 1}
    assert s["attributes"]["categorical"] == {"gender": {"female": 1}}
    assert hostile.notes == []
