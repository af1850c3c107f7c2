"""Bad data: each kind is skipped with a warning, raised, or refused, as documented."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from visiondata.loaders import (
    BadSampleWarning,
    ChecksumError,
    DecodeError,
    Loader,
    LoaderOptionError,
    TooManyErrorsError,
    TruncatedShardError,
    UnsafeURLError,
    World,
)
from visiondata.loaders.errors import SourceError

from .loader_fakes import REALDATA, all_keys, make_shards, small_members

COCO = REALDATA / "coco" / "val2017"
ONE = World(0, 1)


def jpeg_members(i: int, key: str) -> dict[str, bytes]:
    jpgs = sorted(COCO.glob("*.jpg"))
    data = jpgs[i % len(jpgs)].read_bytes()
    if i == 3:
        data = data[: len(data) // 3]  # truncated JPEG
    if i == 6:
        data = b"\xff\xd8\xff" + bytes(range(256)) * 4  # garbage after a JPEG marker
    return {"jpg": data, "cls": str(i).encode()}


@pytest.mark.parametrize(("num_workers", "threads"), [(0, 1), (0, 3), (1, 1), (1, 2)])
def test_corrupt_jpegs_are_skipped_with_a_warning(
    tmp_path: Path, num_workers: int, threads: int
) -> None:
    root = make_shards(tmp_path, [5, 5], members=jpeg_members)
    loader = Loader(
        root,
        batch_size=4,
        world=ONE,
        shuffle=False,
        fields=["jpg", "cls"],
        num_workers=num_workers,
        threads_per_worker=threads,
    )
    with pytest.warns(BadSampleWarning) as rec:
        batches = list(loader)
    messages = [str(w.message) for w in rec]
    assert len(messages) == 2
    assert "'s000003'" in messages[0] and "train-000000.tar" in messages[0]
    assert "field 'jpg'" in messages[0]
    assert len(batches) == 3  # the batch count does not change; batches get shorter
    keys = [k for b in batches for k in b["__key__"]]
    assert keys == [k for k in all_keys(root) if k not in ("s000003", "s000006")]
    assert loader.stats.bad_samples == 2 and loader.stats.samples == 8
    first = batches[0]["jpg"]
    assert isinstance(first, list) and first[0].dtype.is_floating_point is False  # sizes differ
    assert first[0].shape[0] == 3


@pytest.mark.parametrize(("num_workers", "threads"), [(0, 1), (0, 4), (1, 3)])
def test_on_error_raise_stops_at_the_first_bad_sample(
    tmp_path: Path, num_workers: int, threads: int
) -> None:
    root = make_shards(tmp_path, [5, 5], members=jpeg_members)
    loader = Loader(
        root,
        batch_size=2,
        world=ONE,
        shuffle=False,
        on_error="raise",
        num_workers=num_workers,
        threads_per_worker=threads,
    )
    got = []
    with pytest.raises(DecodeError, match=r"s000003.*field 'jpg'"):
        for b in loader:
            got += b["__key__"]
    assert got == ["s000000", "s000001", "s000002"]  # the samples before it, then the error


def test_on_error_raise_keeps_the_error_type_across_worker_processes(tmp_path: Path) -> None:
    root = make_shards(tmp_path, [5, 5], members=jpeg_members)
    loader = Loader(root, batch_size=2, world=ONE, num_workers=1, on_error="raise")
    with pytest.raises(DecodeError, match=r"s00000[36].*field 'jpg'"):
        list(loader)


def test_max_error_rate_aborts(tmp_path: Path) -> None:
    def mostly_bad(i: int, key: str) -> dict[str, bytes]:
        return {"json": b"{not json" if i % 2 else b"{}"}

    root = make_shards(tmp_path, [150], members=mostly_bad)
    loader = Loader(root, batch_size=10, world=ONE, max_error_rate=0.2)
    with pytest.warns(BadSampleWarning), pytest.raises(TooManyErrorsError, match="max_error_rate"):
        list(loader)


def truncate(src: Path, dst: Path, keep: int) -> None:
    dst.write_bytes(src.read_bytes()[:keep])


def test_truncated_shard_yields_complete_samples_then_reports(tmp_path: Path) -> None:
    root = make_shards(tmp_path / "set", [6, 6], members=jpeg_members_ok)
    manifest = json.loads((root / "manifest.json").read_text())
    shard = manifest["splits"]["train"]["shards"][0]
    cut = shard["offsets"][4] + 700  # inside sample 4's first member
    path = root / shard["name"]
    truncate(path, path, cut)
    loader = Loader(root, batch_size=3, world=ONE, shuffle=False)
    with pytest.warns(BadSampleWarning, match="truncated at byte") as rec:
        keys = [k for b in loader for k in b["__key__"]]
    assert keys == [f"s{i:06d}" for i in (0, 1, 2, 3, 6, 7, 8, 9, 10, 11)]
    assert {"s000004", "s000005"} == {str(w.message).split("'")[1] for w in rec}
    raising = Loader(root, batch_size=3, world=ONE, shuffle=False, on_error="raise")
    got: list[str] = []
    with pytest.raises(TruncatedShardError, match=r"s000004.*every sample before the break"):
        for b in raising:
            got += b["__key__"]
    assert got == ["s000000", "s000001", "s000002", "s000003"]


def jpeg_members_ok(i: int, key: str) -> dict[str, bytes]:
    return {"png": png(i), "cls": str(i).encode()}


def png(i: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (i, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


def test_truncated_shard_without_manifest(tmp_path: Path) -> None:
    real = REALDATA / "webdataset" / "bccd-000000.tar"
    cut = tmp_path / "bccd-cut.tar"
    truncate(real, cut, 100_000)  # mid-way through the 4th or 5th sample
    loader = Loader(str(cut), batch_size=2, world=ONE, shuffle=False, on_error="raise")
    got: list[str] = []
    with pytest.raises(TruncatedShardError, match="truncated at byte 100000"):
        for b in loader:
            got += b["__key__"]
            assert all(img.shape == (3, 480, 640) for img in b["jpg"])
    assert got and got == sorted(got)
    assert got[0] == "BloodImage_00000"


def test_missing_fields(tmp_path: Path) -> None:
    def some_missing(i: int, key: str) -> dict[str, bytes]:
        m = small_members(i, key)
        if i == 2:
            del m["cls"]
        return m

    root = make_shards(tmp_path, [4], members=some_missing)
    loader = Loader(root, batch_size=4, world=ONE, fields=["cls", "txt"])
    with pytest.warns(BadSampleWarning, match=r"s000002.*missing field\(s\) \['cls'\]"):
        (batch,) = list(loader)
    assert sorted(batch["__key__"]) == ["s000000", "s000001", "s000003"]


def test_checksum_mismatch_is_an_error(tmp_path: Path) -> None:
    root = make_shards(tmp_path, [5], members=small_members)
    manifest = json.loads((root / "manifest.json").read_text())
    shard = manifest["splits"]["train"]["shards"][0]
    path = root / shard["name"]
    data = bytearray(path.read_bytes())
    # change one byte of sample 2's txt payload (not a header: the tar still parses)
    pos = data.index(b"s000002", shard["offsets"][2] + 512 * 3)
    data[pos] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="sha256"):
        list(Loader(root, batch_size=2, world=ONE))


@pytest.mark.parametrize(
    "source",
    ["pipe:curl -s http://example/x.tar", "pipe:cat a.tar", "| cat a.tar", ["pipe:cat a.tar"]],
)
def test_pipe_urls_are_refused(source: object) -> None:
    with pytest.raises(UnsafeURLError, match="never runs"):
        Loader(source, batch_size=1, world=ONE)


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(SourceError, match="unknown protocol 'bogus'"):
        Loader("bogus://host/a.tar", batch_size=1, world=ONE)


def test_pickle_fields_are_refused_unless_opted_in(tmp_path: Path) -> None:
    class Boom:
        def __reduce__(self) -> tuple[object, ...]:
            return (print, ("pickle ran",))

    def with_pickle(i: int, key: str) -> dict[str, bytes]:
        return {"pyd": pickle.dumps({"i": i} if i else Boom()), "cls": b"1"}

    root = make_shards(tmp_path, [3], members=with_pickle)
    with pytest.raises(LoaderOptionError, match=r"allow_pickle=\['pyd'\]"):
        Loader(root, batch_size=3, world=ONE, fields=["pyd"])
    loader = Loader(root, batch_size=3, world=ONE)
    with pytest.warns(BadSampleWarning, match="refused unless allow_pickle names 'pyd'"):
        (batch,) = list(loader)
    assert batch["__key__"] == []
    ok = Loader(root, batch_size=3, world=ONE, shuffle=False, allow_pickle=["pyd"])
    (batch,) = list(ok)
    assert batch["pyd"][1:] == [{"i": 1}, {"i": 2}]


def test_npy_never_unpickles(tmp_path: Path) -> None:
    def npy(i: int, key: str) -> dict[str, bytes]:
        buf = io.BytesIO()
        arr = np.array([{"x": 1}], dtype=object) if i == 1 else np.arange(4, dtype=np.int16)
        np.save(buf, arr, allow_pickle=True)
        return {"npy": buf.getvalue()}

    root = make_shards(tmp_path, [3], members=npy)
    loader = Loader(root, batch_size=3, world=ONE, shuffle=False)
    with pytest.warns(BadSampleWarning, match=r"s000001.*field 'npy'.*pickle"):
        (batch,) = list(loader)
    assert batch["npy"].shape == (2, 4) and batch["__key__"] == ["s000000", "s000002"]


def test_damaged_header_skips_one_sample(tmp_path: Path) -> None:
    root = make_shards(tmp_path, [5], members=small_members)
    manifest = json.loads((root / "manifest.json").read_text())
    shard = manifest["splits"]["train"]["shards"][0]
    path = root / shard["name"]
    data = bytearray(path.read_bytes())
    data[shard["offsets"][1] + 10] ^= 0xFF  # the header checksum no longer matches
    path.write_bytes(bytes(data))
    loader = Loader(root, batch_size=5, world=ONE, shuffle=False, verify="never")
    with pytest.warns(BadSampleWarning, match="header checksum"):
        (batch,) = list(loader)
    assert batch["__key__"] == ["s000000", "s000002", "s000003", "s000004"]
