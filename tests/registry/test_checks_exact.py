"""The validator's cross-field checks, case by case, with the exact message: the share-sum rule
(percent, superseded and upper-bound figures, the tolerance, the grouping), also the targeted
tests of ``bash .ci/mutation`` for registry/checks.py."""

from __future__ import annotations

import pytest
from visiondata.registry.checks import SHARE_TOLERANCE
from visiondata.registry.validate import parse_card_text

from .conftest import VALID_CARD

FEMALE = "    value: 0.4\n    unit: fraction\n    population: {unit: subject, split: train, n: 100}"
MALE = "    value: 0.6\n    unit: fraction\n    population: {unit: subject, split: train, n: 100}"


def _figure(fid: str, category: str, value: str, extra: str = "", **over: str) -> str:
    fields = {
        "axis": "demographic.gender",
        "metric": "proportion",
        "unit": "fraction",
        "population": "{unit: subject, split: train, n: 100}",
        "provenance": '{kind: declared, citation: doe2020, locator: Table 2, as_of: "2020"}',
    } | over
    return (
        f"  - id: {fid}\n    axis: {fields['axis']}\n    metric: {fields['metric']}\n"
        f"    category: {category}\n    value: {value}\n    unit: {fields['unit']}\n"
        f"    population: {fields['population']}\n    provenance: {fields['provenance']}\n"
        + (extra if "verification" in extra else extra + "    verification: {status: verified}\n")
    )


def _card(female: str = "0.4", male: str = "0.6", *more: str, unit: str = "fraction") -> str:
    text = VALID_CARD.replace(FEMALE, FEMALE.replace("0.4", female).replace("fraction", unit))
    text = text.replace(MALE, MALE.replace("0.6", male).replace("fraction", unit))
    return text.replace("notes:\n  - kind: bias", "".join(more) + "notes:\n  - kind: bias")


def _shares(text: str) -> list[str]:
    parsed = parse_card_text(text, "c.yaml")
    other = [str(p) for p in parsed.problems if "shares of" not in p.message]
    assert not other, other
    return [p.message for p in parsed.problems]


OVER = (
    "shares of demographic.gender over subject in split train from 'doe2020' sum to {total}"
    " {unit} (categories female, male{more}); expected at most {scale}"
)


def test_shares_within_one_pass() -> None:
    assert SHARE_TOLERANCE == 0.011
    assert _shares(_card()) == []
    assert _shares(_card("0.41", "0.6")) == []  # 1.01: rounding, within the tolerance


def test_shares_over_one_are_named() -> None:
    assert _shares(_card("0.42", "0.6")) == [
        OVER.format(total="1.02", unit="fraction", more="", scale="1")
    ]


def test_shares_in_percent() -> None:
    assert _shares(_card("40", "60", unit="percent")) == []
    assert _shares(_card("41", "60", unit="percent")) == []
    assert _shares(_card("45", "60", unit="percent")) == [
        OVER.format(total="105", unit="percent", more="", scale="100")
    ]


def test_superseded_and_upper_bound_figures_do_not_count() -> None:
    old = _figure(
        "share-other-old",
        "other",
        "0.3",
        "    verification: {status: superseded, note: replaced by Table 3}\n",
    )
    upper = _figure("share-other-upper", "other", "0.3", "    bound: upper\n")
    assert _shares(_card("0.4", "0.6", old)) == []
    assert _shares(_card("0.4", "0.6", upper)) == []
    counted = _figure("share-other", "other", "0.3")
    assert _shares(_card("0.4", "0.6", counted)) == [
        OVER.format(total="1.3", unit="fraction", more=", other", scale="1")
    ]


def test_only_proportions_of_exclusive_axes_of_one_group_add_up() -> None:
    other_split = _figure(
        "share-other", "other", "0.3", population="{unit: subject, split: test, n: 20}"
    )
    assert _shares(_card("0.4", "0.6", other_split)) == []
    other_source = _figure(
        "share-other",
        "other",
        "0.3",
        provenance='{kind: declared, citation: doe2020, locator: Table 9, as_of: "2020"}',
    )
    assert _shares(_card("0.4", "0.6", other_source)) == []
    no_split = _figure("share-a", "female", "0.7", population="{unit: image, n: 100}") + _figure(
        "share-b", "male", "0.7", population="{unit: image, n: 100}"
    )
    assert _shares(_card("0.4", "0.6", no_split)) == [
        "shares of demographic.gender over image from 'doe2020' sum to 1.4 fraction"
        " (categories female, male); expected at most 1"
    ]


