"""Card schema v2: every new rule rejects its broken card with the exact FILE:LINE message, and
the computed parts (derived verification, formulas, transfers) give the right answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visiondata.registry.formula import FormulaError, agrees, parse
from visiondata.registry.query import run_query
from visiondata.registry.store import load_card
from visiondata.registry.validate import validate_cards

from .conftest import VALID_CARD

#: Inserted before ``notes:``: a third figure, one per test.
EXTRA_AT = "notes:\n  - kind: bias"


def _line(text: str, fragment: str, nth: int = 0) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(hits) > nth, f"{fragment!r} occurs on lines {hits}"
    return hits[nth]


def _write(card_dir: Path, text: str, name: str = "toy-set") -> Path:
    path = card_dir / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _edit(*pairs: tuple[str, str]) -> str:
    text = VALID_CARD
    for old, new in pairs:
        assert text.count(old) == 1, f"fixture text {old!r} must occur exactly once"
        text = text.replace(old, new)
    return text


def _with_figure(figure: str, text: str = VALID_CARD) -> str:
    return text.replace(EXTRA_AT, figure + EXTRA_AT)


def _problems(card_dir: Path, text: str, **kwargs: object) -> list[str]:
    return [str(p) for p in validate_cards([_write(card_dir, text)], **kwargs)]  # type: ignore[arg-type]


def _expect(card_dir: Path, text: str, at: int, path: str, message: str) -> None:
    file = card_dir / "toy-set.yaml"
    problems = _problems(card_dir, text)
    assert f"{file}:{at}: {path}: {message}" in problems, "\n".join(problems) or "no problem"


DERIVED_MALE = """\
  - id: share-male-derived
    axis: demographic.gender
    metric: proportion
    category: male
    value: 0.6
    unit: fraction
    population: {unit: subject, split: test, n: 20}
    provenance: {kind: derived, citation: doe2020, locator: Table 2, as_of: "2020"}
    derivation: {inputs: [share-female], operation: complement, formula: "1 - share-female"}
