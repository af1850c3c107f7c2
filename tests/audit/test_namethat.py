"""visiondata namethat: visibly different sources are told apart, one source split in two is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from visiondata.loaders.audit.namethat import name_that_dataset
from visiondata.registry.cli import main
from visiondata.registry.schema import Figure

from tests.audit.audit_fakes import build, jpeg

N = 60


def _warm_blobs(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (4, 4, 3)).astype(np.float64)
    low[..., 0] = 128 + low[..., 0] / 2  # reddish, smooth
    low[..., 2] /= 3
    return Image.fromarray(low.astype(np.uint8)).resize((48, 48), Image.Resampling.BICUBIC)


def _cool_noise(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (48, 48, 3)).astype(np.float64)
    a[..., 0] /= 3  # bluish, fine-grained
    return Image.fromarray(a.astype(np.uint8))


def _source(root: Path, make: object, seeds: range, card: str) -> Path:
    samples = [(f"s{s:05d}", {"jpg": jpeg(make(s))}, None) for s in seeds]  # type: ignore[operator]
    return build(root, {"train": samples}, per_shard=40, card=card, fields={"jpg": "image"})


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("namethat")
    return {
        "warm": _source(base / "warm", _warm_blobs, range(N), "warm"),
        "warm2": _source(base / "warm2", _warm_blobs, range(1000, 1000 + N), "warm-again"),
        "cool": _source(base / "cool", _cool_noise, range(N), "cool"),
    }


def test_different_sources_are_separated(sources: dict[str, Path]) -> None:
    res = name_that_dataset([sources["warm"], sources["cool"]], per_source=N, seed=1)
    assert res.accuracy >= 0.95
    assert res.chance == pytest.approx(0.5, abs=0.05)
    assert sum(map(sum, res.confusion)) == res.n_test == 36
    fig = Figure.model_validate(res.figure_record("visiondata 0.1.0", "2026-11-28"))
    assert fig.axis == "separability" and fig.provenance.kind == "computed"
    assert fig.category == "warm vs cool"


def test_one_source_split_in_two_is_not(sources: dict[str, Path]) -> None:
    res = name_that_dataset([sources["warm"], sources["warm2"]], per_source=N, seed=1)
    assert res.accuracy <= 0.75  # chance is 0.5; 36 test images
    assert res.names == ["warm", "warm-again"]


def test_cli_prints_accuracy_and_figure(
    sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "nt.json"
    code = main(
        [
            "namethat",
            str(sources["warm"]),
            str(sources["cool"]),
            str(sources["warm2"]),
            "--per-source",
            "30",
            "--seed",
            "3",
            "--json",
            str(out_json),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "vs chance" in out and "axis: separability" in out
    assert out_json.exists()
    argv = ["namethat", str(sources["warm"]), str(sources["cool"]), "--per-source", "10"]
    assert main([*argv, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["names"] == ["warm", "cool"] and data["figure"]["axis"] == "separability"
    assert set(data) >= {"accuracy", "chance", "confusion", "n_train", "n_test", "seed"}
    assert main(["namethat", str(sources["warm"]), str(sources["cool"]), "--per-source", "2"]) == 2
