"""Exports of every shipped card (Croissant, Hugging Face, datasheet) and the HF import."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from visiondata.registry import Card, get_card, list_cards
from visiondata.registry.cli import main
from visiondata.registry.export import croissant, datasheet, hf
from visiondata.registry.export.import_hf import HF_METHODS, HF_TASKS, draft_card, parse_hf_card
from visiondata.registry.vocab import ANNOTATION_METHODS, TASKS

CARDS = list_cards()
IDS = [c.id for c in CARDS]

#: The one warning mlcroissant gives for our exports: cards carry no dataset version number.
VERSION_WARNING = 'Property "https://schema.org/version" is recommended, but does not exist.'


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    """Any attempt to open a network connection fails the test (the context is inline)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args}")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket, "create_connection", refuse)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def mlc(offline: None) -> Any:
    import mlcroissant

    logging.getLogger("absl").setLevel(logging.ERROR)  # it logs each warning once more
    return mlcroissant


# rdflib (used by mlcroissant) deprecates a class mlcroissant still uses; not ours to fix.
@pytest.mark.extras  # matplotlib, Pillow or mlcroissant
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
@pytest.mark.parametrize("card", CARDS, ids=IDS)
def test_croissant_passes_mlcroissant(card: Card, mlc: Any) -> None:
    doc = croissant.to_croissant(card)
    json.loads(croissant.render(card))  # the text is JSON
    dataset = mlc.Dataset(jsonld=doc)  # raises ValidationError on any error
    warnings = [w for w in dataset.metadata.ctx.issues.warnings if not w.endswith(VERSION_WARNING)]
    assert warnings == []
    names = {rs.name for rs in dataset.metadata.record_sets}
    assert "splits" in names
    assert dataset.metadata.cite_as == card.citation.strip()


@pytest.mark.parametrize("card", CARDS, ids=IDS)
def test_croissant_carries_every_figure_and_the_rai_notes(card: Card) -> None:
    doc = croissant.to_croissant(card)
    assert (
        doc["conformsTo"] == croissant.CONFORMS_TO and doc["@context"]["vd"] == croissant.NAMESPACE
    )
    figures = doc.get("vd:figures", [])
    assert [f["vd:value"] for f in figures] == [f.value for f in card.figures]
    assert [f["vd:verification"]["vd:status"] for f in figures] == [
        card.verification_of(f).status for f in card.figures
    ]
    assert {r["vd:key"] for r in doc["vd:references"]} == set(card.references)
    assert doc.get("rai:dataBiases", []) == [n.text.strip() for n in card.notes if n.kind == "bias"]
    assert "rai:dataCollection" in doc and "rai:dataAnnotationProtocol" in doc
    rows = doc["recordSet"][0]["data"]
    assert {r["splits/name"]: r["splits/num_examples"] for r in rows} == {
        n: s.num_examples for n, s in card.splits.items()
    }


@pytest.mark.parametrize("card", CARDS, ids=IDS)
def test_hf_card_header_parses(card: Card) -> None:
    text = hf.render(card)
    meta, body = parse_hf_card(text)
    assert meta["pretty_name"] == card.name
    assert meta["license"] in hf.HF_LICENSES
    assert meta["task_categories"] and meta["annotations_creators"]
    assert meta["source_datasets"] == ([f"extended|{d}" for d in card.derived_from] or ["original"])
    if all(s.num_examples is not None for s in card.splits.values()):
        assert len(meta["size_categories"]) == 1
    assert "### Discussion of Biases" in body and card.citation.strip() in body


@pytest.mark.extras  # huggingface_hub (the hf extra)
@pytest.mark.parametrize("card", CARDS, ids=IDS)
def test_hf_card_header_parses_with_the_hubs_parser(card: Card) -> None:
    from huggingface_hub import DatasetCard

    text = hf.render(card)
    meta, _ = parse_hf_card(text)
    data = DatasetCard(text).data  # the Hub's own parser reads the same header
    assert data.license == meta["license"] and data.task_categories == meta["task_categories"]


def test_hf_size_categories_and_license() -> None:
    meta = hf.header(get_card("adience"))
    assert meta["size_categories"] == ["10K<n<100K"]  # 26,580 images
    assert meta["license"] in hf.HF_LICENSES


