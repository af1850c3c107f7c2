"""`visiondata audit | namethat | fairness` on bad input: exit status 2 and one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visiondata.registry.cli import main

from tests.audit.audit_fakes import build, jpeg, texture


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-errors")
    images = build(
        base / "images",
        {"train": [(f"k{i}", {"jpg": jpeg(texture(i))}, None) for i in range(6)]},
        fields={"jpg": "image"},
    )
    # one readable image in train; the rest have no image member; val holds garbage only
    sparse = build(
        base / "sparse",
        {
            "train": [("x0", {"jpg": jpeg(texture(50))}, None)]
            + [(f"n{i}", {"cls": b"1"}, None) for i in range(5)],
            "val": [("v0", {"jpg": b"not an image at all"}, None)],
        },
        fields={"jpg": "image"},
    )
    return {"images": images, "sparse": sparse}


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


def test_audit_threshold_above_63(
    sets: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", str(sets["images"]), "--threshold", "64", "--no-progress"]) == 2
    assert _err_line(capsys) == (
        "visiondata: audit: --threshold 64: expected 0..63 bits (of a 64-bit pHash)"
    )


def test_audit_threshold_too_wide_for_the_index(
    sets: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # the audit's index has 4 bands, which no option changes: 27 bits is its widest threshold
    for threshold in ("28", "40"):
        assert main(["audit", str(sets["images"]), "--threshold", threshold, "--no-progress"]) == 2
        assert _err_line(capsys) == (
            f"visiondata: audit: --threshold {threshold}: expected 0..27 bits (a wider threshold "
            "needs more near-duplicate index probes per query than the audit allows)"
        )
    assert main(["audit", str(sets["images"]), "--threshold", "27", "--no-progress"]) == 0


def test_audit_format_json_prints_the_report(
    sets: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", str(sets["sparse"]), "--format", "json", "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    train = data["splits"]["train"]
    assert train["samples"] == 6 and train["images"] == 1
    assert train["image_properties"]["without_image"] == [f"n{i}" for i in range(5)]
    assert train["classes"]["histogram"] == {"1": 5}
    val = data["splits"]["val"]["image_properties"]
    assert [u["key"] for u in val["undecodable_keys"]] == ["v0"]


def test_namethat_needs_two_sources(
    sets: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["namethat", str(sets["images"])]) == 2
    assert _err_line(capsys) == (
        f"visiondata: namethat: {sets['images']}: one source "
        "(expected at least 2 shard sets to tell apart)"
    )


def test_namethat_source_with_one_readable_image(
    sets: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["namethat", str(sets["images"]), str(sets["sparse"]), "--per-source", "6"]
    assert main([*argv, "--split", "train"]) == 2
    assert _err_line(capsys) == (
        "visiondata: namethat: every source needs at least 2 readable images; "
        "got {'images': 6, 'sparse': 1}"
    )


def test_namethat_split_with_no_readable_image(
    sets: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # 'images' has no val split (skipped); 'sparse' val holds one undecodable image
    argv = ["namethat", str(sets["images"]), str(sets["sparse"]), "--per-source", "6"]
    assert main([*argv, "--split", "val"]) == 2
    assert _err_line(capsys) == (
        "visiondata: namethat: every source needs at least 2 readable images; "
        "got {'images': 0, 'sparse': 0}"
    )


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


FAIR = ["--label", "label", "--pred", "pred", "--group", "g"]


def test_fairness_plot_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preds = _csv(tmp_path, "p.csv", "label,pred,g\na,a,x\n")
    assert main(["fairness", str(preds), *FAIR, "--plot", str(tmp_path / "r.pdf")]) == 2
    assert _err_line(capsys) == (
        f"visiondata: fairness: --plot {tmp_path / 'r.pdf'}: expected a file ending in .png or .svg"
    )
    assert not (tmp_path / "r.pdf").exists()


def test_fairness_predictions_neither_csv_nor_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preds = _csv(tmp_path, "p.json", '{"label": ["a"]}')
    assert main(["fairness", str(preds), *FAIR]) == 2
    assert _err_line(capsys) == (
        f"visiondata: fairness: {preds}: expected a .csv or .parquet file of predictions, got .json"
    )


def test_fairness_csv_that_does_not_parse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preds = _csv(tmp_path, "p.csv", 'label,pred,g\n"a,b\n')
    assert main(["fairness", str(preds), *FAIR]) == 2
    assert _err_line(capsys) == (
        f"visiondata: fairness: {preds}: Error tokenizing data. C error: EOF inside string "
        "starting at row 1"
    )


def test_fairness_every_row_missing_a_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preds = _csv(tmp_path, "p.csv", "label,pred,g\n,,x\n,,y\n")
    assert main(["fairness", str(preds), *FAIR]) == 2
    assert _err_line(capsys) == (
        f"visiondata: fairness: {preds}: every one of the 2 row(s) misses a value in label, "
        "pred, g (expected at least one row with all of them)"
    )


def test_fairness_csv_with_a_header_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preds = _csv(tmp_path, "p.csv", "label,pred,g\n")
    assert main(["fairness", str(preds), *FAIR]) == 2
    assert _err_line(capsys) == (
        f"visiondata: fairness: {preds}: no rows (expected at least one prediction)"
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("label,pred,g\na,a,x,extra\nb,b,y\n", 2),  # pandas made 'a' the index, shifting all
        ('label,pred,g\n"a\nb",a,x\nb,b,y,z,w\n', 4),  # after a quoted field over two lines
        ("label,pred,g\na,a,x\n\nb,b,y,z\n", 4),  # after a blank line
    ],
    ids=["first-row", "after-multiline", "after-blank"],
)
def test_fairness_csv_row_longer_than_the_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int
) -> None:
    preds = _csv(tmp_path, "p.csv", text)
    assert main(["fairness", str(preds), *FAIR]) == 2
    fields = text.splitlines()[line - 1].count(",") + 1
    # the first line of data, where pandas would only warn, and a later one, where pandas
    # errs naming the record (not the line) alike
    assert _err_line(capsys) == (
        f"visiondata: fairness: {preds}: line {line} has {fields} fields, the header 3 "
        "(expected at most 3 fields on every line)"
    )
