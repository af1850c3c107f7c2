"""The member policy, case by case: every crafted shard through the Loader (skip and raise,
0 and 2 workers, from its manifest and from the bare tar list) and through ``shards verify``.

Each case asserts the exact samples delivered, the samples named as bad with their error,
and the counts; and, for the hostile ones, that the harm did not happen (no file written
outside, no pickle run).
"""

from __future__ import annotations

import multiprocessing
import warnings
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders import BadSampleError, BadSampleWarning, Loader, World
from visiondata.loaders import errors as E
from visiondata.loaders.shards.verify import verify
from visiondata.registry.cli import main

from .crafted import CASES, PICKLE_PAYLOAD, Case, bad_keys, write_case

ONE = World(0, 1)
IDS = [c.name for c in CASES]


def _plain(label: str) -> str:
    return label.split("#")[0]


def _loader(case: Case, root: Path, source: str, **kw: Any) -> Loader:
    src: Any = root if source == "manifest" else sorted(str(p) for p in root.glob("crafted-*"))
    opts: dict[str, Any] = {"batch_size": 2, "world": ONE, "shuffle": False, **case.options, **kw}
    if case.fields is not None:
        opts["fields"] = case.fields
    return Loader(src, **opts)


def _run_skip(loader: Loader) -> tuple[list[str], list[str]]:
    keys: list[str] = []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always", BadSampleWarning)
        for batch in loader:
            keys += batch["__key__"]
    warned = [str(w.message) for w in rec if issubclass(w.category, BadSampleWarning)]
    return keys, warned


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a pickle that ran would write its marker here


def _assert_no_harm(tmp_path: Path) -> None:
    assert not (tmp_path / "PICKLE-RAN").exists()
    assert not Path("/tmp/escape-b.jpg").exists()
    for up in (tmp_path.parent, tmp_path.parent.parent):
        assert not (up / "escape-b.jpg").exists()


