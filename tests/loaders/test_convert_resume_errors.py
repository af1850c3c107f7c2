"""Resuming into an OUT an earlier run left in a bad state: a torn journal line, a journalled
shard deleted since, stale shards and a ``.partial`` from a larger plan. The rerun keeps only
what is intact, rewrites the rest, and ends byte-identical to a clean run with nothing stale
left; progress ticks add up to every sample whatever the clock does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visiondata.loaders.convert import ItemError, convert
from visiondata.loaders.convert import write as write_mod
from visiondata.loaders.convert.base import Options
from visiondata.loaders.convert.plan import plan_shards
from visiondata.loaders.convert.run import _scan, get_converter

from .convert_fakes import folder_hashes, image_bytes, make_imagefolder


@pytest.fixture
def src(tmp_path: Path) -> Path:
    make_imagefolder(tmp_path / "src")  # 12 images: cat 4, dog 3, fish 5
    return tmp_path / "src"


def _interrupted(src: Path, out: Path) -> None:
    """A run that stops at a bad image in the last shard: shards 0-2 are journalled."""
    good = (src / "fish" / "f05.jpg").read_bytes()
    (src / "fish" / "f05.jpg").write_bytes(good[:100])  # a real JPEG cut short
    with pytest.raises(ItemError, match=r"^fish/f05.jpg: "):
        convert("imagefolder", src, out, samples_per_shard=3)
    (src / "fish" / "f05.jpg").write_bytes(good)
    lines = (out / ".train.journal.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == [0, 1, 2]
    assert not (out / "manifest.json").exists()


def test_a_torn_journal_line_rewrites_only_that_shard(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _interrupted(src, out)
    journal = out / ".train.journal.jsonl"
    lines = journal.read_text().splitlines()
    torn = lines[1][: len(lines[1]) // 2]  # a crash mid-append: half a JSON line
    missing_field = json.dumps({"index": 2, "fingerprint": "x"})  # no "shard": a KeyError
    journal.write_text("\n".join([lines[0], torn, missing_field]) + "\n")
    result = convert("imagefolder", src, out, samples_per_shard=3)
    assert (result.kept_shards, result.written_shards) == (1, 3)
    convert("imagefolder", src, tmp_path / "clean", samples_per_shard=3)
    assert folder_hashes(out) == folder_hashes(tmp_path / "clean")  # no journal left either


def test_a_journalled_shard_deleted_since_is_written_again(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _interrupted(src, out)
    (out / "train-000001.tar").unlink()
    result = convert("imagefolder", src, out, samples_per_shard=3)
    assert (result.kept_shards, result.written_shards) == (2, 2)
    convert("imagefolder", src, tmp_path / "clean", samples_per_shard=3)
    assert folder_hashes(out) == folder_hashes(tmp_path / "clean")


def test_a_smaller_plan_removes_the_stale_shards_and_partials(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert("imagefolder", src, out, samples_per_shard=2)  # 6 shards
    (out / "train-000009.tar.partial").write_bytes(b"left by a killed run")
    (out / "notes.txt").write_text("the user's own file")
    (out / "validation-000003.tar").write_bytes(b"another split's name")
    result = convert("imagefolder", src, out, samples_per_shard=6)  # 2 shards
    assert [s.name for s in result.split_info.shards] == ["train-000000.tar", "train-000001.tar"]
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "notes.txt",  # not a shard of this split: kept
        "train-000000.tar",
        "train-000001.tar",
        "validation-000003.tar",
    ]
    convert("imagefolder", src, tmp_path / "clean", samples_per_shard=6)
    clean = folder_hashes(tmp_path / "clean")
    assert {n: h for n, h in folder_hashes(out).items() if n in clean} == clean


def test_progress_ticks_add_up_when_the_clock_moves_between_samples(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow disk (here: a clock that moves a second per reading) ticks mid-shard; the ticks
    still add up to every item, skipped ones included, and to every byte written."""
    clock = iter(range(10**6))
    monkeypatch.setattr(write_mod.time, "monotonic", lambda: float(next(clock)))
    (src / "cat" / "c02.jpg").write_bytes(image_bytes(7)[:100])
    ticks: list[tuple[int, int]] = []
    cls = get_converter("imagefolder")
    converter = cls(src, Options(split="train", verify="header", max_size=None))
    converter.use_classes(None)
    items, _ = _scan(converter, "skip")
    (task,) = plan_shards(items, "train", None, 100, "salt")
    out = tmp_path / "out"
    out.mkdir()
    res = write_mod.write_shard(converter, task, out, "skip", lambda n, b: ticks.append((n, b)))
    assert len(ticks) > 1  # ticked mid-shard, not only at the end
    assert sum(n for n, _ in ticks) == 12
    assert sum(b for _, b in ticks) == res.shard.bytes == (out / task.name).stat().st_size
    assert res.skipped and res.skipped[0][0] == "cat/c02.jpg"
    assert res.shard.num_samples == 11
