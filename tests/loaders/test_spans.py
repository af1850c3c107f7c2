"""The shuffle buffer holds local samples as spans (positions), read back when decoded."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import gzip
import os
import random
import shutil
import warnings
from pathlib import Path

import pytest
from visiondata.loaders import BadSampleWarning, Loader, World
from visiondata.loaders.errors import TruncatedShardError
from visiondata.loaders.shards.reader import SPAN_MIN_BYTES, SampleReader, Span
from visiondata.loaders.shards.remote import Counters, RemoteOptions
from visiondata.loaders.shards.sources import ShardEntry, resolve_source

from .loader_fakes import make_shards

ONE = World(rank=0, world_size=1)


def big_members(i: int, key: str) -> dict[str, bytes]:
    """A payload above the span threshold (its size varies) and a small label."""
    payload = random.Random(i).randbytes(SPAN_MIN_BYTES + 37 * i)
    return {"bin": payload, "cls": str(i % 5).encode()}


def entries(root: Path) -> tuple[ShardEntry, ...]:
    return resolve_source(root, "train", RemoteOptions()).shards


def read_all(shards: tuple[ShardEntry, ...], spans: bool) -> list[dict[str, bytes | Span]]:
    reader = SampleReader(shards, RemoteOptions(), Counters(), spans=spans)
    return [reader.read(s, i) for s, e in enumerate(shards) for i in range(e.num_samples)]


def test_large_members_of_local_shards_are_spans_and_read_back_identically(
    tmp_path: Path,
) -> None:
    shards = entries(make_shards(tmp_path / "set", [5, 4], members=big_members))
    plain = read_all(shards, spans=False)
    reader = SampleReader(shards, RemoteOptions(), Counters(), spans=True)
    n = 0
    for s, e in enumerate(shards):
        for i in range(e.num_samples):
            held = reader.read(s, i)
            assert isinstance(held["bin"], Span), held
            assert isinstance(held["cls"], bytes)  # small members stay bytes
            assert reader.load(s, i, held) == plain[n] == big_members(n, "")
            n += 1
    assert all(isinstance(v, bytes) for sample in plain for v in sample.values())
    assert reader.large_bytes == 0


def test_compressed_shards_keep_bytes(tmp_path: Path) -> None:
    root = make_shards(tmp_path / "set", [4], members=big_members)
    gz = tmp_path / "one.tar.gz"
    with open(root / "train-000000.tar", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    shards = resolve_source(str(gz), "train", RemoteOptions()).shards
    reader = SampleReader(shards, RemoteOptions(), Counters(), spans=True)
    held = [reader.read(0, i) for i in range(4)]
    assert all(isinstance(h["bin"], bytes) for h in held)
    assert reader.large_bytes == 4  # counted, so the worker trims its heap


def buffered_shard(
    tmp_path: Path, n: int
) -> tuple[Path, tuple[ShardEntry, ...], SampleReader, list[dict[str, bytes | Span]]]:
    """One local shard of ``n`` samples, all read as a worker's buffer holds them."""
    root = make_shards(tmp_path / "set", [n], members=big_members)
    shards = entries(root)
    reader = SampleReader(shards, RemoteOptions(), Counters(), spans=True)
    return root, shards, reader, [reader.read(0, i) for i in range(n)]


def test_a_shard_replaced_by_rename_is_read_from_the_file_that_was_checked(
    tmp_path: Path,
) -> None:
    root, _, reader, held = buffered_shard(tmp_path, 6)
    other = make_shards(tmp_path / "other", [6], members=lambda i, k: big_members(i + 100, k))
    os.replace(other / "train-000000.tar", root / "train-000000.tar")
    assert [reader.load(0, i, h)["bin"] for i, h in enumerate(held)] == [
        big_members(i, "")["bin"] for i in range(6)
    ]


def test_a_shard_truncated_while_its_samples_wait_is_reported_per_sample(
    tmp_path: Path,
) -> None:
    root, shards, reader, held = buffered_shard(tmp_path, 6)
    os.truncate(root / "train-000000.tar", int(shards[0].offsets[3]) + 10)
    for i in range(3):
        assert reader.load(0, i, held[i])["bin"] == big_members(i, "")["bin"]
    with pytest.raises(
        TruncatedShardError, match=r"s000004.*changed while the sample was buffered"
    ):
        reader.load(0, 4, held[4])


@pytest.mark.parametrize("threads", [1, 3])
def test_the_loader_skips_and_names_samples_lost_after_buffering(
    tmp_path: Path, threads: int
) -> None:
    """End to end: the shard shrinks under a running epoch; lost samples are counted. On one
    thread a sample is read back only when its turn comes, so the two past the cut that were
    not yet delivered are lost; on a pool, those the pool's window had already read back
    before the cut are delivered whole, and the rest are lost and named."""
    root = make_shards(tmp_path / "set", [8], members=big_members)
    shard = root / "train-000000.tar"
    cut = int(entries(root)[0].offsets[6])
    loader = Loader(
        root,
        batch_size=2,
        world=ONE,
        shuffle=True,
        buffer_size=8,
        seed=3,
        threads_per_worker=threads,
    )
    keys: list[str] = []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always", BadSampleWarning)
        for batch in loader:
            if not keys:
                os.truncate(shard, cut)  # the whole shard is already in the buffer
            keys += batch["__key__"]
    assert all(w.category is BadSampleWarning for w in rec)
    lost = {str(w.message).split("'")[1] for w in rec}
    if threads == 1:
        assert lost and lost == {"s000006", "s000007"} - set(keys)
    assert lost <= {"s000006", "s000007"}
    assert len(keys) + loader.stats.bad_samples == 8
    assert sorted(keys + sorted(lost)) == [f"s{i:06d}" for i in range(8)]


@pytest.mark.parametrize("workers", [0, 2])
def test_spans_and_bytes_give_identical_batches(tmp_path: Path, workers: int) -> None:
    root = make_shards(tmp_path / "set", [7, 9, 5], members=big_members)

    def batches(spans: bool) -> list[tuple[list[str], list[bytes]]]:
        loader = Loader(
            root, batch_size=4, world=ONE, num_workers=workers, buffer_size=10, seed=5, decode={}
        )
        loader.plan = dataclasses.replace(loader.plan, spans=spans)
        return [(b["__key__"], b["bin"]) for b in loader]

    got = batches(True)
    assert got == batches(False)
    assert len({k for keys, _ in got for k in keys}) == 21


def test_no_descriptor_outlives_the_epoch(tmp_path: Path) -> None:
    root = make_shards(tmp_path / "set", [7, 9, 5], members=big_members)
    gc.collect()  # an earlier test's loader freed now, not midway through this one
    before = _open_descriptors()
    loader = Loader(root, batch_size=4, world=ONE, buffer_size=10, decode={})
    assert sum(len(b["__key__"]) for b in loader) == 21
    # what this epoch opened is closed (descriptors other tests' threads close meanwhile
    # do not count; a leak here would show as a new number or a new target)
    assert _open_descriptors() - before == set()


def _open_descriptors() -> set[tuple[str, str]]:
    fds = Path("/proc/self/fd")  # Linux
    out = set()
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor, gone by now
            out.add((fd.name, os.readlink(fd)))
    return out
