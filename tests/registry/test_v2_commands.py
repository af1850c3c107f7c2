"""The v2 commands over real cards: ``cards stats`` (and ``--unverified``), ``bias transfers``
(matrix and heatmap), and the exports' new fields."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from visiondata.registry import get_card, list_cards
from visiondata.registry.cli import main
from visiondata.registry.cli.catalogue import STATS_QUERIES, unverified
from visiondata.registry.cli.transfers import matrix, select
from visiondata.registry.export import croissant, datasheet, hf

from .conftest import VALID_CARD

TRANSFER = """\
  - id: {id}
    target: {target}
    task: semantic-segmentation
    setting: {setting}
    subject: {{name: {subject}, kind: method}}
    metric: miou
    value: {value}
    unit: percent
    population: {{unit: image, split: validation}}
    provenance: {{kind: measured, citation: doe2020, locator: Table 5, as_of: "2020"}}
    verification: {verification}
"""


def _card(card_id: str, transfers: list[dict[str, object]]) -> str:
    text = VALID_CARD.replace("id: toy-set", f"id: {card_id}").replace(
        "aliases: [TOYS]", "aliases: []"
    )
    block = "transfers:\n" + "".join(TRANSFER.format(**t) for t in transfers)
    return text.replace("notes:\n  - kind: bias", block + "notes:\n  - kind: bias")


@pytest.fixture
def transfer_cards(card_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    verified, unverified_ = "{status: verified}", "{status: unverified, note: a slide deck}"
    (card_dir / "toy-set.yaml").write_text(
        _card(
            "toy-set",
            [
                dict(
                    id="toy-to-cityscapes",
                    target="cityscapes",
                    setting="source-only",
                    subject="FCN",
                    value=30.5,
                    verification=verified,
                ),
                dict(
                    id="toy-to-other",
                    target="other-set",
                    setting="source-only",
                    subject="FCN",
                    value=12.0,
                    verification=verified,
                ),
            ],
        )
    )
    (card_dir / "other-set.yaml").write_text(
        _card(
            "other-set",
            [
                dict(
                    id="other-to-toy",
                    target="toy-set",
                    setting="source-only",
                    subject="FCN",
                    value=41.25,
                    verification=unverified_,
                ),
                dict(
                    id="other-to-cityscapes",
                    target="cityscapes",
                    setting="adapted",
                    subject="AdaptNet",
                    value=44.0,
                    verification=verified,
                ),
            ],
        )
    )
    monkeypatch.setenv("VISIONDATA_CARDS_PATH", str(card_dir))
    return card_dir


# --- stats ------------------------------------------------------------------------------------


def test_stats_counts_shares_and_transfers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cards", "stats", "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert list(stats) == list(STATS_QUERIES)
    cards = list_cards()
    head = stats["catalogue"][0]
    figures = [(c, f) for c in cards for f in c.figures]
    transfers = [t for c in cards for t in c.transfers]
    assert head["cards"] == len(cards) and head["figures"] == len(figures)
    assert head["transfers"] == len(transfers) >= 1
    statuses = [c.verification_of(f).status for c, f in figures] + [
        t.verification.status for t in transfers
    ]
    for status in ("verified", "secondary", "unverified", "disputed"):
        expected = round(statuses.count(status) / len(statuses), 3)
        assert head[f"{status}_share"] == expected, status
    located = [f.provenance.locator for _, f in figures] + [t.provenance.locator for t in transfers]
    assert head["located_share"] == round(sum(x is not None for x in located) / len(located), 3)
    by = {(r["what"], r["verification_status"]): r["n"] for r in stats["numbers by verification"]}
    assert sum(n for (what, _), n in by.items() if what == "figures") == len(figures)
    assert by[("splits", "secondary")] >= 1  # e.g. LFW's size, read in a verbatim README copy
    kinds = {r["count_kind"]: r["splits"] for r in stats["splits by count kind"]}
    assert sum(kinds.values()) == sum(len(c.splits) for c in cards) and kinds["computed"] >= 1
    gta5 = [
        t for t in get_card("gta5").transfers if t.target == "cityscapes" and t.metric == "miou"
    ]
    assert {
        "source": "gta5",
        "target": "cityscapes",
        "metric": "miou",
        "transfers": len(gta5),
    } in stats["transfers"]
    assert main(["cards", "stats"]) == 0
    out = capsys.readouterr().out
    assert "## catalogue" in out and "secondary_share" in out and "## splits by count kind" in out


def test_stats_unverified_lists_every_number_not_verified(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = unverified()
    cards = list_cards()
    figures = [
        (c, f) for c in cards for f in c.figures if c.verification_of(f).status != "verified"
    ]
    assert len([r for r in rows if r["what"] == "figure"]) == len(figures)
    splits = [
        s
        for c in cards
        for s in c.splits.values()
        if s.verification is None or s.verification.status != "verified"
    ]
    assert len([r for r in rows if r["what"] == "split"]) == len(splits)
    ms = next(r for r in rows if r["card"] == "ppb" and r["id"] == "error-darker-female-microsoft")
    assert ms["status"] == "unverified" and "third-party reading note" in ms["read"]
    derived = next(
        r for r in rows if r["card"] == "cifar-10" and r["id"] == "label-error-rate-test"
    )
    assert derived["status"] == "secondary"
    assert derived["read"].startswith(
        "computed from its inputs: label-errors-test (verified), splits.test (secondary)"
    )
    assert not any(r["card"] == "ppb" and r["id"] == "error-darker-female-worst" for r in rows)
    assert main(["cards", "stats", "--unverified", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == rows
    assert f"{len(rows)} number(s) not verified" in captured.err
    assert main(["cards", "stats", "--unverified"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0].split() == ["card", "what", "id", "status", "read"] and len(lines) == len(rows) + 1
    )


# --- bias transfers ---------------------------------------------------------------------------


def test_transfer_matrix_from_the_shipped_cards(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bias", "transfers", "gta5", "--unit", "percentage_points"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["source", "\\", "target", "cityscapes"]
    assert out[1].split() == ["gta5", "10.8"]
    assert any(
        "DAFormer (adapted, semantic-segmentation) 10.8 percentage_points" in line for line in out
    )


def test_transfer_matrix_cells_and_selection(
    transfer_cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bias", "transfers", "toy-set", "other-set", "--unit", "percent"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["source", "\\", "target", "cityscapes", "other-set", "toy-set"]
    assert lines[1].split() == ["other-set", "44", "-", "41.25*"]
    assert lines[2].split() == ["toy-set", "30.5", "12", "-"]
    assert "* not verified" in lines
    assert (
        main(
            [
                *("bias", "transfers", "toy-set", "other-set", "--setting", "adapted"),
                *("--unit", "percent", "--format", "json"),
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [(r["source"], r["target"], r["subject"]) for r in rows] == [
        ("other-set", "cityscapes", "AdaptNet")
    ]
    assert main(["bias", "transfers"]) == 2  # gta5's gain is in percentage_points
    err = capsys.readouterr().err
    assert "the selected transfers measure " in err and "miou in percentage_points" in err
    sources, targets, cells = matrix(select(list_cards(), involving=["toy-set"], unit="percent"))
    assert sources == ["other-set", "toy-set"] and targets == ["cityscapes", "other-set", "toy-set"]
    assert [r.id for r in cells[("toy-set", "other-set")]] == ["toy-to-other"]


def test_empty_transfer_matrix_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bias", "transfers", "--setting", "zero-shot"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(
        "visiondata: bias transfers: no transfer figure matches with setting 'zero-shot' ("
    )
    assert main(["bias", "transfers", "--setting", "zero-shott"]) == 2
    assert (
        "--setting zero-shott: unknown setting; did you mean zero-shot?" in capsys.readouterr().err
    )


@pytest.mark.extras  # matplotlib, Pillow or mlcroissant
def test_transfer_heatmap_png_and_svg(
    transfer_cards: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    png = tmp_path / "plots" / "transfers.png"
    assert (
        main(["bias", "transfers", "toy-set", "other-set", "--unit", "percent", "--plot", str(png)])
        == 0
    )
    with Image.open(png) as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 300
    svg = tmp_path / "transfers.svg"
    assert (
        main(["bias", "transfers", "toy-set", "other-set", "--unit", "percent", "--plot", str(svg)])
        == 0
    )
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    texts = {"".join(t.itertext()).strip() for t in root.iter() if t.tag.endswith("text")}
    assert {"target: tested on", "source: trained on", "41.25*", "toy-set", "cityscapes"} <= texts
    assert any("miou (percent)" in t for t in texts)
    capsys.readouterr()
    assert main(["bias", "transfers", "--plot", str(tmp_path / "x.pdf")]) == 2
    assert "expected a file ending in .png or .svg" in capsys.readouterr().err


@pytest.mark.extras  # matplotlib (the plots extra)
def test_heatmap_refuses_a_crowded_cell(
    transfer_cards: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (transfer_cards / "toy-set.yaml").read_text()
    extra = TRANSFER.format(
        id="toy-to-cityscapes-2",
        target="cityscapes",
        setting="adapted",
        subject="AdaptNet",
        value=40.0,
        verification="{status: verified}",
    )
    (transfer_cards / "toy-set.yaml").write_text(
        text.replace("notes:\n  - kind: bias", extra + "notes:\n  - kind: bias")
    )
    assert (
        main(
            ["bias", "transfers", "toy-set", "--unit", "percent", "--plot", str(tmp_path / "m.png")]
        )
        == 2
    )
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before anything is printed
    assert captured.err == (
        "visiondata: bias transfers: --plot: cell toy-set -> cityscapes holds 2 transfers (AdaptNet "
        "(adapted); FCN (source-only)): choose one with --subject or --setting\n"
    )
    assert not (tmp_path / "m.png").exists()


# --- exports ----------------------------------------------------------------------------------


@pytest.mark.extras  # huggingface_hub (the hf extra) reads the header back
def test_hf_license_other_task_ids_and_configs_from_a_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = hf.header(get_card("imagenet-21k"))
    assert (
        meta["license"] == "other" and meta["license_link"] == "https://image-net.org/download.php"
    )
    assert meta["license_name"].startswith("imagenet-terms-of-access")
    assert meta["task_ids"] == [
        "multi-class-image-classification",
        "multi-label-image-classification",
    ]
    manifest = {
        "format": "visiondata.manifest",
        "version": 1,
        "splits": {
            "train": {
                "num_samples": 3,
                "shards": [{"name": "train-000000.tar"}, {"name": "train-000001.tar"}],
            },
            "test": {"num_samples": 1, "shards": [{"name": "test-000000.tar"}]},
        },
    }
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "README.md"
    assert (
        main(["cards", "export", "cifar-10", "--to", "hf", "--shards", str(shards), "-o", str(out)])
        == 0
    )
    from huggingface_hub import DatasetCard

    data = DatasetCard(out.read_text(encoding="utf-8")).data.to_dict()
    assert data["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": ["train-000000.tar", "train-000001.tar"]},
                {"split": "test", "path": ["test-000000.tar"]},
            ],
        }
    ]
    assert data["task_ids"] == ["multi-class-image-classification"]
    (shards / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    capsys.readouterr()
    assert main(["cards", "export", "cifar-10", "--to", "hf", "--shards", str(shards)]) == 2
    assert (
        "not a visiondata shard manifest (expected format 'visiondata.manifest')"
        in capsys.readouterr().err
    )
    assert main(["cards", "export", "cifar-10", "--to", "datasheet", "--shards", str(shards)]) == 2


def test_hf_body_lists_editions_figure_ids_and_transfers() -> None:
    text = hf.render(get_card("gta5"))
    assert (
        "| gta5-to-cityscapes-daformer-gain | cityscapes | semantic-segmentation | adapted | DAFormer |"
        in text
    )
    k700 = hf.render(get_card("kinetics-700"))
    assert "### Editions" in k700 and "- `2020` Kinetics-700-2020 (2020)" in k700
    assert "| min-clips-per-class-2020 | class_balance | min | clips_per_class |  | 2020 |" in k700
    meta = yaml.safe_load(k700.split("---")[1])
    assert "configs" not in meta


def test_croissant_carries_transfers_editions_and_figure_fields() -> None:
    doc = croissant.to_croissant(get_card("gta5"))
    t = next(t for t in doc["vd:transfers"] if t["vd:subject"]["name"] == "DAFormer")
    assert t["vd:target"] == croissant.NAMESPACE + "cityscapes" and t["vd:setting"] == "adapted"
    assert t["vd:subject"] == {"@type": "vd:Subject", "name": "DAFormer", "vd:kind": "method"}
    ppb = croissant.to_croissant(get_card("ppb"))
    ms = next(f for f in ppb["vd:figures"] if f["vd:id"] == "error-darker-female-microsoft")
    assert ms["vd:subject"]["name"] == "Microsoft Cognitive Services Face API"
    adience = croissant.to_croissant(get_card("adience"))
    darker = next(f for f in adience["vd:figures"] if f["vd:id"] == "share-darker")
    assert darker["vd:derivation"]["vd:formula"] == "1 - share-lighter"
    assert (
        darker["vd:verification"]["vd:status"] == "secondary"
        and darker["vd:verification"]["vd:url"]
    )
    k700 = croissant.to_croissant(get_card("kinetics-700"))
    assert [e["vd:id"] for e in k700["vd:editions"]] == ["2019", "2020"]
    pooled = croissant.to_croissant(get_card("coil-100"))
    ntd = next(f for f in pooled["vd:figures"] if f["vd:scope"] == "pooled")
    assert croissant.NAMESPACE + "caltech-101" in ntd["vd:pooledWith"]


def test_datasheet_answers_editions_and_transfers() -> None:
    text = datasheet.render(get_card("gta5"))
    after = text.split(
        "**Has it been used to train models that were tested on other datasets?**", 1
    )[1]
    assert after.lstrip().startswith(
        "DAFormer (adapted, semantic-segmentation) trained here and tested on cityscapes"
    )
    editions = datasheet.render(get_card("places365")).split(
        "**Which editions (releases) of the dataset exist?**", 1
    )[1]
    assert editions.lstrip().startswith("standard: Places365-Standard (2016)")
    assert "train: 50,000 (release)" in datasheet.render(get_card("cifar-10"))


def test_cards_show_gives_editions_and_a_card_that_validates_again(
    card_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from visiondata.registry.validate import validate_cards

    assert main(["cards", "show", "kinetics-700"]) == 0
    out = capsys.readouterr().out
    assert "# edition 2020: Kinetics-700-2020 (2020)" in out
    shown = yaml.safe_load(out)
    assert [e["id"] for e in shown["editions"]] == ["2019", "2020"]
    (card_dir / "kinetics-700.yaml").write_text(out, encoding="utf-8")
    assert validate_cards([card_dir / "kinetics-700.yaml"]) == []
    assert main(["cards", "show", "ava", "--format", "json"]) == 0
    ava = json.loads(capsys.readouterr().out)
    disputed = next(f for f in ava["figures"] if f["id"] == "clips-cvpr2018")
    assert disputed["dispute"]["with"] == ["clips-arxiv-v4"]
    assert main(["cards", "show", "adience"]) == 0
    assert (
        "# share-darker: verification secondary (computed from its inputs: share-lighter (secondary))"
        in capsys.readouterr().out
    )