"""


# --- schema_version ---------------------------------------------------------------------------


def test_schema_version_is_required(card_dir: Path) -> None:
    text = _edit(("schema_version: 2\n", ""))
    _expect(
        card_dir,
        text,
        1,
        "schema_version",
        "required field is missing (add `schema_version: 2` right after id)",
    )


def test_schema_version_1_is_refused(card_dir: Path) -> None:
    text = _edit(("schema_version: 2", "schema_version: 1"))
    _expect(
        card_dir,
        text,
        2,
        "schema_version",
        "schema_version 1 is not supported: this visiondata reads card schema 2 (expected "
        "schema_version: 2; CHANGELOG.md says what changed)",
    )


def test_schema_version_comes_right_after_id(card_dir: Path) -> None:
    text = _edit(("schema_version: 2\nname: Toy Set", "name: Toy Set\nschema_version: 2"))
    _expect(
        card_dir,
        text,
        3,
        "schema_version",
        "schema_version must come right after id (the second key)",
    )


# --- splits: count_kind -----------------------------------------------------------------------


def test_count_kind_is_required(card_dir: Path) -> None:
    text = _edit(("    num_examples: 20\n    count_kind: release\n", "    num_examples: 20\n"))
    _expect(
        card_dir,
        text,
        _line(text, "  test:"),
        "splits.test.count_kind",
        "required field is missing",
    )


def test_computed_count_needs_a_formula(card_dir: Path) -> None:
    text = _edit(
        (
            "    num_examples: 20\n    count_kind: release",
            "    num_examples: 20\n    count_kind: computed",
        )
    )
    _expect(
        card_dir,
        text,
        _line(text, "  test:"),
        "splits.test",
        "count_kind computed needs formula (the arithmetic, e.g. 'all - train - validation')",
    )


def test_computed_count_must_equal_its_formula(card_dir: Path) -> None:
    ok = _edit(
        (
            "    num_examples: 20\n    count_kind: release",
            "    num_examples: 20\n    count_kind: computed\n    formula: train / 5",
        )
    )
    assert _problems(card_dir, ok) == []
    bad = ok.replace("formula: train / 5", "formula: train / 4")
    _expect(
        card_dir,
        bad,
        _line(bad, "num_examples: 20"),
        "splits.test.num_examples",
        "20 is not what its formula gives: train / 4 = 25 (train = 100)",
    )
    unknown = ok.replace("formula: train / 5", "formula: trian / 5")
    _expect(
        card_dir,
        unknown,
        _line(unknown, "formula: trian"),
        "splits.test.formula",
        "'trian' is not another split here (train), splits.<name>, classes.count or a figure id",
    )


def test_available_count_needs_as_of(card_dir: Path) -> None:
    text = _edit(
        (
            "    num_examples: 20\n    count_kind: release",
            "    num_examples: 20\n    count_kind: available",
        )
    )
    _expect(
        card_dir,
        text,
        _line(text, "  test:"),
        "splits.test",
        "count_kind available needs as_of (the date it was counted)",
    )
    dated = text.replace("count_kind: available", 'count_kind: available\n    as_of: "2024-05"')
    assert _problems(card_dir, dated) == []


# --- figure ids, verification ------------------------------------------------------------------


def test_figure_id_is_required_and_unique(card_dir: Path) -> None:
    text = _edit(("  - id: share-male\n    axis", "  - axis"))
    _expect(card_dir, text, _line(text, "  - axis:"), "figures[1].id", "required field is missing")
    twice = _edit(("  - id: share-male", "  - id: share-female"))
    _expect(
        card_dir,
        twice,
        _line(twice, "- id: share-female", 1),
        "figures[1].id",
        f"id 'share-female' is already used by line {_line(twice, '- id: share-female')}",
    )


def test_secondary_needs_the_url_of_the_copy(card_dir: Path) -> None:
    old = '    provenance: {kind: declared, citation: doe2020, locator: Table 2, as_of: "2020"}\n    verification: {status: verified}\n  - id: share-male'
    text = _edit((old, old.replace("{status: verified}", "{status: secondary}")))
    _expect(
        card_dir,
        text,
        _line(text, "{status: secondary}"),
        "figures[0].verification",
        "a secondary verification needs url (the address of the verbatim copy read)",
    )
    with_url = text.replace(
        "{status: secondary}", "{status: secondary, url: https://example.org/copy}"
    )
    assert _problems(card_dir, with_url) == []


def test_unverified_still_needs_a_note(card_dir: Path) -> None:
    text = _edit(
        (
            "    verification: {status: verified}\n  - id: share-male",
            "    verification: {status: unverified}\n  - id: share-male",
        )
    )
    _expect(
        card_dir,
        text,
        _line(text, "{status: unverified}"),
        "figures[0].verification",
        "a unverified figure needs a note (the source actually read, or the dispute)",
    )


# --- editions ---------------------------------------------------------------------------------


EDITIONS = """editions:
  - id: "2020"
    name: Toy Set 2020
    year: 2020
  - id: v2.1
    name: Toy Set v2.1
splits:"""


def test_unknown_edition_is_an_error(card_dir: Path) -> None:
    text = _edit(("    category: female\n", "    category: female\n    edition: 2021\n"))
    _expect(
        card_dir,
        text,
        _line(text, "edition: 2021"),
        "figures[0].edition",
        "edition '2021' is not listed in editions (the card lists no editions)",
    )
    listed = text.replace("splits:", EDITIONS, 1)
    _expect(
        card_dir,
        listed,
        _line(listed, "edition: 2021"),
        "figures[0].edition",
        "edition '2021' is not listed in editions (known: 2020, v2.1)",
    )
    fixed = listed.replace("edition: 2021", "edition: 2020")  # a YAML number names "2020"
    assert _problems(card_dir, fixed) == []
    assert load_card(card_dir / "toy-set.yaml").figures[0].edition == "2020"


def test_split_and_class_editions_are_checked(card_dir: Path) -> None:
    text = _edit(
        (
            "    count_kind: release\n    citation",
            "    count_kind: release\n    edition: v3\n    citation",
        ),
        ("  count: 2\n", "  count: 2\n  edition: v2.1\n"),
    )
    text = text.replace("splits:", EDITIONS, 1)
    _expect(
        card_dir,
        text,
        _line(text, "edition: v3"),
        "splits.train.edition",
        "edition 'v3' is not listed in editions (known: 2020, v2.1)",
    )
    assert len(_problems(card_dir, text)) == 1  # classes.edition v2.1 is listed


# --- scope ------------------------------------------------------------------------------------


def test_pooled_needs_pooled_with(card_dir: Path) -> None:
    text = _edit(("    category: female\n", "    category: female\n    scope: pooled\n"))
    _expect(
        card_dir,
        text,
        _line(text, "scope: pooled"),
        "figures[0].scope",
        "scope pooled needs pooled_with (the ids of the other cards measured together)",
    )
    named = text.replace("scope: pooled\n", "scope: pooled\n    pooled_with: [other-set]\n")
    _expect(
        card_dir,
        named,
        _line(named, "pooled_with: [other-set]"),
        "figures[0].pooled_with[0]",
        "no card has the id 'other-set'",
    )
    assert _problems(card_dir, named, known_ids=["other-set"]) == []


# --- subject ----------------------------------------------------------------------------------


SUBGROUP = """\
  - id: error-female
    axis: subgroup_performance
    metric: error_rate
    category: female
    value: 0.1
    unit: fraction
    population: {unit: subject, split: test, n: 20}
    provenance: {kind: measured, citation: doe2020, locator: Table 3, as_of: "2020"}
    verification: {status: verified}