def test_the_problem_sits_on_the_last_figure_of_the_group() -> None:
    parsed = parse_card_text(_card("0.42", "0.6"), "c.yaml")
    (problem,) = parsed.problems
    assert problem.path == "figures[1].value"
    assert problem.line == VALID_CARD.splitlines().index("    value: 0.6") + 1


@pytest.mark.parametrize("unit", ["fraction", "percent"])
def test_share_mutants_of_the_tolerance(unit: str) -> None:
    """A share sum of exactly one (the common case) never trips the rule."""
    one = ("0.5", "0.5") if unit == "fraction" else ("50", "50")
    assert _shares(_card(*one, unit=unit)) == []


def _messages(text: str) -> list[str]:
    return [p.message for p in parse_card_text(text, "c.yaml").problems]


def test_secondary_and_disputed_figures_count_in_the_shares() -> None:
    for status in (
        "{status: secondary, url: https://example.org/copy}",
        "{status: disputed, note: x}",
    ):
        extra = _figure("share-other", "other", "0.3", f"    verification: {status}\n")
        assert _shares(_card("0.4", "0.6", extra)) == [
            OVER.format(total="1.3", unit="fraction", more=", other", scale="1")
        ]


def test_shares_in_other_units_are_not_scaled() -> None:
    assert _shares(_card("0.7", "0.7", unit="percentage_points")) == [
        OVER.format(total="1.4", unit="percentage_points", more="", scale="1")
    ]


def test_a_collision_is_found_whichever_value_is_larger() -> None:
    for value in ("0.3", "0.5"):  # below and above the first figure's 0.4
        twin = _figure("share-female-again", "female", value)
        (collision,) = [m for m in _messages(_card("0.4", "0.6", twin)) if "collides" in m]
        assert collision.startswith("collides with 'share-female' (line ")
        assert f"but value {value} vs 0.4;" in collision


def test_a_figure_cannot_dispute_itself() -> None:
    own = _figure("share-other", "other", "0", "    dispute: {with: [share-other], note: x}\n")
    assert "a figure cannot dispute itself" in _messages(_card("0.4", "0.6", own))


def test_a_figure_cannot_be_derived_from_itself() -> None:
    own = _figure(
        "share-self",
        "other",
        "0",
        '    derivation: {inputs: [share-self], operation: complement, formula: "1 - share-self"}\n',
        provenance='{kind: derived, citation: doe2020, locator: Table 2, as_of: "2020"}',
    ).replace("    verification: {status: verified}\n", "")
    assert "a figure cannot be derived from itself" in _messages(_card("0.4", "0.6", own))


def test_an_unknown_name_in_a_split_formula_lists_the_other_splits() -> None:
    """The list holds every split but the one with the formula, whichever way they sort."""
    text = VALID_CARD.replace(
        "    num_examples: 100\n    count_kind: release\n    citation: doe2020\n"
        "    locator: Table 1\n    verification: {status: verified}",
        "    num_examples: 100\n    count_kind: computed\n    formula: nope * 5",
    )
    assert "formula: nope * 5" in text
    assert _messages(text) == [
        "'nope' is not another split here (test), splits.<name>, classes.count or a figure id"
    ]


def test_only_proportions_add_up() -> None:
    ratios = _figure("ratio-a", "female", "0.7", metric="ratio") + _figure(
        "ratio-b", "male", "0.7", metric="ratio"
    )
    assert _messages(_card("0.4", "0.6", ratios)) == []


def test_pooled_with_needs_scope_pooled() -> None:
    stray = _figure("share-other", "other", "0", "    pooled_with: [other-set]\n")
    assert "pooled_with is only for scope pooled (got this-dataset)" in _messages(
        _card("0.4", "0.6", stray)
    )


