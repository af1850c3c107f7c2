"""--update-card on shipped cards in unusual layouts: figures merged, everything else kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from visiondata.loaders.audit.audit import run_audit
from visiondata.loaders.audit.cardmerge import merge_figures, merge_figures_text
from visiondata.loaders.audit.figures import CITATION_KEY, audit_figures
from visiondata.registry.errors import CardValidationError
from visiondata.registry.schema import Figure
from visiondata.registry.validate import parse_card_text

from tests.audit.audit_fakes import build, jpeg, texture

CARDS = Path(__file__).resolve().parents[2] / "cards"
REF = {"title": "visiondata audit (test)", "year": 2026, "venue": "visiondata 0"}


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> list[Figure]:
    samples = [(f"k{i}", {"jpg": jpeg(texture(i))}, i % 2) for i in range(4)]
    root = build(tmp_path_factory.mktemp("merge") / "s", {"train": samples}, classes=["a", "b"])
    return audit_figures(run_audit(root))


def _reindent(text: str, key: str) -> str:
    """``key``'s block indented by two more spaces (still the same YAML)."""
    return re.sub(
        rf"(?m)^({key}:\n)((?:  .*\n)+)",
        lambda m: m.group(1) + "".join("  " + ln + "\n" for ln in m.group(2).splitlines()),
        text,
    )


def _flow(text: str, key: str) -> str:
    """``key``'s block as one flow-style line (still the same YAML)."""
    return re.sub(
        rf"(?m)^{key}:\n(?:  .*\n)+",
        lambda m: (
            f"{key}: "
            + yaml.safe_dump(yaml.safe_load(m.group(0))[key], default_flow_style=True, width=10**9)
        ),
        text,
    )


def _check(text: str, merged: str, card_id: str, figures: list[Figure]) -> dict[str, object]:
    parsed = parse_card_text(merged, f"{card_id}.yaml", expect_id=card_id)
    assert parsed.problems == [] and parsed.card is not None
    before, after = yaml.safe_load(text), yaml.safe_load(merged)
    ours = [f for f in parsed.card.figures if f.provenance.citation == CITATION_KEY]
    assert len(ours) == len(figures)
    assert after["figures"][: len(before.get("figures") or [])] == (before.get("figures") or [])
    assert after["references"] == {**before["references"], CITATION_KEY: REF}
    for k in before:
        if k not in ("figures", "references"):
            assert after[k] == before[k], k
    return after


@pytest.mark.parametrize(
    ("card_id", "edit", "kept_verbatim"),
    [
        ("carla", lambda t: t, True),  # figures: []
        ("carla", lambda t: t.replace("figures: []\n", ""), True),  # no figures block at all
        ("carla", lambda t: t.replace("\nlicense:", "\n\n\nlicense:"), True),  # blank lines
        ("celeba", lambda t: _reindent(t, "figures"), False),  # figure items at 4 spaces
        ("celeba", lambda t: _reindent(t, "references"), False),  # reference keys at 4 spaces
        ("celeba", lambda t: _flow(t, "figures"), False),  # figures in flow style
        ("carla", lambda t: _flow(t, "references"), False),  # references in flow style
        ("celeba", lambda t: _flow(t, "references"), False),
    ],
    ids=[
        "empty-list",
        "no-figures",
        "blank-lines",
        "figures-4",
        "references-4",
        "figures-flow",
        "references-flow",
        "references-flow-with-figures",
    ],
)
def test_layouts(card_id: str, edit: object, kept_verbatim: bool, figures: list[Figure]) -> None:
    original = (CARDS / f"{card_id}.yaml").read_text()
    text = edit(original)  # type: ignore[operator]
    assert text != original or "figures: []" in text
    if "figures:" in text:  # the edit changed the layout, not the data
        assert yaml.safe_load(text) == yaml.safe_load(original)
    merged = merge_figures_text(text, figures, citation=CITATION_KEY, reference=REF)
    _check(text, merged, card_id, figures)
    head = text.split("references:")[0]
    assert merged.startswith(head) is kept_verbatim  # re-dumped when the layout is unusual


def test_a_card_without_references_is_redumped(figures: list[Figure]) -> None:
    text = "id: x\nname: X\nreferences: {}\n"
    merged = yaml.safe_load(merge_figures_text(text, figures, citation=CITATION_KEY, reference=REF))
    assert merged["id"] == "x" and merged["name"] == "X"
    assert merged["references"] == {CITATION_KEY: REF}
    assert len(merged["figures"]) == len(figures)


def test_a_card_that_is_not_a_mapping(figures: list[Figure]) -> None:
    with pytest.raises(ValueError) as err:
        merge_figures_text("- id: x\n", figures, citation=CITATION_KEY, reference=REF)
    assert str(err.value) == "a card is a mapping of fields"


def test_an_invalid_merge_writes_nothing(tmp_path: Path, figures: list[Figure]) -> None:
    card = tmp_path / "not-carla.yaml"  # its id differs from its file name
    original = (CARDS / "carla.yaml").read_text()
    card.write_text(original)
    with pytest.raises(CardValidationError) as err:
        merge_figures(card, figures, citation=CITATION_KEY, reference=REF)
    assert [p.message for p in err.value.problems] == [
        "id 'carla' differs from the file name (expected 'not-carla')"
    ]
    assert card.read_text() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-carla.yaml"]


def test_references_in_flow_style(tmp_path: Path, figures: list[Figure]) -> None:
    card = tmp_path / "carla.yaml"
    card.write_text(_flow((CARDS / "carla.yaml").read_text(), "references"))
    merge_figures(card, figures, citation=CITATION_KEY, reference=REF)
    assert CITATION_KEY in yaml.safe_load(card.read_text())["references"]