"""


def test_performance_figures_name_their_subject(card_dir: Path) -> None:
    text = _with_figure(SUBGROUP)
    _expect(
        card_dir,
        text,
        _line(text, "- id: error-female"),
        "figures[2]",
        "a figure with axis subgroup_performance needs subject (the model, system, method or "
        "people measured: {name, version, kind})",
    )
    named = text.replace(
        "    category: female\n    value: 0.1",
        "    category: female\n    subject: {name: ToyNet, version: 2019, kind: model}\n    value: 0.1",
    )
    assert _problems(card_dir, named) == []
    assert load_card(card_dir / "toy-set.yaml").figures[2].subject.version == "2019"  # type: ignore[union-attr]


# --- derivations ------------------------------------------------------------------------------


def test_derived_figure_may_not_carry_a_verification(card_dir: Path) -> None:
    text = _with_figure(DERIVED_MALE + "    verification: {status: verified}\n")
    _expect(
        card_dir,
        text,
        _line(text, "verification: {status: verified}", 3),
        "figures[2].verification",
        "a derived figure's verification is computed from its inputs: remove verification "
        "(`visiondata bias show` prints the computed one)",
    )


def test_derived_figure_needs_a_derivation(card_dir: Path) -> None:
    text = _with_figure(DERIVED_MALE.split("    derivation:")[0])
    _expect(
        card_dir,
        text,
        _line(text, "kind: derived"),
        "figures[2].provenance.kind",
        "a derived figure needs derivation (inputs, operation and formula)",
    )


def test_derivation_inputs_must_exist(card_dir: Path) -> None:
    text = _with_figure(
        DERIVED_MALE.replace("inputs: [share-female]", "inputs: [share-femal]").replace(
            '"1 - share-female"', '"1 - share-femal"'
        )
    )
    _expect(
        card_dir,
        text,
        _line(text, "inputs: [share-femal]"),
        "figures[2].derivation.inputs[0]",
        "no figure, split or class count of this card is called 'share-femal'; did you mean "
        "share-female, share-male?",
    )


def test_derivation_formula_must_give_the_value(card_dir: Path) -> None:
    text = _with_figure(DERIVED_MALE.replace("    value: 0.6", "    value: 0.5"))
    _expect(
        card_dir,
        text,
        _line(text, "value: 0.5"),
        "figures[2].value",
        "0.5 is not what its formula gives: 1 - share-female = 0.6 (share-female = 0.4)",
    )
    unused = _with_figure(
        DERIVED_MALE.replace("inputs: [share-female]", "inputs: [share-female, splits.test]")
    )
    _expect(
        card_dir,
        unused,
        _line(unused, "formula: "),
        "figures[2].derivation.formula",
        "input 'splits.test' is not used by the formula",
    )


def test_circular_derivations_are_refused(card_dir: Path) -> None:
    a = DERIVED_MALE.replace("inputs: [share-female]", "inputs: [other-share]").replace(
        '"1 - share-female"', '"1 - other-share"'
    )
    b = (
        DERIVED_MALE.replace("share-male-derived", "other-share")
        .replace("    value: 0.6", "    value: 0.4")
        .replace("inputs: [share-female]", "inputs: [share-male-derived]")
        .replace('"1 - share-female"', '"1 - share-male-derived"')
        .replace("category: male", "category: female")
    )
    text = _with_figure(a + b)
    problems = _problems(card_dir, text)
    file = card_dir / "toy-set.yaml"
    assert (
        f"{file}:{_line(text, 'inputs: [other-share]')}: figures[2].derivation.inputs: circular "
        "derivation: share-male-derived -> other-share -> share-male-derived" in problems
    ), problems
    assert (  # each figure of the cycle is reported on its own line
        f"{file}:{_line(text, 'inputs: [share-male-derived]')}: figures[3].derivation.inputs: "
        "circular derivation: other-share -> share-male-derived -> other-share" in problems
    ), problems


def _derived_card(card_dir: Path, female_verification: str, split_verification: str) -> str:
    text = _with_figure(
        DERIVED_MALE.replace(
            'inputs: [share-female], operation: complement, formula: "1 - share-female"',
            'inputs: [share-female, splits.train], operation: other, formula: "1 - share-female + 0 * splits.train"',
        )
    )
    text = text.replace(
        "    verification: {status: verified}\n  - id: share-male",
        f"    verification: {female_verification}\n  - id: share-male",
    )
    return text.replace(
        "    locator: Table 1\n    verification: {status: verified}",
        f"    locator: Table 1\n    verification: {split_verification}",
    )


@pytest.mark.parametrize(
    ("female", "split", "expected"),
    [
        ("{status: verified}", "{status: verified}", "verified"),
        ("{status: verified}", "{status: unverified, note: a blog}", "unverified"),
        ("{status: unverified, note: a blog}", "{status: verified}", "unverified"),
        ("{status: secondary, url: https://example.org/copy}", "{status: verified}", "secondary"),
        ("{status: disputed, note: two values}", "{status: verified}", "unverified"),
    ],
)
def test_derived_verification_is_computed_from_the_inputs(
    card_dir: Path, female: str, split: str, expected: str
) -> None:
    path = _write(card_dir, _derived_card(card_dir, female, split))
    assert validate_cards([path]) == []
    card = load_card(path)
    fig = card.figure("share-male-derived")
    assert fig is not None and fig.verification is None
    computed = card.verification_of(fig)
    assert computed.status == expected
    assert computed.note is not None and "share-female (" in computed.note
    if expected == "secondary":
        assert computed.url == "https://example.org/copy"
    row = run_query(
        "SELECT verification_status FROM figures WHERE figure_id = 'share-male-derived'", [card]
    )
    assert row.to_pylist() == [{"verification_status": expected}]


# --- uniqueness -------------------------------------------------------------------------------


TWIN = """\
  - id: share-female-again
    axis: demographic.gender
    metric: proportion
    category: female
    value: 0.45
    unit: fraction
    population: {unit: subject, split: train, n: 100}
    provenance: {kind: declared, citation: doe2020, locator: Table 4, as_of: "2020"}
    verification: {status: disputed, note: "Table 4 says 45%, Table 2 says 40%"}
