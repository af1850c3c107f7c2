"""``visiondata convert ... s3://bucket/set`` with the local engine, against a real moto S3
server on loopback: every object (shards and manifest) has the sha256 of the local-folder run's
file and nothing else is left (no journal, no lock); a driver killed mid-run (SIGKILL, so its
lock object stays) resumes with only the unfinished shards; the result streams with the Loader
and passes ``shards verify`` from ``s3://``; a missing bucket, missing credentials and an
unreachable endpoint are each one line, bounded in time; two runs into one split exclude each
other through the lock object's conditional write."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .convert_fakes import folder_hashes, realdata
from .servers import moto_s3

pytestmark = [pytest.mark.slow, pytest.mark.extras]

VISIONDATA = [sys.executable, "-m", "visiondata.registry.cli"]


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    with moto_s3("out") as opts:
        yield opts


def _fs(opts: dict[str, str]) -> Any:
    import s3fs

    return s3fs.S3FileSystem(**opts, skip_instance_cache=True)


def s3_hashes(opts: dict[str, str], prefix: str) -> dict[str, str]:
    """sha256 of every object under ``prefix``, at any depth (a journal or lock left behind
    would show)."""
    fs = _fs(opts)
    return {
        p.removeprefix(prefix + "/"): hashlib.sha256(fs.cat_file(p)).hexdigest()
        for p in sorted(fs.find(prefix))
    }


def _options(opts: dict[str, str]) -> list[str]:
    return [f"--storage-option={k}={v}" for k, v in opts.items()]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VISIONDATA, *args], capture_output=True, text=True, timeout=180, check=False, env=env
    )


def test_convert_to_s3_is_byte_identical_streams_and_verifies(
    s3: dict[str, str], tmp_path: Path
) -> None:
    from visiondata.loaders import Loader
    from visiondata.loaders.convert import convert
    from visiondata.loaders.shards.remote import RemoteOptions
    from visiondata.loaders.shards.verify import verify

    src = realdata("coco")
    convert("coco", src, tmp_path / "local", samples_per_shard=3)
    result = convert("coco", src, "s3://out/coco", samples_per_shard=3, storage_options=s3)
    assert result.written_shards == 3 and str(result.out) == "s3://out/coco"
    assert s3_hashes(s3, "out/coco") == folder_hashes(tmp_path / "local")
    assert "-> s3://out/coco/manifest.json" in result.summary()

    loader = Loader(
        "s3://out/coco", batch_size=4, storage_options=s3, decode="none", split="validation"
    )
    keys = sorted(k for b in loader for k in b["__key__"])
    local = Loader(str(tmp_path / "local"), batch_size=4, decode="none", split="validation")
    assert keys == sorted(k for b in local for k in b["__key__"]) and len(keys) == 8

    report = verify("s3://out/coco", opts=RemoteOptions(storage_options=s3))
    assert report.ok and report.shards == 3 and report.samples == 8 and not report.findings

    # what an interrupted conversion of another split leaves, found by listing the bucket
    fs = _fs(s3)
    fs.pipe_file("out/coco/.train.journal/000000.json", b"{}")
    fs.pipe_file("out/coco/train-000000.tar", b"\0" * 1024)
    left = verify("s3://out/coco", opts=RemoteOptions(storage_options=s3))
    assert [(f.kind, f.shard) for f in left.findings] == [
        ("journal", ".train.journal"),
        ("unlisted", "train-000000.tar"),
    ]
    assert "an interrupted conversion of split 'train'" in left.findings[0].message


def test_the_cli_with_two_workers_and_verify_from_s3(s3: dict[str, str], tmp_path: Path) -> None:
    src = str(realdata("coco"))
    local = _cli("convert", "coco", src, str(tmp_path / "local"), "--samples-per-shard", "3")
    assert local.returncode == 0, local.stderr
    args = ["convert", "coco", src, "s3://out/cli", "--samples-per-shard", "3", "--workers", "2"]
    r = _cli(*args, *_options(s3), "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["out"] == "s3://out/cli" and out["manifest"] == "s3://out/cli/manifest.json"
    assert s3_hashes(s3, "out/cli") == folder_hashes(tmp_path / "local")

    ok = _cli("shards", "verify", "s3://out/cli", *_options(s3))
    assert ok.returncode == 0, ok.stderr
    fs = _fs(s3)
    data = bytearray(fs.cat_file("out/cli/validation-000001.tar"))
    data[700] ^= 0xFF  # a byte inside the first image
    fs.pipe_file("out/cli/validation-000001.tar", bytes(data))
    bad = _cli("shards", "verify", "s3://out/cli", *_options(s3))
    assert bad.returncode == 1 and "validation-000001.tar: sha256" in bad.stderr


_HEAVY = ["--samples-per-shard", "8", "--verify", "decode", "--max-size", "96", "--no-progress"]


def _imagefolder(root: Path, copies: int) -> Path:
    photos = sorted(realdata("coco", "val2017").glob("*.jpg")) + sorted(
        realdata("voc_bccd", "BCCD", "JPEGImages").glob("*.jpg")
    )
    for path in photos:
        cls = "coco" if path.parent.name == "val2017" else "bccd"
        (root / cls).mkdir(parents=True, exist_ok=True)
        for c in range(copies):
            (root / cls / f"{path.stem}_{c}.jpg").write_bytes(path.read_bytes())
    return root


def _journal(opts: dict[str, str], prefix: str) -> int:
    fs = _fs(opts)
    try:
        return len(fs.ls(f"{prefix}/.train.journal", detail=False))
    except FileNotFoundError:
        return 0


def _wait_for(what: str, check: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")


def test_a_killed_run_resumes_uploading_only_unfinished_shards(
    s3: dict[str, str], tmp_path: Path
) -> None:
    src = _imagefolder(tmp_path / "src", copies=4)  # 96 photos: 12 shards
    local = _cli("convert", "imagefolder", str(src), str(tmp_path / "local"), *_HEAVY)
    assert local.returncode == 0, local.stderr
    shards = len(list((tmp_path / "local").glob("*.tar")))
    assert shards == 12
    cmd = [*VISIONDATA, "convert", "imagefolder", str(src), "s3://out/heavy", *_HEAVY]
    cmd += [*_options(s3), "--format", "json"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for("three finished shards", lambda: _journal(s3, "out/heavy") >= 3)
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=30)
    finally:
        run.kill()
    fs = _fs(s3)
    assert not fs.exists("out/heavy/manifest.json")
    assert fs.exists("out/heavy/.train.lock")  # a killed run leaves its lock object
    done = _journal(s3, "out/heavy")
    assert 3 <= done < shards
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert again.returncode == 0, again.stderr  # same host, holder gone: the lock is taken over
    result = json.loads(again.stdout)
    assert result["kept"] >= done and result["kept"] + result["written"] == shards
    assert result["written"] >= 1
    assert s3_hashes(s3, "out/heavy") == folder_hashes(tmp_path / "local")


def test_a_journalled_shard_changed_on_the_server_is_rewritten(
    s3: dict[str, str], tmp_path: Path
) -> None:
    from visiondata.loaders.convert import ConversionError, convert

    src = _imagefolder(tmp_path / "src", copies=1)  # 24 photos and a broken one
    bad = src / "coco" / "zz_truncated_0.jpg"
    good = (src / "coco").iterdir().__next__().read_bytes()
    bad.write_bytes(good[: len(good) // 2])
    opts: dict[str, Any] = {"samples_per_shard": 4, "verify": "decode", "storage_options": s3}
    with pytest.raises(ConversionError, match=r"zz_truncated_0\.jpg"):
        convert("imagefolder", src, "s3://out/fix", **opts)
    fs = _fs(s3)
    journalled = fs.ls("out/fix/.train.journal", detail=False)
    assert journalled and not fs.exists("out/fix/.train.lock")  # released on the error
    fs.pipe_file("out/fix/train-000000.tar", b"not the shard")  # a new ETag
    bad.write_bytes(good)
    result = convert("imagefolder", src, "s3://out/fix", **opts)
    assert result.kept_shards == len(journalled) - 1  # all but the changed one
    convert("imagefolder", src, tmp_path / "local", **{**opts, "storage_options": None})
    assert s3_hashes(s3, "out/fix") == folder_hashes(tmp_path / "local")


def test_a_second_run_into_the_split_is_refused_by_the_lock_object(
    s3: dict[str, str], tmp_path: Path
) -> None:
    from visiondata.loaders.convert import convert
    from visiondata.loaders.errors import OutputLockedError

    _fs(s3).pipe_file(
        "out/locked/.validation.lock", json.dumps({"pid": 1, "host": "elsewhere"}).encode()
    )
    with pytest.raises(OutputLockedError) as err:
        convert("coco", realdata("coco"), "s3://out/locked", storage_options=s3)
    assert "is being written by process 1 on elsewhere" in str(err.value)
    assert "s3://out/locked/.validation.lock" in str(err.value)


def _one_line(r: subprocess.CompletedProcess[str], t0: float) -> str:
    assert time.monotonic() - t0 < 60
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr  # a ConversionError
    (line,) = r.stderr.strip().splitlines()
    return line


def test_a_missing_bucket_is_one_line(s3: dict[str, str]) -> None:
    t0 = time.monotonic()
    r = _cli("convert", "coco", str(realdata("coco")), "s3://nobucket/set", *_options(s3))
    line = _one_line(r, t0)
    assert line.endswith("the bucket does not exist (create it first)"), line
    assert "s3://nobucket/set" in line


def test_no_credentials_is_one_line(s3: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = env["AWS_CONFIG_FILE"] = os.devnull
    t0 = time.monotonic()
    r = _cli(
        "convert", "coco", str(realdata("coco")), "s3://out/nocreds",
        f"--storage-option=endpoint_url={s3['endpoint_url']}", env=env,
    )  # fmt: skip
    line = _one_line(r, t0)
    assert "s3://out/nocreds: cannot read manifest.json: no credentials found" in line


def test_an_unreachable_endpoint_is_one_line_and_bounded() -> None:
    t0 = time.monotonic()
    r = _cli(
        "convert", "coco", str(realdata("coco")), "s3://out/set",
        "--storage-option=key=k", "--storage-option=secret=s",
        "--storage-option=endpoint_url=http://127.0.0.1:9",
    )  # fmt: skip
    line = _one_line(r, t0)
    assert "s3://out/set: cannot read manifest.json: cannot reach the endpoint" in line