def test_an_unknown_input_suggests_every_other_figure() -> None:
    derived = _figure(
        "a-derived",
        "other",
        "0.6",
        '    derivation: {inputs: [share-femal], operation: complement, formula: "1 - share-femal"}\n',
        provenance='{kind: derived, citation: doe2020, locator: Table 2, as_of: "2020"}',
    ).replace("    verification: {status: verified}\n", "")
    (message,) = [m for m in _messages(_card("0.4", "0.6", derived)) if "share-femal'" in m]
    assert message.endswith("did you mean share-female, share-male?")


def test_shares_exactly_at_the_tolerance_pass() -> None:
    assert 1 + SHARE_TOLERANCE == 0.141 + 0.87  # in floating point too
    assert _shares(_card("0.141", "0.87")) == []


def test_a_group_of_three_is_reported_on_its_last_figure() -> None:
    parsed = parse_card_text(_card("0.4", "0.6", _figure("share-other", "other", "0.3")), "c.yaml")
    (problem,) = parsed.problems
    assert problem.path == "figures[2].value"


def test_a_split_formula_cannot_name_its_own_split() -> None:
    text = VALID_CARD.replace(
        "    num_examples: 20\n    count_kind: release",
        "    num_examples: 20\n    count_kind: computed\n    formula: test * 1",
    )
    assert _messages(text) == [
        "'test' is not another split here (train), splits.<name>, classes.count or a figure id"
    ]


@pytest.mark.parametrize(
    ("bibtex", "problems"),
    [
        ("@article{k, title={T}, year={2020}}", []),
        ("", ["BibTeX holds no entry (expected e.g. @article{key, title={...}, ...})"]),
        ("just text", ["BibTeX holds no entry (expected e.g. @article{key, title={...}, ...})"]),
        ("@article{k, title={T}}", ["BibTeX entry 'k' lacks year"]),
        ("@misc{k}", ["BibTeX entry 'k' lacks title, year"]),
        (
            "@article{k,\n title={T}, year={2020},\n}\n@book{",
            ["BibTeX does not parse: ParsingFailedBlock () at '@book{'"],
        ),
    ],
)
def test_bibtex(bibtex: str, problems: list[str]) -> None:
    from visiondata.registry.checks import check_bibtex

    assert [m for _, m in check_bibtex(bibtex)] == problems


def test_a_computed_count_is_within_half_a_sample_of_its_formula() -> None:
    def card(formula: str) -> str:
        return VALID_CARD.replace(
            "    num_examples: 20\n    count_kind: release",
            f"    num_examples: 20\n    count_kind: computed\n    formula: {formula}",
        )

    assert _messages(card("train * 0.204")) == []  # 20.4 rounds to 20
    assert _messages(card("train * 0.207")) == [  # 20.7 does not (a ratio could be truncated)
        "20 is not what its formula gives: train * 0.207 = 20.7 (train = 100)"
    ]


# --- targeted tests of the survivors of `bash .ci/mutation registry/checks.py` ---------------

TEST_SPLIT = "    num_examples: 20\n    count_kind: release"


def _fig(fid: str, metric: str = "ratio", value: str = "0.5", extra: str = "", **over: str) -> str:
    """A figure placed first in the card's figures (``derivation`` in ``extra`` makes it derived)."""
    kind = "derived" if "derivation" in extra else "declared"
    text = _figure(
        fid,
        over.pop("category", fid),
        value,
        extra if kind == "declared" or "verification" in extra else extra + "    verification: x\n",
        metric=metric,
        provenance=f'{{kind: {kind}, citation: doe2020, locator: Table 2, as_of: "2020"}}',
        **over,
    )
    return text.replace("    verification: x\n", "")


def _first(*figs: str, text: str = VALID_CARD) -> str:
    return text.replace("figures:\n", "figures:\n" + "".join(figs), 1)


def _found(text: str) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in parse_card_text(text, "c.yaml").problems]


def test_a_todo_marker_inside_a_list_is_found_by_its_index() -> None:
    from visiondata.registry.checks import check_todo_markers

    data = {"aliases": ["ok", "TODO: the alias"], "notes": [{"text": "fine"}, {"text": "TODO"}]}
    assert list(check_todo_markers(data)) == [
        (("aliases", 1), "unfilled TODO marker: 'TODO: the alias'"),
        (("notes", 1, "text"), "unfilled TODO marker: 'TODO'"),
    ]


