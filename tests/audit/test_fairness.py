"""visiondata fairness on prediction files with a planted disparity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from visiondata.loaders.audit.fairness import fairness_report

# Planted: per (skin, gender) group, n rows and how many are misclassified.
PLAN = {
    ("darker", "female"): (40, 14),  # accuracy 0.65, a small group
    ("darker", "male"): (100, 12),  # 0.88
    ("lighter", "female"): (100, 7),  # 0.93
    ("lighter", "male"): (160, 1),  # 0.99375
}


def _predictions() -> pd.DataFrame:
    rows = []
    for (skin, gender), (n, wrong) in PLAN.items():
        for i in range(n):
            pred = ("male" if gender == "female" else "female") if i < wrong else gender
            rows.append({"skin": skin, "gender": gender, "label": gender, "pred": pred})
    return pd.DataFrame(rows)


def test_planted_disparity_is_measured_exactly() -> None:
    report = fairness_report(_predictions(), "label", "pred", ["skin", "gender"], min_group=50)
    inter = {r.group: r for r in report.rows if r.by == "skin x gender"}
    for (skin, gender), (n, wrong) in PLAN.items():
        row = inter[f"{skin} x {gender}"]
        assert row.n == n
        assert row.error == pytest.approx(wrong / n)
        assert row.ci_low < row.accuracy < row.ci_high
    assert inter["darker x female"].small and not inter["lighter x male"].small
    gap = report.largest_gap["skin x gender"]
    assert (gap["worst"], gap["best"]) == ("darker x female", "lighter x male")
    assert gap["gap"] == pytest.approx((1 - 1 / 160) - (1 - 14 / 40))
    skin = {r.group: r for r in report.rows if r.by == "skin"}
    assert skin["darker"].accuracy == pytest.approx((26 + 88) / 140)
    # Binary labels: positive class is 'male'. Selection rate = share predicted male.
    sel = {g: r.selection_rate for g, r in skin.items()}
    assert sel["darker"] == pytest.approx((14 + 88) / 140)
    assert sel["lighter"] == pytest.approx((7 + 159) / 260)
    assert report.demographic_parity_difference["skin"] == pytest.approx(
        abs(sel["darker"] - sel["lighter"])
    )
    assert report.equalized_odds_difference["skin"] > 0


def test_errors_name_the_missing_columns() -> None:
    with pytest.raises(ValueError, match=r"columns \['race'\] are not in the predictions"):
        fairness_report(_predictions(), "label", "pred", ["race"])


def test_cli_table_json_and_plot(tmp_path: Path) -> None:
    path = tmp_path / "preds.parquet"
    _predictions().to_parquet(path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "visiondata.registry",
            "fairness",
            str(path),
            "--label",
            "label",
            "--pred",
            "pred",
            "--group",
            "skin",
            "--group",
            "gender",
            "--min-group",
            "50",
            "--json",
            str(tmp_path / "r.json"),
            "--plot",
            str(tmp_path / "r.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (
        "largest accuracy gap by skin x gender: 0.3438 (lighter x male 0.9938 vs darker x female 0.6500)"
        in out.stdout
    )
    assert "(small group)" in out.stdout
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["n"] == 400
    as_json = subprocess.run(
        [
            *out.args[:4],
            str(path),
            "--label",
            "label",
            "--pred",
            "pred",
            "--group",
            "skin",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["n"] == 400 and report["groups"] == ["skin"] and report["rows"]
    with Image.open(tmp_path / "r.png") as img:
        assert img.format == "PNG" and img.width > 100
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "visiondata.registry",
            "fairness",
            str(path),
            "--label",
            "nope",
            "--pred",
            "pred",
            "--group",
            "skin",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--label nope: not a column of" in bad.stderr
