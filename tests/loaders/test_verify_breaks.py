"""``shards verify`` on shards that cannot be read to their end: truncated mid-member (the
samples after the break are named, not silently skipped), a directory where the shard file
should be, and a served shard whose every read fails. The shards around the broken one are
still read and counted; each break is reported once, on the shard it is in."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders.shards.remote import RemoteOptions
from visiondata.loaders.shards.verify import verify
from visiondata.registry.cli import main

from .faulty_http import Fault, FaultyServer
from .loader_fakes import make_shards

S0, S1 = "train-000000.tar", "train-000001.tar"


def _offsets(root: Path, shard: int = 0) -> list[int]:
    data = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    return [int(o) for o in data["splits"]["train"]["shards"][shard]["offsets"]]


def _where(findings: list[Any]) -> list[tuple[str, str | None, str | None, int | None]]:
    return [(f.kind, f.shard, f.key, f.offset) for f in findings]


def test_a_truncated_shard_names_the_break_and_every_sample_after_it(tmp_path: Path) -> None:
    root = make_shards(tmp_path / "set", [9, 2])
    offsets = _offsets(root)
    shard = root / S0
    cut = offsets[1] + 700  # inside the data of s000001.cls (header 512 bytes, then data)
    shard.write_bytes(shard.read_bytes()[:cut])
    size = json.loads((root / "manifest.json").read_text())["splits"]["train"]["shards"][0]
    report = verify(root)
    assert _where(report.findings) == [
        ("member", S0, "s000001", offsets[1]),
        ("member", S0, None, None),
        ("size", S0, None, None),
    ]
    assert [f.message for f in report.findings] == [
        f"the stream ends at byte {cut} inside member 's000001.cls'",
        "7 sample(s) after the break cannot be read: s000002, s000003, s000004, s000005, "
        "s000006 ...",
        f"{cut} bytes on disk, the manifest says {size['bytes']}",
    ]
    # the intact shard after it was read in full; the totals count both shards
    assert (report.shards, report.samples) == (2, 11)


def test_a_short_break_lists_every_lost_sample(tmp_path: Path) -> None:
    root = make_shards(tmp_path / "set", [4])
    offsets = _offsets(root)
    shard = root / S0
    shard.write_bytes(shard.read_bytes()[: offsets[2] + 100])  # inside s000002's first header
    report = verify(root)
    assert _where(report.findings)[:2] == [
        ("member", S0, "s000002", offsets[2]),
        ("member", S0, None, None),
    ]
    assert report.findings[1].message == "1 sample(s) after the break cannot be read: s000003"


def test_a_folder_in_place_of_a_shard_is_one_finding(tmp_path: Path, capsys: Any) -> None:
    root = make_shards(tmp_path / "set", [3, 2])
    (root / S0).unlink()
    (root / S0).mkdir()
    report = verify(root)
    assert _where(report.findings) == [("missing", S0, None, None)]
    assert report.findings[0].message == f"cannot be read: {os.strerror(21)}"  # EISDIR
    assert (report.shards, report.samples) == (2, 5)
    assert main(["shards", "verify", str(root), "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"split 'train': {S0}: cannot be read: Is a directory"
    assert err[1].startswith(f"{root}: 1 problem(s); 2 shard(s), 5 sample(s), ")


@pytest.mark.timeout(60)
def test_a_served_shard_that_always_fails_is_named_and_the_rest_verified(
    tmp_path: Path,
) -> None:
    make_shards(tmp_path / "www" / "set", [4, 3])
    opts = RemoteOptions(retries=1, backoff=0.01, connect_timeout=1.0, read_timeout=0.5)
    with FaultyServer(tmp_path / "www") as server:
        server.faults = [Fault("status", -1, "GET", S1, status=503)]
        report = verify(f"{server.url}/set", opts=opts)
        url = f"{server.url}/set/{S1}"
        assert server.hits("status") == 2  # one try and the one retry
    assert _where(report.findings) == [("missing", S1, None, None)]
    message = report.findings[0].message
    assert message.startswith(
        f"cannot be read: {url} bytes 0-10239: still failing after 1 retries: "
        "ClientResponseError: 503"
    ), message
    # shard 0 was read whole (its 10,240 bytes); nothing of shard 1 came
    assert (report.shards, report.bytes) == (2, 10240)