def test_a_long_todo_marker_is_quoted_to_80_characters() -> None:
    from visiondata.registry.checks import check_todo_markers

    text = "TODO " + "x" * 75 + "y" * 20
    assert list(check_todo_markers("  " + text)) == [
        ((), f"unfilled TODO marker: {'TODO ' + 'x' * 75!r}")
    ]


def test_a_failed_bibtex_block_is_quoted_by_60_characters_of_its_first_line() -> None:
    from visiondata.registry.checks import check_bibtex

    key = "k" * 70
    text = "@article{k,\n title={T}, year={2020},\n}\n@book{" + key + ",\n title={x"
    assert [m for _, m in check_bibtex(text)] == [
        f"BibTeX does not parse: ParsingFailedBlock () at {'@book{' + 'k' * 54!r}"
    ]


def test_an_unknown_input_suggests_three_names_at_most() -> None:
    near = [_fig(f"share-{s}") for s in ("femme", "females", "femal1")]
    derived = _fig(
        "d",
        extra='    derivation: {inputs: [share-femal], operation: other, formula: "share-femal"}\n',
    )
    (message,) = [m for p, m in _found(_first(*near, derived)) if p.endswith("inputs[0]")]
    assert message == (
        "no figure, split or class count of this card is called 'share-femal'; "
        "did you mean share-female, share-femal1, share-females?"
    )


def test_classes_count_as_an_input_needs_a_class_count() -> None:
    derived = _fig(
        "d",
        extra='    derivation: {inputs: [classes.count], operation: other, formula: "classes.count"}\n',
    )
    no_count = "classes:\n  count: null\n  taxonomy: an open vocabulary"
    for text in (
        VALID_CARD.replace("classes:\n  count: 2\n  names: [cat, dog]", no_count),
        VALID_CARD.replace("classes:\n  count: 2\n  names: [cat, dog]\n", ""),
    ):
        assert _found(_first(derived, text=text)) == [
            (
                "figures[0].derivation.inputs[0]",
                "this card gives no class count (classes is missing or its count is null)",
            )
        ]


def test_a_formula_that_does_not_parse_or_evaluate_gets_one_line() -> None:
    def derived(formula: str) -> str:
        extra = (
            f'    derivation: {{inputs: [share-female], operation: other, formula: "{formula}"}}\n'
        )
        return _first(_fig("d", value="0.4", extra=extra))

    at = "figures[0].derivation.formula"
    assert _found(derived("share-female * (")) == [
        (at, "formula 'share-female * (' is not well-formed arithmetic")
    ]
    assert _found(derived("share-female / 0")) == [
        (at, "formula 'share-female / 0': division by zero")
    ]
    assert _found(derived("share-female * share-male / share-male")) == [
        (at, "formula uses 'share-male', which is not in derivation.inputs")
    ]


def test_a_split_formula_that_does_not_parse_or_evaluate_gets_one_line() -> None:
    def split(formula: str) -> str:
        return VALID_CARD.replace(
            TEST_SPLIT, TEST_SPLIT.replace("release", "computed") + f"\n    formula: {formula}"
        )

    assert _found(split("train * (")) == [
        ("splits.test.formula", "formula 'train * (' is not well-formed arithmetic")
    ]
    assert _found(split("train / 0")) == [
        ("splits.test.formula", "formula 'train / 0': division by zero")
    ]


def test_a_split_formula_over_an_unsized_split_or_of_an_unsized_split_is_not_checked() -> None:
    sim = "splits:\n  sim: {num_examples: null, count_kind: release, note: rendered on demand}\n"
    over_sim = VALID_CARD.replace("splits:\n", sim, 1).replace(
        TEST_SPLIT, TEST_SPLIT.replace("release", "computed") + "\n    formula: sim - 0"
    )
    assert _found(over_sim) == []
    unsized = VALID_CARD.replace(
        TEST_SPLIT,
        "    num_examples: null\n    note: open-ended\n    count_kind: computed\n    formula: train * 2",
    )
    assert _found(unsized) == []


