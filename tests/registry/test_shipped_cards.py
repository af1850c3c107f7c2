"""The registry tests itself: every shipped card is parsed and validated (STYLE habit 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visiondata.registry import store
from visiondata.registry.cli.cards import card_json_schema
from visiondata.registry.validate import parse_card_file, validate_cards
from visiondata.registry.vocab import VOCABULARIES, render_markdown

SHIPPED = sorted(store.shipped_dir().glob("*.yaml"))
REGISTRY_DIR = Path(__file__).resolve().parents[2] / "registry"


def test_cards_ship() -> None:
    assert SHIPPED, "no shipped cards found"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_card_is_valid(path: Path) -> None:
    parsed = parse_card_file(path)
    assert parsed.problems == [], "\n".join(map(str, parsed.problems))
    assert parsed.card is not None and parsed.card.id == path.stem


def test_catalogue_is_consistent_across_cards() -> None:
    problems = validate_cards(SHIPPED)
    assert problems == [], "\n".join(map(str, problems))


def test_shipped_schema_file_is_current() -> None:
    shipped = json.loads((REGISTRY_DIR / "card.schema.json").read_text())
    assert shipped == card_json_schema(), "run: visiondata cards schema > registry/card.schema.json"


def test_vocabulary_doc_is_generated_from_the_tables() -> None:
    assert (REGISTRY_DIR / "vocabulary.md").read_text() == render_markdown(), (
        "run: visiondata cards vocab > registry/vocabulary.md"
    )


def test_every_term_has_a_one_line_description() -> None:
    for name, table in VOCABULARIES.items():
        assert table, name
        for term, text in table.items():
            assert text.strip() and "\n" not in text, f"{name}.{term}"