"""


def test_two_figures_measuring_the_same_thing_must_agree(card_dir: Path) -> None:
    text = _with_figure(TWIN)
    _expect(
        card_dir,
        text,
        _line(text, "- id: share-female-again"),
        "figures[2]",
        f"collides with 'share-female' (line {_line(text, '- id: share-female')}): same axis, "
        "metric, category, population.unit, population.split, subject.name, subject.version, "
        "edition, scope, provenance.as_of but value 0.45 vs 0.4; tell them apart (subject, "
        "edition, population.split, as_of) or record a dispute naming the other",
    )


def test_a_recorded_dispute_allows_the_collision_if_both_are_located(card_dir: Path) -> None:
    disputed = TWIN + "    dispute: {with: [share-female], note: the tables disagree}\n"
    assert _problems(card_dir, _with_figure(disputed)) == []
    unlocated = _with_figure(disputed.replace("locator: Table 4, ", ""))
    _expect(
        card_dir,
        unlocated,
        _line(unlocated, 'provenance: {kind: declared, citation: doe2020, as_of: "2020"}'),
        "figures[2].provenance",
        "a recorded dispute needs both figures cited with a locator (where each number is written)",
    )
    typo = _with_figure(TWIN + "    dispute: {with: [share-femail], note: typo}\n")
    _expect(
        card_dir,
        typo,
        _line(typo, "dispute: {with: [share-femail]"),
        "figures[2].dispute.with[0]",
        "no figure of this card has the id 'share-femail'",
    )


def test_a_different_edition_or_subject_is_not_a_collision(card_dir: Path) -> None:
    text = _with_figure(
        TWIN.replace("    category: female\n", "    category: female\n    edition: v2.1\n")
    )
    text = text.replace("splits:", EDITIONS, 1)
    problems = _problems(card_dir, text)
    assert not any("collides" in p for p in problems), problems


# --- transfers --------------------------------------------------------------------------------


TRANSFERS = """transfers:
  - id: toy-to-other-fcn
    target: other-set
    target_edition: "2021"
    task: semantic-segmentation
    setting: source-only
    subject: {name: FCN8s, kind: model}
    backbone: VGG16
    metric: miou
    value: 21.3
    unit: percent
    population: {unit: image, split: validation, n: 500}
    provenance: {kind: measured, citation: doe2020, locator: Table 5, as_of: "2020"}
    verification: {status: verified}
