"""visiondata audit on shard sets with planted facts, and on real samples."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from visiondata.loaders.audit.audit import AuditOptions, AuditResult, run_audit
from visiondata.loaders.audit.figures import CITATION_KEY, audit_figures, split_summary
from visiondata.loaders.shards.manifest import ManifestError
from visiondata.registry.cli import main
from visiondata.registry.schema import Figure
from visiondata.registry.validate import parse_card_file

from tests.audit.audit_fakes import (
    attrs_json,
    build,
    crop,
    index_tars,
    jpeg,
    png,
    realdata,
    texture,
)

CLASSES = ["cat", "dog", "bird", "empty"]
CAT, DOG, BIRD = 0, 1, 2
PHOTOS = [
    "000000126107",
    "000000165518",
    "000000183709",
    "000000214753",
    "000000377575",
    "000000519208",
]
LEAKED = {"leak-exact", "leak-recompressed", "leak-resized", "leak-cropped"}


def _photo(i: int) -> Image.Image:
    return Image.open(realdata("coco", "val2017", f"{PHOTOS[i]}.jpg")).convert("RGB")


def _planted(root: Path) -> Path:
    p = [_photo(i) for i in range(6)]
    p_bytes = [realdata("coco", "val2017", f"{PHOTOS[i]}.jpg").read_bytes() for i in range(6)]
    train: list[tuple[str, dict[str, bytes], int | None]] = []
    for s in range(9):
        train.append((f"cat-{s}", {"jpg": jpeg(texture(s))}, CAT))
    train += [(f"photo-{i}", {"jpg": p_bytes[i]}, CAT) for i in (0, 1, 3)]
    train.append(("cat-0-copy", {"jpg": jpeg(texture(0))}, CAT))  # exact duplicate in train
    for s in range(9, 14):
        train.append((f"dog-{s}", {"jpg": jpeg(texture(s))}, DOG))
    train.append(("photo-2", {"jpg": p_bytes[2]}, DOG))
    train.append(("dog-9-recompressed", {"jpg": jpeg(texture(9), 40)}, DOG))  # near duplicate
    for s in range(14, 17):
        train.append((f"bird-{s}", {"jpg": jpeg(texture(s))}, BIRD))
    train.append(("broken", {"jpg": b"\xff\xd8\xff\xe0 this is not a JPEG" * 20}, BIRD))
    train.append(("grey", {"png": png(texture(20).convert("L"))}, BIRD))
    # subgroup attributes: first 10 female, others male; race A on even positions
    train = [
        (
            k,
            {
                **m,
                "json": attrs_json(
                    gender="female" if i < 10 else "male",
                    race="AB"[i % 2],
                    attributes={"Eyeglasses": 1 if i < 5 else -1},
                ),
            },
            lab,
        )
        for i, (k, m, lab) in enumerate(train)
    ]
    w, h = p[1].size
    test = [
        ("leak-exact", {"jpg": p_bytes[3]}, CAT),
        ("leak-recompressed", {"jpg": jpeg(p[0], 40)}, CAT),
        ("leak-resized", {"jpg": jpeg(p[1].resize((w // 2, h // 2)))}, CAT),
        ("leak-cropped", {"jpg": jpeg(crop(p[2], 0.03))}, DOG),
        ("fresh-photo-4", {"jpg": p_bytes[4]}, DOG),
        ("fresh-photo-5", {"jpg": p_bytes[5]}, DOG),
        *[(f"fresh-{s}", {"jpg": jpeg(texture(s))}, BIRD) for s in range(30, 34)],
        ("truncated", {"jpg": jpeg(texture(40))[:600]}, BIRD),
    ]
    return build(root, {"train": train, "test": test}, classes=CLASSES, card="celeba")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _planted(tmp_path_factory.mktemp("planted") / "shards")


@pytest.fixture(scope="module")
def result(planted: Path) -> AuditResult:
    return run_audit(planted)


def test_class_counts_and_balance(result: AuditResult) -> None:
    s = split_summary(result, "train")
    assert s["samples"] == 25
    assert s["classes"]["histogram"] == {"cat": 13, "dog": 7, "bird": 5, "empty": 0}
    assert s["classes"]["imbalance_ratio"] == pytest.approx(13 / 5)
    assert s["classes"]["empty_classes"] == 1
    assert 1 < s["classes"]["effective_classes"] < 3
    assert split_summary(result, "test")["classes"]["histogram"] == {
        "cat": 3,
        "dog": 3,
        "bird": 5,
        "empty": 0,
    }


def test_image_properties_and_corrupt_files(result: AuditResult) -> None:
    train = split_summary(result, "train")["image_properties"]
    assert [u["key"] for u in train["undecodable_keys"]] == ["broken"]
    assert train["formats"] == {"JPEG": 23, "PNG": 1}  # 'broken' has no recognised format
    assert train["grayscale"] == 1
    assert train["width"]["min"] == 96 and train["width"]["max"] == 640
    test = split_summary(result, "test")["image_properties"]
    assert [u["key"] for u in test["undecodable_keys"]] == ["truncated"]


def test_planted_duplicates_and_leakage(result: AuditResult) -> None:
    train = split_summary(result, "train")["duplicates"]
    assert train["exact_extra"] == 1  # cat-0-copy
    assert train["near_extra"] == 2  # and dog-9-recompressed
    pairs = {(p.key_a, p.key_b, p.kind) for p in result.dedup.pairs}
    assert ("cat-0", "cat-0-copy", "exact") in pairs
    assert ("dog-9", "dog-9-recompressed", "near") in pairs
    leak = split_summary(result, "test")["leakage"]
    assert {x["key"] for x in leak["keys"]} == LEAKED
    matches = {x["key"]: (x["match"], x["kind"]) for x in leak["keys"]}
    assert matches["leak-exact"] == ("photo-3", "exact")
    assert matches["leak-cropped"] == ("photo-2", "near")
    assert leak["share"] == pytest.approx(4 / 11)
    assert not any(k.startswith("fresh") for p in result.dedup.pairs for k in (p.key_a, p.key_b))


def test_subgroup_attributes(result: AuditResult) -> None:
    at = split_summary(result, "train")["attributes"]
    assert at["categorical"]["gender"] == {"male": 15, "female": 10}
    assert at["categorical"]["race"] == {"A": 13, "B": 12}
    assert at["intersections"]["gender x race"]["female & A"] == 5
    assert at["binary"] == {"Eyeglasses": 5}
    assert "attributes" not in split_summary(result, "test")


def test_every_number_is_a_computed_figure(result: AuditResult) -> None:
    figures = audit_figures(result)
    assert all(isinstance(f, Figure) for f in figures)
    assert {f.provenance.kind for f in figures} == {"computed"}
    assert all(f.provenance.tool and f.provenance.tool.startswith("visiondata ") for f in figures)
    assert all(result.manifest_sha256 in (f.verification.note or "") for f in figures)
    by = {(f.axis, f.metric, f.category, f.population.split): f.value for f in figures}
    assert by[("split_leakage", "proportion", "also in train", "test")] == pytest.approx(
        4 / 11, abs=1e-6
    )
    assert by[("class_balance", "count", "classes: cat", "train")] == 13
    assert by[("demographic.gender", "proportion", "female", "train")] == pytest.approx(0.4)
    assert by[("demographic.intersectional", "proportion", "female & A", "train")] == pytest.approx(
        0.2
    )
    assert by[("image_properties", "count", "undecodable", "test")] == 1
    assert by[("duplicates", "duplicate_rate", "exact", "train")] == pytest.approx(1 / 24, abs=1e-6)


def test_update_card_merges_and_validates(result: AuditResult, tmp_path: Path) -> None:
    from visiondata.loaders.audit.cardmerge import merge_figures

    src = Path(__file__).resolve().parents[2] / "cards" / "celeba.yaml"
    card = tmp_path / "celeba.yaml"
    shutil.copyfile(src, card)
    before = parse_card_file(card).card
    assert before is not None
    ref = {"title": "visiondata audit (test)", "year": 2026, "venue": result.tool}
    figures = audit_figures(result)
    for _ in range(2):  # the second run replaces the first run's figures
        merge_figures(card, figures, citation=CITATION_KEY, reference=ref)
    after = parse_card_file(card)
    assert after.problems == [] and after.card is not None
    kept = [f for f in after.card.figures if f.provenance.kind != "computed"]
    assert kept == [f for f in before.figures if f.provenance.kind != "computed"]
    ours = [f for f in after.card.figures if f.provenance.citation == CITATION_KEY]
    assert len(ours) == len(figures)
    assert CITATION_KEY in after.card.references
    # everything outside figures and references is untouched, comments included
    text = card.read_text()
    assert text.startswith(src.read_text().split("references:")[0])
    assert src.read_text().split("\nnotes:")[1] in text


def test_cli_report_workers_and_update_card(
    planted: Path, result: AuditResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = tmp_path / "celeba.yaml"
    shutil.copyfile(Path(__file__).resolve().parents[2] / "cards" / "celeba.yaml", card)
    code = main(
        [
            "audit",
            str(planted),
            "--workers",
            "2",
            "--no-progress",
            "--report",
            str(tmp_path / "rep"),
            "--update-card",
            str(card),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "split leakage: 4 of 11" in out.out
    data = json.loads((tmp_path / "rep" / "audit.json").read_text())
    # parallel workers give the same numbers as the in-process run
    assert data["splits"]["train"] == json.loads(
        json.dumps(split_summary(result, "train"), default=str)
    )
    html = (tmp_path / "rep" / "audit.html").read_text()
    assert html.count("data:image/png;base64,") >= 5  # 2 histograms, 2 size plots, pairs
    assert parse_card_file(card).problems == []


def test_bad_input_is_reported(
    planted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="workers"):
        AuditOptions(workers=0)
    with pytest.raises(ValueError, match="probes"):
        AuditOptions(threshold=40, bands=1)
    with pytest.raises(ManifestError, match="have: train, test"):
        run_audit(planted, AuditOptions(splits=("val",)))
    assert main(["audit", str(tmp_path), "--no-progress"]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    other = tmp_path / "coco-2017.yaml"
    shutil.copyfile(Path(__file__).resolve().parents[2] / "cards" / "coco-2017.yaml", other)
    assert main(["audit", str(planted), "--no-progress", "--update-card", str(other)]) == 2
    assert "shards are for 'celeba'" in capsys.readouterr().err


def test_real_voc_and_coco_shards(tmp_path: Path) -> None:
    wds = realdata("webdataset")
    bccd = index_tars(
        tmp_path / "bccd", {"train": [wds / "bccd-000000.tar"], "test": [wds / "bccd-000001.tar"]}
    )
    res = run_audit(bccd)
    total: dict[str, int] = {}
    for split in ("train", "test"):
        for k, v in split_summary(res, split)["instances"]["histogram"].items():
            total[k] = total.get(k, 0) + v
    assert total == {"RBC": 252, "WBC": 17, "Platelets": 15}  # the boxes of the 16 BCCD images
    assert res.dedup.leaks["test"] == []
    coco = index_tars(tmp_path / "coco", {"val": [wds / "coco-val2017-ccby-000000.tar"]})
    s = split_summary(run_audit(coco), "val")
    assert s["instances"]["total"] == 79 and len(s["instances"]["histogram"]) == 26
    assert s["image_properties"]["width"] == {
        "min": 426,
        "median": 640.0,
        "max": 640,
        "mean": 589.75,
    }
    assert s["image_properties"]["undecodable"] == 0


def test_cli_module_imports_stay_light() -> None:
    code = (
        "import sys, visiondata.loaders._commands.audit, visiondata.registry.cli as c; c.build_parser();"
        "print(sorted(m for m in ('torch', 'PIL', 'pandas', 'numpy', 'sklearn', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
