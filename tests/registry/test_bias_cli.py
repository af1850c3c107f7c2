"""``visiondata bias show | compare`` and the comparison plot."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from visiondata.registry import get_card
from visiondata.registry.cli import main
from visiondata.registry.cli.bias import Row, compare_rows, plot_rows
from visiondata.registry.vocab import BOUNDS, PROVENANCE_KINDS


def test_show_groups_figures_by_axis_with_provenance(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bias", "show", "Adience"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{get_card('adience').name} (adience)")
    assert "## demographic.skin_type:" in out and "## bias notes" in out
    line = next(x for x in out.splitlines() if x.startswith("proportion") and " lighter " in x)
    assert (
        "0.862" in line
        and "measured: buolamwini2018" in line
        and line.rstrip().endswith("secondary")  # read in a verbatim copy of the paper
    )
    darker = next(x for x in out.splitlines() if x.startswith("proportion") and " darker " in x)
    assert "derived: buolamwini2018" in darker and darker.rstrip().endswith("secondary")


def test_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bias", "show", "ijb-a", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    card = get_card("ijb-a")
    assert data["card"] == "ijb-a" and len(data["figures"]) == len(card.figures)
    assert len(data["bias_notes"]) == sum(n.kind == "bias" for n in card.notes)


def test_show_unknown_card_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bias", "show", "adiense"]) == 2
    assert "did you mean adience" in capsys.readouterr().err


def test_compare_skin_type_across_face_sets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bias", "compare", "--axis", "demographic.skin_type", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    lighter = {r["card"]: r["value"] for r in rows if r["category"] == "lighter"}
    assert lighter["adience"] == 0.862 and lighter["ijb-a"] == 0.796
    assert all(r["axis"] == "demographic.skin_type" for r in rows)
    assert rows == sorted(
        rows, key=lambda r: (r["card"], r["metric"], r["unit"], r["category"] or "")
    )


def test_compare_filters_cards_and_metric(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bias", "compare", "--axis", "demographic.skin_type", "--metric", "proportion"]
    assert main([*args, "--cards", "IJB-A"]) == 0
    out = capsys.readouterr()
    body = out.out.splitlines()[1:]
    assert body and all(line.startswith("ijb-a ") for line in body)
    assert "from 1 card(s)" in out.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--axis", "demographic.skintype"], "did you mean demographic.skin_type"),
        (
            ["--axis", "class_balance", "--metric", "imbalance"],
            "--metric imbalance: unknown metric",
        ),
        (
            ["--axis", "class_balance", "--plot", "chart.pdf"],
            "expected a file ending in .png or .svg",
        ),
        (["--axis", "class_balance", "--cards", "no-such-set"], "no dataset card"),
    ],
)
def test_compare_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bias", "compare", *args]) == 2
    assert message in capsys.readouterr().err


def test_compare_without_matching_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bias", "compare", "--axis", "answer_prior", "--cards", "adience"]) == 2
    err = capsys.readouterr().err
    assert "--axis answer_prior: no figure in the selected cards" in err
    assert "demographic.skin_type" in err and len(err.splitlines()) == 1


@pytest.mark.extras  # matplotlib, Pillow or mlcroissant
def test_compare_plot_png_is_a_valid_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    path = tmp_path / "plots" / "skin.png"
    assert main(["bias", "compare", "--axis", "demographic.skin_type", "--plot", str(path)]) == 0
    assert str(path) in capsys.readouterr().err
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width > 300 and img.height > 200


@pytest.mark.extras  # matplotlib (the plots extra)
def test_plot_svg_marks_provenance_and_verification(tmp_path: Path) -> None:
    card = get_card("adience")
    base = Row.of(card, card.figures[0])
    rows = [
        replace(
            base,
            category=f"{kind}-{bound}",
            provenance=kind,
            bound=bound,
            verification="verified" if i % 2 else "unverified",
            value=0.1 * (i + 1),
        )
        for i, (kind, bound) in enumerate(zip(PROVENANCE_KINDS, BOUNDS, strict=True))
    ]
    rows.append(
        replace(base, category="lighter", metric="count", unit="count", value=1234.0, split="train")
    )
    rows.append(replace(base, metric="difference", unit="percentage_points", value=-3.5))
    path = tmp_path / "all.svg"
    plot_rows(rows, path, "test chart")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    text = path.read_text(encoding="utf-8")
    for kind in PROVENANCE_KINDS:
        assert kind in text
    assert "not verified" in text and "(unverified)" in text and "≥" in text
    assert "adience: lighter (train)" in text  # a part of the data is named


def test_compare_rows_uses_the_vocabulary() -> None:
    rows = compare_rows("demographic.skin_type", "proportion", [get_card("adience")])
    assert {r.category for r in rows} >= {"lighter"}
    assert {r.provenance for r in rows} <= set(PROVENANCE_KINDS)