notes:
  - kind: bias"""

OTHER = (
    VALID_CARD.replace("id: toy-set", "id: other-set")
    .replace("aliases: [TOYS]", "aliases: []")
    .replace("splits:", 'editions:\n  - id: "2021"\n    name: Other 2021\nsplits:', 1)
)


def test_transfer_target_must_be_a_known_card(card_dir: Path) -> None:
    text = VALID_CARD.replace(EXTRA_AT, TRANSFERS)
    _expect(
        card_dir,
        text,
        _line(text, "target: other-set"),
        "transfers[0].target",
        "no card has the id 'other-set'",
    )
    source = _write(card_dir, text)
    target = _write(card_dir, OTHER, "other-set")
    assert validate_cards([source, target]) == []
    wrong = _write(card_dir, text.replace('target_edition: "2021"', "target_edition: v9"))
    problems = [str(p) for p in validate_cards([wrong, target])]
    assert problems == [
        f"{wrong}:{_line(text, 'target_edition')}: transfers[0].target_edition: edition 'v9' is "
        "not an edition of card 'other-set' (its editions: 2021)"
    ]
    known = validate_cards([wrong], known_editions={"other-set": ["2021"]})
    assert [p.path for p in known] == ["transfers[0].target_edition"]


def test_transfer_needs_a_subject_and_no_derivation(card_dir: Path) -> None:
    text = VALID_CARD.replace(
        EXTRA_AT, TRANSFERS.replace("    subject: {name: FCN8s, kind: model}\n", "")
    )
    _expect(
        card_dir,
        text,
        _line(text, "- id: toy-to-other-fcn"),
        "transfers[0].subject",
        "required field is missing",
    )
    derived = VALID_CARD.replace(EXTRA_AT, TRANSFERS.replace("kind: measured", "kind: derived"))
    _expect(
        card_dir,
        derived,
        _line(derived, "- id: toy-to-other-fcn"),
        "transfers[0]",
        "a transfer is measured or declared, not derived (record derived numbers as figures)",
    )
    clash = VALID_CARD.replace(
        EXTRA_AT, TRANSFERS.replace("id: toy-to-other-fcn", "id: share-male")
    )
    _expect(
        card_dir,
        clash,
        _line(clash, "  - id: share-male", 1),
        "transfers[0].id",
        f"id 'share-male' is already used by line {_line(clash, '  - id: share-male')}",
    )


def test_transfers_table_holds_the_card_transfers(card_dir: Path) -> None:
    path = _write(card_dir, VALID_CARD.replace(EXTRA_AT, TRANSFERS))
    card = load_card(path)
    rows = run_query("SELECT * FROM transfers", [card]).to_pylist()
    assert rows == [
        {
            "card_id": "toy-set",
            "target_card": "other-set",
            "transfer_id": "toy-to-other-fcn",
            "task": "semantic-segmentation",
            "setting": "source-only",
            "subject": "FCN8s",
            "subject_version": None,
            "backbone": "VGG16",
            "metric": "miou",
            "value": 21.3,
            "unit": "percent",
            "bound": "exact",
            "split": "validation",
            "n": 500,
            "provenance_kind": "measured",
            "citation": "doe2020",
            "locator": "Table 5",
            "as_of": "2020",
            "verification_status": "verified",
            "source_edition": None,
            "target_edition": "2021",
            "note": None,
            "subject_kind": "model",
            "population_unit": "image",
            "verification_note": None,
            "verification_url": None,
        }
    ]
    cards = run_query("SELECT num_transfers, editions, schema_version FROM cards", [card])
    assert cards.to_pylist() == [{"num_transfers": 1, "editions": [], "schema_version": 2}]


# --- folds ------------------------------------------------------------------------------------


FOLDS = """folds:
  split1:
    note: official list 1
    splits:
      train: {num_examples: 80, count_kind: release, citation: doe2020, locator: list 1}
      test: {num_examples: 40, count_kind: computed, formula: all - train}