def test_hf_mappings_cover_the_vocabulary() -> None:
    assert set(hf.TASK_CATEGORIES) == set(TASKS)
    assert set(hf.ANNOTATION_CREATORS) == set(ANNOTATION_METHODS)
    assert set(HF_METHODS.values()) <= set(ANNOTATION_METHODS)
    assert set(HF_TASKS.values()) <= set(TASKS)


@pytest.mark.parametrize("card", CARDS, ids=IDS)
def test_datasheet_sections(card: Card) -> None:
    text = datasheet.render(card)
    for section, questions in datasheet.QUESTIONS.items():
        assert f"## {section}" in text
        for question, _ in questions:
            assert f"**{question}**" in text
    # the card never says who funded a dataset: that stays unknown rather than guessed
    after = text.split("**Who funded the creation of the dataset?**", 1)[1]
    assert after.lstrip().startswith(datasheet.UNKNOWN)


def test_export_cli_to_stdout_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cards", "export", "adience", "--to", "croissant"]) == 0
    assert json.loads(capsys.readouterr().out)["vd:cardId"] == "adience"
    out = tmp_path / "README.md"
    assert main(["cards", "export", "MS-COCO", "--to", "hf", "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text(encoding="utf-8").split("---")[1])["pretty_name"]
    assert main(["cards", "export", "nope-set", "--to", "datasheet"]) == 2
    assert "no dataset card" in capsys.readouterr().err


HF_README = """\
---
annotations_creators: [crowdsourced]
license: cc-by-4.0
pretty_name: Tiny Fruits
source_datasets: [extended|cifar-10]
task_categories: [image-classification]
dataset_info:
  features:
  - name: image
    dtype: image
  - name: label
    dtype:
      class_label:
        names: {'0': apple, '1': banana}
  splits:
  - {name: train, num_bytes: 10, num_examples: 1200}
  - {name: test, num_bytes: 1, num_examples: 300}
---

# Dataset Card for Tiny Fruits

- **Homepage:** https://example.org/fruits

### Dataset Summary

Photos of fruit
for tests.

```bibtex
@misc{fruits2024, title={Tiny Fruits}, author={Doe, J.}, year={2024}}
```
"""


def test_import_hf_drafts_a_card_with_todo_markers() -> None:
    text = draft_card(HF_README, source="fruits/README.md")
    data = yaml.safe_load(text)
    assert data["id"] == "tiny-fruits" and data["name"] == "Tiny Fruits"
    assert data["description"] == "Photos of fruit for tests."
    assert data["homepage"] == "https://example.org/fruits"
    assert data["license"]["id"] == "CC-BY-4.0" and data["tasks"] == ["image-classification"]
    assert data["modalities"] == ["image"] and data["derived_from"] == ["cifar-10"]
    assert {k: v["num_examples"] for k, v in data["splits"].items()} == {"train": 1200, "test": 300}
    assert data["classes"] == {**data["classes"], "count": 2, "names": ["apple", "banana"]}
    assert "@misc{fruits2024" in data["citation"]
    assert data["year"] == "TODO" and "TODO" in data["collection"]["sources"]


def test_import_hf_cli_draft_fails_validation_until_filled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(HF_README, encoding="utf-8")
    draft = tmp_path / "tiny-fruits.yaml"
    assert main(["cards", "import-hf", str(readme), "--id", "tiny-fruits", "-o", str(draft)]) == 0
    capsys.readouterr()
    assert main(["cards", "validate", str(draft)]) == 1
    assert "TODO" in capsys.readouterr().out


def test_import_hf_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "README.md"
    plain.write_text("# no header\n", encoding="utf-8")
    assert main(["cards", "import-hf", str(plain)]) == 1
    assert "no YAML header" in capsys.readouterr().err
    assert main(["cards", "import-hf", str(tmp_path / "missing.md")]) == 2
    assert main(["cards", "import-hf", str(plain.with_name("x.md")), "--id", "Bad Id"]) == 2


def test_hf_export_round_trips_through_import() -> None:
    card = get_card("cifar-10")
    data = yaml.safe_load(draft_card(hf.render(card), card_id=card.id))
    assert data["name"] == card.name and data["derived_from"] == card.derived_from
    assert "@" in data["citation"]
