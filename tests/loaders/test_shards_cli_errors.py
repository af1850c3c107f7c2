"""``visiondata shards ...`` and ``visiondata convert`` given what they must refuse or report:
one stderr line ``visiondata: <command>: <what was given>: <what was expected>`` and exit 2
for a bad argument; for ``shards index`` on samples it refuses, every refused sample named
(the first 20, then a count) and still indexed, in text and in JSON."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from visiondata.registry.cli import main

from .loader_fakes import all_keys, make_shards

TARS_EXPECTED = (
    "a folder of WebDataset .tar shards, a brace pattern or glob, or a URL "
    "(https://, s3://, hf://datasets/ORG/NAME/...)"
)


def _one_line(capsys: Any) -> str:
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err.rstrip("\n")


def test_a_name_too_long_for_the_file_system_is_refused_by_name(
    tmp_path: Path, capsys: Any
) -> None:
    name = str(tmp_path / ("a" * 300))  # one component over NAME_MAX (255): ENAMETOOLONG
    assert main(["shards", "index", name]) == 2
    assert _one_line(capsys) == (
        f"visiondata: shards index: {name}: {os.strerror(36)} (expected {TARS_EXPECTED}) "
        "(see visiondata shards index --help)"
    )


@pytest.mark.parametrize("size", ["0", "0.0KB", "0 MiB"])
def test_a_shard_size_of_nothing_is_refused(size: str, tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "src").mkdir()
    out = tmp_path / "out"
    assert (
        main(["convert", "imagefolder", str(tmp_path / "src"), str(out), "--shard-size", size]) == 2
    )
    assert _one_line(capsys) == (
        f"visiondata: convert: --shard-size {size}: not a positive size (expected a size such "
        "as 1GB, 256MB, 64MiB or a byte count) (see visiondata convert --help)"
    )
    assert not out.exists()  # nothing was written


@pytest.mark.parametrize("command", ["verify", "index"])
@pytest.mark.parametrize("pair", ["novalue", "=v"])
def test_a_storage_option_without_key_and_value_is_refused(
    command: str, pair: str, tmp_path: Path, capsys: Any
) -> None:
    root = make_shards(tmp_path / "set", [2])
    before = (root / "manifest.json").read_bytes()
    args = ["shards", command, str(root), "--storage-option", pair, "--no-progress"]
    if command == "index":
        args += ["--output", str(tmp_path / "index")]
    assert main(args) == 2
    assert _one_line(capsys) == (
        f"visiondata: shards {command}: --storage-option {pair!r}: expected KEY=VALUE"
    )
    assert (root / "manifest.json").read_bytes() == before
    assert not (tmp_path / "index").exists()


def _reason(i: int) -> str:
    key = f"s{i:06d}"
    return f"member '{key}.txt' at byte {2048 * i + 1024} is 7 bytes, above max_member_bytes=6"


@pytest.fixture()
def bare(tmp_path: Path) -> Path:
    """22 samples (``cls`` of 1 byte, ``txt`` of 7) in one shard, without a manifest."""
    root = make_shards(tmp_path / "set", [22])
    (root / "manifest.json").unlink()
    return root


def test_index_names_the_first_20_refused_samples_then_counts_the_rest(
    bare: Path, capsys: Any
) -> None:
    args = ["shards", "index", str(bare), "--max-member-bytes", "6", "--no-progress"]
    assert main(args) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err == [
        f"train-000000.tar: sample 's{i:06d}' at byte {2048 * i}: {_reason(i)}" for i in range(20)
    ] + ["... and 2 more"]
    assert "22 samples in 1 shard(s)" in captured.out
    assert ", 22 refused sample(s) -> " in captured.out
    # every sample, refused or not, is in the manifest (the loader names each when it reads it)
    assert all_keys(bare) == [f"s{i:06d}" for i in range(22)]


def test_index_json_lists_every_refused_sample(bare: Path, capsys: Any) -> None:
    args = ["shards", "index", str(bare), "--max-member-bytes", "6", "--no-progress"]
    assert main([*args, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in ("manifest", "split", "base", "samples", "shards", "bytes")} == {
        "manifest": str(bare / "manifest.json"),
        "split": "train",
        "base": None,
        "samples": 22,
        "shards": 1,
        "bytes": (bare / "train-000000.tar").stat().st_size,
    }
    assert out["refused"] == [
        {"shard": "train-000000.tar", "key": f"s{i:06d}", "offset": 2048 * i, "reason": _reason(i)}
        for i in range(22)
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_verify_on_a_terminal_draws_a_bar_to_the_last_shard(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tqdm")
    root = make_shards(tmp_path / "set", [2, 3, 1])
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    # a fresh pseudo-terminal is 0 columns wide: tqdm would draw nothing in it
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    tty = os.fdopen(slave, "w")
    try:
        monkeypatch.setattr(sys, "stderr", tty)
        assert main(["shards", "verify", str(root)]) == 0
        tty.flush()
        os.set_blocking(master, False)
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        monkeypatch.undo()
        tty.close()
        os.close(master)
    assert b"verify" in drawn and b"3/3" in drawn, drawn
    assert capsys.readouterr().out.startswith(f"{root}: ok; 3 shard(s), 6 sample(s), ")