classes:"""


def test_folds_are_kept_apart_from_the_splits(card_dir: Path) -> None:
    text = VALID_CARD.replace("classes:", FOLDS, 1)
    _expect(
        card_dir,
        text,
        _line(text, "test: {num_examples: 40"),
        "folds.split1.splits.test.formula",
        "'all' is not another split here (train), splits.<name>, classes.count or a figure id",
    )
    fixed = text.replace("formula: all - train}", "formula: splits.train + splits.test - train}")
    path = _write(card_dir, fixed)
    assert validate_cards([path]) == []
    card = load_card(path)
    assert card.total_examples == 120  # folds overlap the splits and are not added in
    rows = run_query(
        "SELECT fold, split, num_examples, count_kind FROM folds ORDER BY split", [card]
    )
    assert rows.to_pylist() == [
        {"fold": "split1", "split": "test", "num_examples": 40, "count_kind": "computed"},
        {"fold": "split1", "split": "train", "num_examples": 80, "count_kind": "release"},
    ]


# --- year, license and status records ----------------------------------------------------------


def test_year_license_and_status_carry_verification_records(card_dir: Path) -> None:
    text = _edit(
        (
            "\nyear: 2020\n",
            "\nyear: 2020\nyear_source: {citation: doe2020, locator: title page, verification: {status: verified}}\n",
        ),
        (
            "  commercial_use: allowed\n",
            "  commercial_use: allowed\n  citation: doe2020\n  locator: Sec. 9\n  verification: {status: unverified, note: read on a mirror}\n",
        ),
        (
            "  state: active\n",
            "  state: active\n  locator: home page\n  verification: {status: secondary, url: https://example.org/copy}\n",
        ),
    )
    path = _write(card_dir, text)
    assert validate_cards([path]) == []
    row = run_query(
        "SELECT year_verification, license_verification, status_verification FROM cards",
        [load_card(path)],
    ).to_pylist()
    assert row == [
        {
            "year_verification": "verified",
            "license_verification": "unverified",
            "status_verification": "secondary",
        }
    ]
    bad = text.replace("year_source: {citation: doe2020", "year_source: {citation: nobody2020")
    _expect(
        card_dir,
        bad,
        _line(bad, "year_source:"),
        "year_source.citation",
        "citation key 'nobody2020' is not in references (known: doe2020)",
    )


# --- formulas ---------------------------------------------------------------------------------


def test_formula_names_evaluation_and_refusals() -> None:
    f = parse("(splits.train + splits.validation) / (v1-train + v1-validation)")
    assert f.names == ("splits.train", "splits.validation", "v1-train", "v1-validation")
    value = f.evaluate(
        {
            "splits.train": 443757,
            "splits.validation": 214354,
            "v1-train": 248349,
            "v1-validation": 121512,
        }
    )
    assert agrees(value, 1.7793) and not agrees(value, 1.7795)
    assert parse("all - train - validation").evaluate({"all": 10, "train": 6, "validation": 1}) == 3
    assert parse("1-share").names == ("1-share",)  # a minus without spaces is part of an id
    for bad in ("2 ** 3", "f(x)", "214,295 / 2", "a.b.c", "", "x ="):
        with pytest.raises(FormulaError):
            parse(bad)
    with pytest.raises(FormulaError, match="division by zero"):
        parse("a / b").evaluate({"a": 1, "b": 0})
    assert agrees(214295 / 579184, 0.36999)  # truncated in the last place: accepted
    assert not agrees(0.37, 0.36)
    assert agrees(246245, 246245, whole=True) and not agrees(246246, 246245, whole=True)


def test_every_shipped_card_is_v2_and_every_derived_figure_has_inputs() -> None:
    from visiondata.registry import list_cards

    cards = list_cards()
    assert cards and all(c.schema_version == 2 for c in cards)
    derived = [(c, f) for c in cards for f in c.figures if f.provenance.kind == "derived"]
    assert derived
    for c, f in derived:
        assert f.verification is None and f.derivation is not None, (c.id, f.id)
        assert c.verification_of(f).note.startswith("computed from its inputs: ")  # type: ignore[union-attr]
    ids = json.dumps({c.id: [f.id for f in c.figures] for c in cards})
    assert "error-darker-female-microsoft" in ids  # one PPB figure per classifier
