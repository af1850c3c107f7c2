"""A corpus of broken cards, one fault each: each must be rejected with its message and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from visiondata.registry.validate import validate_cards

from .conftest import VALID_CARD


@dataclass(frozen=True)
class Fault:
    name: str
    old: str  # text of VALID_CARD to replace (must occur once)
    new: str
    path: str  # expected field path
    message: str  # expected fragment of the message
    at: str | None = None  # a line of the broken card the problem must point at (default: new)


def _line_of(text: str, fragment: str) -> int:
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines, 1) if line.rstrip() == fragment]
    hits = hits or [i for i, line in enumerate(lines, 1) if fragment in line]
    assert len(hits) == 1, f"{fragment!r} occurs on lines {hits}"
    return hits[0]


FAULTS = [
    Fault(
        "yaml-syntax",
        "name: Toy Set",
        "name: [Toy Set",
        "(yaml)",
        "YAML syntax error",
        at="aliases: [TOYS]",
    ),
    Fault(
        "duplicate-key",
        "\nyear: 2020\n",
        "\nyear: 2020\nyear: 2021\n",
        "year",
        "duplicate key 'year' (first defined on line 6)",
        at="year: 2021",
    ),
    Fault(
        "python-tag",
        "description: A small made-up card used by the tests.",
        "description: !!python/object/apply:os.system ['echo pwned']",
        "description",
        "YAML tag '!!python/object/apply:os.system' is not allowed: tags that construct objects are refused",
    ),
    Fault(
        "custom-tag",
        'period: "2019"',
        "period: !secret 2019",
        "collection.period",
        "YAML tag '!secret' is not allowed",
    ),
    Fault(
        "unknown-key",
        "domain: real",
        "domain: real\ncolour: blue",
        "colour",
        "unknown key 'colour' (expected one of: id, schema_version, name, aliases",
        at="colour: blue",
    ),
    Fault(
        "unknown-nested-key",
        "  commercial_use: allowed",
        "  commercial_use: allowed\n  price: 0",
        "license.price",
        "unknown key 'price' (expected one of: id, name, url, commercial_use, notes, citation, locator, verification)",
        at="price: 0",
    ),
    Fault(
        "wrong-type",
        "\nyear: 2020\n",
        "\nyear: twenty\n",
        "year",
        "Input should be a valid integer",
        at="year: twenty",
    ),
    Fault(
        "wrong-type-list",
        "tasks: [image-classification]",
        "tasks: image-classification",
        "tasks",
        "Input should be a valid list",
    ),
    Fault(
        "missing-field",
        "example_unit: image\n",
        "",
        "example_unit",
        "required field is missing",
        at="id: toy-set",
    ),
    Fault(
        "missing-nested-field",
        "  commercial_use: allowed\n",
        "",
        "license.commercial_use",
        "required field is missing",
        at="license:",
    ),
    Fault(
        "id-differs-from-file",
        "id: toy-set",
        "id: other-set",
        "id",
        "id 'other-set' differs from the file name (expected 'toy-set')",
    ),
    Fault("bad-id", "id: toy-set", "id: Toy_Set", "id", "String should match pattern"),
    Fault(
        "fraction-above-1",
        "    value: 0.4\n",
        "    value: 1.4\n",
        "figures[0].value",
        "1.4 is not a fraction (expected 0..1 for unit 'fraction')",
        at="value: 1.4",
    ),
    Fault(
        "percent-above-100",
        "    value: 0.4\n    unit: fraction",
        "    value: 140\n    unit: percent",
        "figures[0].value",
        "140 is not a percentage (expected 0..100",
        at="value: 140",
    ),
    Fault(
        "shares-above-1",
        "    value: 0.6\n",
        "    value: 0.7\n",
        "figures[1].value",
        "shares of demographic.gender over subject in split train from 'doe2020' sum to 1.1 fraction",
        at="value: 0.7",
    ),
    Fault(
        "unknown-citation",
        '    provenance: {kind: declared, citation: doe2020, locator: Table 2, as_of: "2020"}\n    verification: {status: verified}\n  - id',
        '    provenance: {kind: declared, citation: smith2021, locator: Table 2, as_of: "2020"}\n    verification: {status: verified}\n  - id',
        "figures[0].provenance.citation",
        "citation key 'smith2021' is not in references (known: doe2020)",
        at="citation: smith2021",
    ),
    Fault(
        "unknown-derived-from",
        "derived_from: []",
        "derived_from: [no-such-card]",
        "derived_from[0]",
        "no card has the id 'no-such-card'",
    ),
    Fault(
        "non-http-url",
        "homepage: https://example.org/toy",
        "homepage: ftp://example.org/toy",
        "homepage",
        "'ftp://example.org/toy' is not an http(s) URL",
    ),
    Fault(
        "bad-bibtex",
        "    year={2020}\n  }\n",
        "    year={2020}\n",
        "citation",
        "BibTeX does not parse",
        at="citation: |",
    ),
    Fault(
        "unknown-term",
        "tasks: [image-classification]",
        "tasks: [image-clasification]",
        "tasks[0]",
        "'image-clasification' is not a known task; did you mean image-classification",
    ),
    Fault(
        "withdrawn-unexplained",
        "  state: active",
        "  state: withdrawn",
        "status",
        "a withdrawn dataset needs date, reason, citation",
        at="status:",
    ),
    Fault(
        "todo-left",
        "    locator: Table 1",
        "    locator: TODO where",
        "splits.train.locator",
        "unfilled TODO marker",
    ),
    Fault(
        "unverified-without-note",
        "    verification: {status: verified}\n  test:",
        "    verification: {status: unverified}\n  test:",
        "splits.train.verification",
        "a unverified figure needs a note",
        at="status: unverified",
    ),
    Fault(
        "class-names-count",
        "  count: 2",
        "  count: 3",
        "classes",
        "count is 3 but 2 names are listed",
        at="classes:",
    ),
    Fault(
        "computed-without-tool",
        '{kind: declared, citation: doe2020, locator: Table 2, as_of: "2020"}\n    verification: {status: verified}\n  - id',
        '{kind: computed, citation: doe2020, locator: Table 2, as_of: "2020"}\n    verification: {status: verified}\n  - id',
        "figures[0].provenance",
        "a computed figure needs 'tool'",
        at="kind: computed",
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_each_fault_is_reported_with_line_and_message(fault: Fault, card_dir: Path) -> None:
    assert VALID_CARD.count(fault.old) == 1, f"fixture text {fault.old!r} must occur exactly once"
    text = VALID_CARD.replace(fault.old, fault.new)
    path = card_dir / "toy-set.yaml"
    path.write_text(text)
    problems = validate_cards([path])
    expected_line = _line_of(
        text,
        (fault.at or fault.new.strip()).splitlines()[
            -1 if fault.at is None and fault.new.startswith("\n") else 0
        ],
    )
    matching = [p for p in problems if p.path == fault.path and fault.message in p.message]
    assert matching, "\n".join(str(p) for p in problems) or "no problem reported"
    assert matching[0].line == expected_line, str(matching[0])
    assert matching[0].file == str(path)
    assert str(matching[0]).startswith(f"{path}:{expected_line}: {fault.path}: ")


def test_valid_card_has_no_problem(card_dir: Path) -> None:
    path = card_dir / "toy-set.yaml"
    path.write_text(VALID_CARD)
    assert validate_cards([path]) == []


def test_every_problem_is_reported_not_just_the_first(card_dir: Path) -> None:
    text = VALID_CARD.replace("\nyear: 2020\n", "\nyear: twenty\n").replace(
        "domain: real", "domain: unreal"
    )
    text = text.replace("homepage: https://example.org/toy", "homepage: example.org")
    path = card_dir / "toy-set.yaml"
    path.write_text(text)
    paths = {p.path for p in validate_cards([path])}
    assert {"year", "domain", "homepage"} <= paths


def test_same_id_or_alias_in_two_cards(card_dir: Path) -> None:
    (card_dir / "toy-set.yaml").write_text(VALID_CARD)
    other = VALID_CARD.replace("id: toy-set", "id: toy-set-2").replace(
        "aliases: [TOYS]", "aliases: [toys]"
    )
    (card_dir / "toy-set-2.yaml").write_text(other)
    same_id = VALID_CARD.replace("aliases: [TOYS]", "aliases: []")
    (card_dir / "sub").mkdir()
    (card_dir / "sub" / "toy-set.yaml").write_text(same_id)
    problems = validate_cards(
        [card_dir / "toy-set.yaml", card_dir / "toy-set-2.yaml", card_dir / "sub" / "toy-set.yaml"]
    )
    messages = [str(p) for p in problems]
    assert any(
        "toy-set-2.yaml:4: aliases[0]: 'toys' is already used by" in m and "toy-set.yaml:4" in m
        for m in messages
    ), messages
    assert any("sub/toy-set.yaml:1: id: 'toy-set' is already used by" in m for m in messages), (
        messages
    )


def test_derived_from_resolves_against_known_ids(card_dir: Path) -> None:
    path = card_dir / "toy-set.yaml"
    path.write_text(VALID_CARD.replace("derived_from: []", "derived_from: [coco-2017]"))
    assert validate_cards([path], known_ids=["coco-2017"]) == []
    assert validate_cards([path])  # unknown without the catalogue


def test_empty_and_non_mapping_files(card_dir: Path) -> None:
    (card_dir / "empty.yaml").write_text("")
    (card_dir / "listy.yaml").write_text("- a\n- b\n")
    problems = validate_cards([card_dir / "empty.yaml", card_dir / "listy.yaml"])
    assert [p.message for p in problems] == [
        "the file is empty (expected a mapping of card fields)",
        "a card is a mapping of fields (got list)",
    ]
