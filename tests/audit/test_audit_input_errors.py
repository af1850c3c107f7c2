"""run_audit and scan_shard on damaged shard sets: every loss is named, the rest still counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visiondata.loaders.audit.audit import AuditOptions, run_audit
from visiondata.loaders.audit.figures import audit_figures, split_summary
from visiondata.loaders.audit.report import audit_json, render_text, write_report
from visiondata.loaders.audit.scan import (
    ShardResult,
    ShardTask,
    image_facts,
    read_sample,
    scan_shard,
)
from visiondata.loaders.errors import MemberTooLargeError, TarFormatError
from visiondata.loaders.shards.manifest import ManifestError, read_manifest
from visiondata.loaders.shards.members import Limits

from tests.audit.audit_fakes import build, jpeg, realdata, texture

CLASSES = ["a", "b"]


def _set(root: Path) -> Path:
    train = [
        ("k0", {"jpg": jpeg(texture(0))}, 0),
        ("big", {"jpg": jpeg(texture(1, size=(400, 400)))}, 1),
        ("k2", {"jpg": jpeg(texture(2))}, 0),
    ]
    test = [("t0", {"jpg": jpeg(texture(9))}, 1)]
    return build(root, {"train": train, "test": test}, classes=CLASSES)


def _train_task(root: Path, limits: Limits) -> ShardTask:
    shard = read_manifest(root).split("train").shards[0]
    return ShardTask(
        split="train",
        index=0,
        path=str(root / shard.name),
        keys=list(shard.keys),
        offsets=list(shard.offsets),
        labels=["a", "b", "a"],
        classes=CLASSES,
        categories={},
        attributes=(),
        limits=limits,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 64}, "threshold must be in 0..63 bits, got 64"),
        ({"threshold": -1}, "threshold must be in 0..63 bits, got -1"),
        ({"bands": 0}, "bands must be in 1..16, got 0"),
        ({"bands": 17}, "bands must be in 1..16, got 17"),
    ],
)
def test_options_out_of_range(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError) as err:
        AuditOptions(**kwargs)
    assert str(err.value) == message


def test_a_missing_shard_is_named_before_any_scan(tmp_path: Path) -> None:
    root = _set(tmp_path / "s")
    (root / "test-000000.tar").unlink()
    with pytest.raises(ManifestError) as err:
        run_audit(root)
    assert str(err.value) == f"{root / 'manifest.json'}: shard test-000000.tar is missing"


def test_a_truncated_shard_refuses_its_last_sample_and_keeps_the_rest(tmp_path: Path) -> None:
    root = _set(tmp_path / "s")
    shard = read_manifest(root).split("train").shards[0]
    path = root / shard.name
    cut = shard.offsets[2] + 700  # inside k2's image data
    path.write_bytes(path.read_bytes()[:cut])
    seen: list[tuple[str, int]] = []

    def on_shard(res: ShardResult) -> None:
        seen.append((res.task.split, res.stats.samples))

    res = run_audit(root, AuditOptions(progress=True), on_shard=on_shard)
    assert seen == [("train", 2), ("test", 1)]
    st = res.stats["train"]
    assert st.refused == [
        (
            "k2",
            f"the header at byte {shard.offsets[2]} declares "
            f"{len(jpeg(texture(2))):,} bytes of data, but the file ends at byte {cut}",
        )
    ]
    assert st.refused_count == 1
    assert res.notes == ["split train: the manifest lists 3 samples, the shards hold 2"]
    s = split_summary(res, "train")
    assert s["samples"] == 2 and s["classes"]["histogram"] == {"a": 1, "b": 1}
    assert split_summary(res, "test")["samples"] == 1
    assert [r.key for r in res.rows["train"]] == ["k0", "big"]


def test_refused_samples_are_reported(tmp_path: Path) -> None:
    root = _set(tmp_path / "s")
    shard = read_manifest(root).split("train").shards[0]
    path = root / shard.name
    cut = shard.offsets[2] + 700
    path.write_bytes(path.read_bytes()[:cut])
    res = run_audit(root)
    reason = (
        f"the header at byte {shard.offsets[2]} declares {len(jpeg(texture(2))):,} bytes of "
        f"data, but the file ends at byte {cut}"
    )
    refused = {"count": 1, "keys": [{"key": "k2", "reason": reason}]}
    assert split_summary(res, "train")["refused"] == refused
    assert "refused" not in split_summary(res, "test")  # a split with none says nothing
    data = json.loads(json.dumps(audit_json(res), default=str))
    assert data["splits"]["train"]["refused"] == refused
    figs = [f for f in audit_figures(res) if f.category == "refused samples"]
    assert [(f.population.split, f.value, f.population.n) for f in figs] == [("train", 1, 3)]
    lines = render_text(res).splitlines()
    assert f"  refused: 1 sample(s) by the member policy, in no other count: k2 ({reason})" in (
        lines
    )
    assert sum(ln.startswith("  refused:") for ln in lines) == 1
    json_path, html_path = write_report(res, tmp_path / "report")
    assert json.loads(json_path.read_text())["splits"]["train"]["refused"] == refused
    assert "<th>refused by the member policy</th><td>1: k2 (" in html_path.read_text()


def test_refused_samples_beyond_three_are_counted_in_the_text(tmp_path: Path) -> None:
    res = run_audit(_set(tmp_path / "s"))
    for i in range(5):
        res.stats["train"].refuse(f"r{i}", "why")
    lines = [ln for ln in render_text(res).splitlines() if ln.startswith("  refused:")]
    assert lines == [
        "  refused: 5 sample(s) by the member policy, in no other count: "
        "r0 (why); r1 (why); r2 (why); and 2 more"
    ]


def test_member_policy_refuses_an_oversized_member(tmp_path: Path) -> None:
    root = _set(tmp_path / "s")
    task = _train_task(root, Limits(max_member_bytes=5000))
    ticks: list[int] = []
    res = scan_shard(task, ticks.append)
    size = len(jpeg(texture(1, size=(400, 400))))
    assert res.stats.refused == [
        (
            "big",
            f"member 'big.jpg' at byte {task.offsets[1]} is {size:,} bytes, above max_member_bytes=5,000",
        )
    ]
    assert ticks == [1, 1, 1]  # the refused sample is counted in the progress too
    assert res.stats.samples == 2 and res.stats.images == 2
    assert dict(res.stats.classes) == {"a": 2}
    assert [r.key for r in res.rows] == ["k0", "k2"]


def test_read_sample_names_the_shard_key_and_problem(tmp_path: Path) -> None:
    root = _set(tmp_path / "s")
    task = _train_task(root, Limits())
    with pytest.raises(MemberTooLargeError) as big:
        read_sample(task.path, task.offsets[1], "big", Limits(max_member_bytes=5000))
    assert str(big.value).startswith(f"{task.path}: sample 'big' at byte {task.offsets[1]}: member")
    with pytest.raises(TarFormatError) as wrong:
        read_sample(task.path, task.offsets[1], "k0")
    assert str(wrong.value) == (
        f"{task.path}: sample 'k0' at byte {task.offsets[1]}: member 'big.jpg' at byte "
        f"{task.offsets[1]} does not belong to this sample (the manifest's keys or offsets do "
        "not match the tar)"
    )


def test_a_jpeg_cut_after_its_header_is_undecodable_with_its_size_known() -> None:
    data = realdata("coco", "val2017", "000000126107.jpg").read_bytes()
    facts = image_facts(data[: len(data) // 2])
    assert (facts.fmt, facts.width, facts.height) == ("JPEG", 640, 480)
    assert facts.phash is None
    assert facts.error is not None
    assert facts.error.startswith("cannot decode: OSError: image file is truncated")


def test_workers_report_each_shard_once_with_a_progress_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _set(tmp_path / "s")
    seen: list[str] = []
    res = run_audit(
        root,
        AuditOptions(workers=2, progress=True),
        on_shard=lambda r: seen.append(r.task.split),
    )
    assert sorted(seen) == ["test", "train"]
    assert "audit: 100%" in capsys.readouterr().err
    assert res.total_samples == 4 and res.notes == []
    assert split_summary(res, "train")["classes"]["histogram"] == {"a": 2, "b": 1}
