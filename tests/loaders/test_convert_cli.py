"""``visiondata convert`` / ``shards verify`` / ``shards info``, the shard planner, and the
light-import rule of the CLI module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from visiondata.loaders._commands import shards as cli_shards
from visiondata.loaders.convert import FORMATS
from visiondata.loaders.convert.base import Item
from visiondata.loaders.convert.plan import plan_shards
from visiondata.registry.cli import main

from .convert_fakes import make_imagefolder, realdata


def test_format_names_match_the_dispatch_table() -> None:
    assert tuple(FORMATS) == cli_shards.FORMAT_NAMES


def test_convert_verify_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_imagefolder(tmp_path / "src")
    out = tmp_path / "out"
    assert (
        main(
            [
                "convert",
                "imagefolder",
                str(tmp_path / "src"),
                str(out),
                "--samples-per-shard",
                "5",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "split 'train': 12 samples in 3 shard(s)" in capsys.readouterr().out
    assert main(["shards", "verify", str(out), "--deep"]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: ok; 3 shard(s), 12 sample(s), ")
    assert main(["shards", "info", str(out), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["splits"]["train"]["class_counts"] == {"cat": 4, "dog": 3, "fish": 5}
    assert main(["shards", "info", str(out)]) == 0
    assert "train  12       3" in capsys.readouterr().out


def test_verify_names_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_imagefolder(tmp_path / "src")
    out = tmp_path / "out"
    assert (
        main(
            [
                "convert",
                "imagefolder",
                str(tmp_path / "src"),
                str(out),
                "--samples-per-shard",
                "5",
                "--no-progress",
            ]
        )
        == 0
    )
    shard = out / "train-000001.tar"
    data = bytearray(shard.read_bytes())
    data[600] ^= 0xFF  # flip one byte inside the first image
    shard.write_bytes(bytes(data))
    (out / "train-000009.tar").write_bytes(b"")
    capsys.readouterr()
    assert main(["shards", "verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "split 'train': train-000001.tar: sha256" in err
    assert "train-000009.tar: shard file is not in manifest.json" in err
    assert "2 problem(s)" in err


def test_convert_errors_exit_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_imagefolder(tmp_path / "src")
    (tmp_path / "src" / "cat" / "c01.jpg").write_bytes(b"junk")
    assert (
        main(
            [
                "convert",
                "imagefolder",
                str(tmp_path / "src"),
                str(tmp_path / "out"),
                "--no-progress",
            ]
        )
        == 1
    )
    assert "cat/c01.jpg: corrupt or unreadable image" in capsys.readouterr().err
    assert (
        main(
            [
                "convert",
                "voc",
                str(realdata("voc_bccd", "BCCD")),
                str(tmp_path / "o2"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "give the split to convert" in capsys.readouterr().err
    assert (
        main(
            [
                "convert",
                "imagefolder",
                str(tmp_path / "src"),
                str(tmp_path / "o3"),
                "--on-error",
                "skip",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "skipped 1 item(s):\n  cat/c01.jpg: corrupt" in capsys.readouterr().out


def test_missing_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    assert main(["convert", "imagefolder", str(tmp_path), str(tmp_path / "out")]) == 2
    assert 'pip install "visiondata[loaders]"' in capsys.readouterr().err


def test_cli_module_imports_stay_light() -> None:
    code = (
        "import sys, visiondata.registry.cli as c; c.build_parser(); "
        "heavy = [m for m in ('torch', 'PIL', 'av', 'tqdm', 'datasets', 'webdataset') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5000), max_size=40),
    per=st.one_of(st.none(), st.integers(1, 7)),
    limit=st.integers(1, 20000),
)
def test_plan_is_complete_ordered_and_bounded(
    sizes: list[int], per: int | None, limit: int
) -> None:
    items = [Item(key=f"k{i}", source=f"s{i}", size=n) for i, n in enumerate(sizes)]
    tasks = plan_shards(items, "train", None if per else limit, per, "salt")
    assert [it for t in tasks for it in t.items] == items
    assert [t.name for t in tasks] == [f"train-{i:06d}.tar" for i in range(len(tasks))]
    assert all(t.items for t in tasks)
    if per:
        assert all(len(t.items) <= per for t in tasks)
    assert plan_shards(items, "train", None if per else limit, per, "salt") == tasks