def test_a_cycle_is_reported_by_its_shortest_way_back() -> None:
    def derived(fid: str, inputs: str, formula: str) -> str:
        extra = f'    derivation: {{inputs: [{inputs}], operation: other, formula: "{formula}"}}\n'
        return _fig(fid, value="1", extra=extra)

    text = _first(
        derived("ca", "cb", "cb"), derived("cb", "ca, cc", "ca * cc"), derived("cc", "ca", "ca")
    )
    assert _found(text) == [
        ("figures[0].derivation.inputs", "circular derivation: ca -> cb -> ca"),
        ("figures[1].derivation.inputs", "circular derivation: cb -> ca -> cb"),
        ("figures[2].derivation.inputs", "circular derivation: cc -> ca -> cb -> cc"),
    ]


def test_a_figure_with_a_subject_does_not_hide_a_later_one_without() -> None:
    subject = "    subject: {name: M, kind: model}\n"
    text = _first(_fig("p1", "accuracy", extra=subject), _fig("p2", "accuracy"))
    assert _found(text) == [
        (
            "figures[1]",
            "a figure with metric accuracy needs subject (the model, system, method or people "
            "measured: {name, version, kind})",
        )
    ]


def _collisions(*values: str) -> list[tuple[str, str]]:
    figs = [_fig(f"u{k}", value=v, category="x") for k, v in enumerate(values, 1)]
    return [
        (p, m.split(" (line")[0] + m.split(" but")[1].split(";")[0])
        for p, m in _found(_first(*figs))
    ]


def test_every_pair_of_colliding_figures_is_reported() -> None:
    assert _collisions("0.4", "0.5", "0.4") == [  # an equal pair does not end the search
        ("figures[1]", "collides with 'u1' value 0.5 vs 0.4"),
        ("figures[2]", "collides with 'u2' value 0.4 vs 0.5"),
    ]
    assert _collisions("0.3", "0.4", "0.5") == [  # nor does a collision
        ("figures[1]", "collides with 'u1' value 0.4 vs 0.3"),
        ("figures[2]", "collides with 'u1' value 0.5 vs 0.3"),
        ("figures[2]", "collides with 'u2' value 0.5 vs 0.4"),
    ]


def test_a_figure_left_out_of_the_shares_does_not_end_the_sum() -> None:
    over = [("figures[2].value", OVER.format(total="1.02", unit="fraction", more="", scale="1"))]
    ratio = _fig("r1")
    superseded = _figure("s0", "other", "0.5", "    verification: {status: superseded, note: x}\n")
    for first in (ratio, superseded):
        assert _found(_first(first, text=_card("0.42", "0.6"))) == over


def test_fold_splits_transfers_and_editions_are_checked() -> None:
    fold = "folds:\n  split1:\n    splits:\n      train: {num_examples: 5, count_kind: release, citation: nobody}\n"
    transfer = (
        "transfers:\n  - id: t1\n    target: other-set\n    task: image-classification\n"
        "    setting: source-only\n    subject: {name: ERM, kind: method}\n    metric: accuracy\n"
        "    value: 30\n    unit: percent\n    population: {unit: image, split: test}\n"
        '    provenance: {kind: measured, citation: nobody, as_of: "2022"}\n'
        "    verification: {status: verified}\n"
    )
    editions = (
        "editions:\n  - {id: v1, name: One}\n  - {id: v2, name: Two}\n  - {id: v1, name: Again}\n"
    )
    text = VALID_CARD.replace("classes:\n", fold + "classes:\n").replace(
        "notes:\n", transfer + "notes:\n"
    )
    text = text.replace("splits:\n", editions + "splits:\n", 1)
    unknown = "citation key 'nobody' is not in references (known: doe2020)"
    assert sorted(_found(text)) == [
        ("editions[2].id", "edition id 'v1' is already used by line 36"),
        ("folds.split1.splits.train.citation", unknown),
        ("transfers[0].provenance.citation", unknown),
    ]


def test_an_input_that_sorts_before_classes_count_is_not_taken_for_it() -> None:
    """Only the exact name ``classes.count`` gets the 'no class count' line; another unknown
    name, even one that sorts before it, gets the 'did you mean' line."""
    derived = _fig(
        "d",
        extra='    derivation: {inputs: [absent], operation: other, formula: "absent"}\n',
    )
    (message,) = [m for p, m in _found(_first(derived)) if p.endswith("inputs[0]")]
    assert "absent" < "classes.count"
    assert message == "no figure, split or class count of this card is called 'absent'"