def test_the_harm_checks_can_fail(tmp_path: Path) -> None:
    """The checks above are live: the payload does write its marker when unpickled, and a
    file where the traversal member points is seen."""
    import pickle

    _assert_no_harm(tmp_path)
    pickle.loads(PICKLE_PAYLOAD)  # the harm itself, here on purpose, in this test's folder
    with pytest.raises(AssertionError):
        _assert_no_harm(tmp_path)
    (tmp_path / "PICKLE-RAN").unlink()
    escaped = tmp_path.parent / "escape-b.jpg"  # where ../../escape-b.jpg lands from set/
    escaped.write_bytes(b"x")
    try:
        with pytest.raises(AssertionError):
            _assert_no_harm(tmp_path)
    finally:
        escaped.unlink()
    _assert_no_harm(tmp_path)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("source", ["manifest", "tars"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_skip_delivers_every_intact_sample_and_names_the_bad(
    case: Case, source: str, threads: int, tmp_path: Path
) -> None:
    offsets = write_case(case, tmp_path / "set")
    bad = bad_keys(case, offsets)
    loader = _loader(case, tmp_path / "set", source, threads_per_worker=threads)
    keys, warned = _run_skip(loader)
    assert keys == case.good
    assert loader.stats.samples == len(case.good)
    assert loader.stats.bad_samples == len(bad)
    assert sorted(k for _, k, _ in loader.stats.bad) == sorted(_plain(k) for k in bad)
    expected_kinds: dict[str, int] = {}
    for err in bad.values():
        expected_kinds[err.__name__] = expected_kinds.get(err.__name__, 0) + 1
    assert dict(loader.stats.bad_kinds) == expected_kinds
    assert len(warned) == len(bad)
    for label in bad:
        assert any(f"sample {_plain(label)!r} of shard crafted-" in w for w in warned), warned
    _assert_no_harm(tmp_path)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_skip_with_two_workers_delivers_the_same(case: Case, threads: int, tmp_path: Path) -> None:
    offsets = write_case(case, tmp_path / "set")
    bad = bad_keys(case, offsets)
    loader = _loader(case, tmp_path / "set", "manifest", num_workers=2, threads_per_worker=threads)
    keys, _ = _run_skip(loader)
    assert sorted(keys) == sorted(case.good)
    assert loader.stats.bad_samples == len(bad)
    assert sorted(k for _, k, _ in loader.stats.bad) == sorted(_plain(k) for k in bad)
    _assert_no_harm(tmp_path)


@pytest.mark.parametrize(("workers", "threads"), [(0, 1), (0, 3), (2, 2)])
@pytest.mark.parametrize("case", [c for c in CASES if c.bad], ids=[c.name for c in CASES if c.bad])
def test_raise_stops_at_the_first_bad_sample_with_its_error(
    case: Case, workers: int, threads: int, tmp_path: Path
) -> None:
    offsets = write_case(case, tmp_path / "set")
    bad = bad_keys(case, offsets)
    loader = _loader(
        case,
        tmp_path / "set",
        "manifest",
        on_error="raise",
        num_workers=workers,
        threads_per_worker=threads,
    )
    got: list[str] = []
    before = set(multiprocessing.active_children())
    with pytest.raises(BadSampleError) as err:
        for batch in loader:
            got += batch["__key__"]
    # the error ended the pass and its workers, not left them to the garbage collector
    assert set(multiprocessing.active_children()) <= before
    assert type(err.value) in set(bad.values()), err.value
    assert "crafted-" in str(err.value)
    assert set(got) <= set(case.good)
    if workers == 0:
        labels = _manifest_order(tmp_path / "set")
        first_bad = min(i for i, k in enumerate(labels) if k in bad)
        assert type(err.value) is bad[labels[first_bad]]
        assert got == [_plain(k) for k in labels[:first_bad]]
    _assert_no_harm(tmp_path)


def _manifest_order(root: Path) -> list[str]:
    """Every sample's label (``key#n`` for repeats) in manifest order."""
    import json

    manifest = json.loads((root / "manifest.json").read_text())
    labels: list[str] = []
    for shard in manifest["splits"]["train"]["shards"]:
        for k in shard["keys"]:
            label, n = k, 1
            while label in labels:
                n += 1
                label = f"{k}#{n}"
            labels.append(label)
    return labels


#: errors the loader raises while decoding for the fields it was asked for; verify, which
#: does not know those fields, reports the rest
_LOADER_ONLY = (E.MissingFieldError, E.PickleRefusedError)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_verify_reports_the_same_samples(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    offsets = write_case(case, tmp_path / "set")
    bad = bad_keys(case, offsets)
    limits_args = []
    if "max_member_bytes" in case.options:
        limits_args = ["--max-member-bytes", str(case.options["max_member_bytes"])]
    code = main(["shards", "verify", str(tmp_path / "set"), "--no-progress", *limits_args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    assert code == (0 if case.verify_ok else 1), out.err
    from visiondata.loaders.shards.members import Limits

    limits = Limits(max_member_bytes=int(case.options.get("max_member_bytes", 1 << 30)))
    report = verify(tmp_path / "set", limits=limits)
    errors = {(f.key, f.offset) for f in report.errors}
    for label, err in bad.items():
        if issubclass(err, _LOADER_ONLY):
            continue
        assert (_plain(label), offsets[label]) in errors or any(
            f.key == _plain(label) for f in report.errors
        ), (label, report.findings)
        assert any(f"sample {_plain(label)!r}" in line for line in out.err.splitlines())
    if case.name == "key-in-two-shards":
        (w,) = [f for f in report.findings if f.kind == "duplicate-key"]
        assert w.severity == "warning" and w.key == "b" and "crafted-000000.tar" in w.message
    if case.name == "pickle-member":
        assert [f.kind for f in report.findings] == ["pickle"]
    _assert_no_harm(tmp_path)


def test_every_case_has_a_distinct_name_and_a_bad_or_clean_outcome() -> None:
    assert len(set(IDS)) == len(IDS)
    for c in CASES:
        assert c.bad or c.verify_ok, c.name
