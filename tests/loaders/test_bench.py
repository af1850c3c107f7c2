"""`visiondata bench` on real COCO JPEGs: both pipelines run, and every reported figure is sane.

Only the shape of the report is tested here; the figures themselves are benchmarks
(benchmarks/bench_fastpath.py), not timed tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from visiondata.loaders.convert import convert
from visiondata.registry.cli import main

from .loader_fakes import REALDATA


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("bench")
    photos = sorted((REALDATA / "coco" / "val2017").glob("*.jpg"))
    assert len(photos) >= 8, photos
    for i, photo in enumerate(photos * 2):  # 16 samples in 2 classes
        folder = tmp / "imagefolder" / f"class_{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(photo, folder / f"{i:02d}.jpg")
    convert("imagefolder", tmp / "imagefolder", tmp / "shards", split="train")
    return tmp / "shards"


ARGS = ["--batches", "2", "--batch-size", "4", "--workers", "1", "--crop", "64"]


def test_bench_json_reports_both_pipelines(
    shards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", str(shards), *ARGS, "--compare", "webdataset", "--format", "json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["pipeline"] for r in results] == ["visiondata", "webdataset"]
    for r in results:
        assert r["batches"] == 3 and r["samples"] == 8, r  # 2 timed batches after the first
        assert r["device"] == "cpu"
        assert r["samples_per_s"] > 0 and 0 < r["first_batch_s"] < 60, r
        assert r["peak_rss_mb"] >= r["peak_pss_mb"] > 50, r  # torch alone is more than that
        assert 0 <= r["wait_fraction"] <= 1, r


def test_bench_table_prints_the_ratios(shards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(shards), *ARGS, "--compare", "webdataset"]) == 0
    out = capsys.readouterr().out
    assert "peak RSS MB" in out and "peak PSS MB" in out
    assert "ratio visiondata/webdataset: throughput" in out and "peak PSS" in out


def test_bench_refuses_a_folder_without_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", str(tmp_path)]) == 2
    assert "holds no manifest.json" in capsys.readouterr().err
