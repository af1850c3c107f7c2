"""Ctrl-C: SIGINT to the command's whole process group, as a terminal sends it.

The command must end with status 130 and one line, no traceback (from it or from any worker
process), and an interrupted conversion run again must finish with exactly the bytes of an
uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

VISIONDATA = [sys.executable, "-m", "visiondata.registry.cli"]


def _start(argv: list[str], cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*VISIONDATA, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        start_new_session=True,  # its own process group, so killpg reaches its workers too
    )


def _interrupt(proc: subprocess.Popen[str]) -> tuple[str, str]:
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return out, err


def _wait_for(check: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the command never got that far"
        time.sleep(0.005)


def _digests(out: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.iterdir())
        if p.name.endswith(".tar") or p.name == "manifest.json"
    }


@pytest.mark.extras
@pytest.mark.parametrize("workers", ["1", "2"])
def test_interrupted_convert_exits_130_and_a_rerun_is_byte_identical(
    tmp_path: Path, workers: str
) -> None:
    from .loaders.convert_fakes import make_imagefolder

    spec = {c: [f"{c}{i:03d}.jpg" for i in range(75)] for c in ("ant", "bee", "cow", "doe")}
    make_imagefolder(tmp_path / "src", spec)  # 300 small images
    args = ["convert", "imagefolder", str(tmp_path / "src")]
    opts = ["--samples-per-shard", "6", "--verify", "decode", "--no-progress", "--workers", workers]
    reference = subprocess.run(
        [*VISIONDATA, *args, str(tmp_path / "ref"), *opts],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "out"
    journal = out / ".train.journal.jsonl"
    proc = _start([*args, str(out), *opts])
    _wait_for(lambda: journal.exists() and journal.stat().st_size > 0)  # a shard is done
    _, stderr = _interrupt(proc)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and stderr.strip() == "visiondata: convert: interrupted"
    assert not (out / "manifest.json").exists()  # it did stop before the end

    again = subprocess.run(
        [*VISIONDATA, *args, str(out), *opts, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["kept"] >= 1 and summary["kept"] + summary["written"] == summary["shards"] == 50
    assert _digests(out) == _digests(tmp_path / "ref")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in (tmp_path / "ref").iterdir()
    )


@pytest.mark.extras
def test_ctrl_c_while_convert_workers_start_prints_no_traceback(tmp_path: Path) -> None:
    import psutil

    from .loaders.convert_fakes import make_imagefolder

    make_imagefolder(tmp_path / "src", {c: [f"{c}{i:02d}.jpg" for i in range(40)] for c in "ab"})
    opts = ["--samples-per-shard", "4", "--workers", "2", "--no-progress"]
    for attempt in range(3):  # the moment the worker processes exist, still importing
        out = tmp_path / f"out{attempt}"
        proc = _start(["convert", "imagefolder", str(tmp_path / "src"), str(out), *opts])
        _wait_for(lambda: len(psutil.Process(proc.pid).children()) >= 2)  # noqa: B023
        _, stderr = _interrupt(proc)
        assert proc.returncode == 130, stderr
        assert stderr == "visiondata: convert: interrupted\n"


def test_interrupted_query_exits_130_without_a_traceback() -> None:
    runaway = (
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"
    )
    proc = _start(["cards", "query", runaway, "--timeout", "120"])
    time.sleep(2.0)  # well inside DuckDB by now (the timeout is far away)
    stdout, stderr = _interrupt(proc)
    assert proc.returncode == 130, stderr
    assert stdout == ""
    assert stderr == "visiondata: cards query: interrupted\n"
