"""Split names: converters write the cards' names, load() takes the card's names and aliases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from visiondata.loaders import LoaderOptionError, ManifestError, load
from visiondata.loaders._stream.loader import card_split
from visiondata.loaders.convert import convert
from visiondata.loaders.shards.manifest import read_manifest
from visiondata.loaders.shards.splits import ALIASES, official_split, split_candidates
from visiondata.registry import list_cards

from .loader_fakes import REALDATA


@pytest.mark.parametrize(
    ("source", "official"),
    [
        ("val2017", "validation"),
        ("train2014", "train"),
        ("test2017", "test"),
        ("test-dev2017", "test-dev"),
        ("val", "validation"),
        ("valid", "validation"),
        ("validation", "validation"),
        ("train", "train"),
        ("trainval", "trainval"),
        ("train_extra", "train_extra"),
        ("mf1_distractors", "mf1_distractors"),
        ("all", "all"),
    ],
)
def test_official_split(source: str, official: str) -> None:
    assert official_split(source) == official


def test_aliases_point_at_official_names() -> None:
    assert all(official_split(target) == target for target in ALIASES.values())
    assert split_candidates("val")[:2] == ["val", "validation"]
    assert "val" in split_candidates("validation")


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("coco") / "out"
    convert("coco", REALDATA / "coco", out, card="coco-2017")
    return out


def test_the_coco_converter_writes_the_cards_name(coco: Path) -> None:
    m = read_manifest(coco)
    assert list(m.splits) == ["validation"]
    assert m.splits["validation"].source_split == "val2017"
    assert [s.name for s in m.splits["validation"].shards] == ["validation-000000.tar"]


@pytest.mark.parametrize("split", ["validation", "val", "val2017"])
def test_load_takes_the_cards_names_and_aliases(coco: Path, split: str) -> None:
    loader = load("coco-2017", split, coco, batch_size=4, decode="none")
    assert sum(len(b["__key__"]) for b in loader) == 8
    assert "(split 'validation')" in loader.sources[0].where


def test_load_names_the_cards_splits(coco: Path) -> None:
    with pytest.raises(
        LoaderOptionError,
        match=r"card 'coco-2017' has no split 'minival'; its splits are train, validation, test "
        r"\(aliases: val -> validation",
    ):
        load("coco-2017", "minival", coco, batch_size=4)
    with pytest.raises(ManifestError, match=r"split 'train' is not in the manifest \(have: valid"):
        load("coco-2017", "train", coco, batch_size=4)


def test_a_version_1_manifest_keeps_its_source_names(coco: Path, tmp_path: Path) -> None:
    """Sets converted before the rename keep ``val2017`` as the key; they still load."""
    old = tmp_path / "old"
    shutil.copytree(coco, old)
    data = json.loads((old / "manifest.json").read_text())
    split = data["splits"].pop("validation")
    del split["source_split"]
    data |= {"version": 1, "splits": {"val2017": split}}
    (old / "manifest.json").write_text(json.dumps(data))
    loader = load("coco-2017", "val", old, batch_size=4, decode="none")
    assert sum(len(b["__key__"]) for b in loader) == 8


@pytest.mark.parametrize("card", [c.id for c in list_cards() if c.shards is not None])
def test_every_split_of_every_card_with_shards_loads_by_name_and_alias(card: str) -> None:
    names = next(c for c in list_cards() if c.id == card).splits
    for name in names:
        assert card_split(card, list(names), name) == name
        official = official_split(name)
        for alias in (a for a, t in ALIASES.items() if t == official and a not in names):
            assert card_split(card, list(names), alias) == name
