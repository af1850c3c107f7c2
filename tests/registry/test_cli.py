"""The ``visiondata`` command, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from visiondata.registry import __version__

from .conftest import REPO, VALID_CARD, run_cli


def test_version() -> None:
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"visiondata {__version__}"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "visiondata"
    out = subprocess.run(
        [str(script), "cards", "list", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert any(row["id"] == "coco-2017" for row in json.loads(out.stdout))


def test_list_table_and_filters() -> None:
    out = run_cli("cards", "list")
    assert out.returncode == 0
    header, *rows = out.stdout.splitlines()
    assert header.split()[:3] == ["id", "year", "status"]
    assert any(r.startswith("coco-2017 ") for r in rows)
    det = json.loads(
        run_cli("cards", "list", "--task", "object-detection", "--format", "json").stdout
    )
    assert det and all("object-detection" in r["tasks"] for r in det)


def test_show_json_uses_schema_field_names() -> None:
    out = run_cli("cards", "show", "MS-COCO", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["id"] == "coco-2017"
    assert data["splits"]["train"]["num_examples"] > 0
    # YAML is the card file as written (comments and block scalars kept), not a re-dump
    shown = run_cli("cards", "show", "coco-2017").stdout
    assert shown == (REPO / "cards" / "coco-2017.yaml").read_text(encoding="utf-8")
    assert "\ncitation: |" in shown  # the BibTeX block scalar, as written
    as_yaml = yaml.safe_load(shown)
    assert set(as_yaml) <= set(data)
    assert as_yaml["id"] == data["id"] and as_yaml["splits"].keys() == data["splits"].keys()


def test_usage_errors_exit_2_with_one_line() -> None:
    for args, fragment in [
        (("cards", "list", "--format", "xml"), "cards list: --format 'xml': unknown value"),
        (
            ("cards", "list", "--task", "juggling"),
            "--task juggling: unknown task (expected one of: image-classification",
        ),
        (("cards", "show", "no-such-set"), "no dataset card has the id or alias 'no-such-set'"),
        (("cards", "frobnicate"), "cards: 'frobnicate': unknown command"),
        (("cards", "validate", "missing/dir"), "missing/dir: no such file or folder"),
        (("cards", "new", "Bad_Id"), "Bad_Id: not lowercase words joined by hyphens"),
    ]:
        out = run_cli(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert fragment in out.stderr, out.stderr


def test_validate_exit_codes_and_output(card_dir: Path) -> None:
    good = card_dir / "toy-set.yaml"
    good.write_text(VALID_CARD)
    ok = run_cli("cards", "validate", str(good))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout == ""
    bad = card_dir / "toy-bad.yaml"
    bad.write_text(
        VALID_CARD.replace("id: toy-set", "id: toy-bad")
        .replace("aliases: [TOYS]", "aliases: []")
        .replace("domain: real", "domain: dreamt")
    )
    out = run_cli("cards", "validate", str(card_dir))
    assert out.returncode == 1
    line = VALID_CARD.splitlines().index("domain: real") + 1
    assert out.stdout.startswith(f"{bad}:{line}: domain: 'dreamt' is not a known domain")
    assert "2 card(s) checked: 1 valid, 1 invalid, 1 problem(s)" in out.stderr


def test_validate_default_covers_cards_path(card_dir: Path) -> None:
    (card_dir / "toy-set.yaml").write_text(VALID_CARD.replace("domain: real", "domain: dreamt"))
    out = run_cli("cards", "validate", env={"VISIONDATA_CARDS_PATH": str(card_dir)})
    assert out.returncode == 1
    assert "toy-set.yaml" in out.stdout


def test_new_writes_a_scaffold_that_validate_refuses_until_filled(tmp_path: Path) -> None:
    (tmp_path / "cards").mkdir()
    out = run_cli("cards", "new", "my-set-2024", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    path = tmp_path / "cards" / "my-set-2024.yaml"
    assert out.stdout.strip() == str(Path("cards") / "my-set-2024.yaml") and path.exists()
    check = run_cli("cards", "validate", str(path), cwd=tmp_path)
    assert check.returncode == 1
    assert "unfilled TODO marker" in check.stdout
    again = run_cli("cards", "new", "my-set-2024", cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr


def test_schema_and_vocab() -> None:
    schema = json.loads(run_cli("cards", "schema").stdout)
    assert schema["title"] == "Card" and schema["additionalProperties"] is False
    vocab = json.loads(run_cli("cards", "vocab", "--format", "json").stdout)
    assert vocab["provenance_kind"]["measured"].startswith("measured by a third party")
