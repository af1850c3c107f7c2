"""Partition across ranks and workers: complete, disjoint, equal per rank, deterministic."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from visiondata.loaders._stream.mixing import SourceCounts, epoch_sequence
from visiondata.loaders._stream.partition import (
    num_batches,
    rank_span,
    worker_batches_before,
    worker_span,
)

sizes_st = st.lists(st.integers(0, 40), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(0, 500), world=st.integers(1, 9), remainder=st.sampled_from(["drop", "wrap"])
)
def test_ranks_equal_disjoint_and_complete(total: int, world: int, remainder: str) -> None:
    spans = [rank_span(total, world, r, remainder) for r in range(world)]
    lengths = {b - a for a, b in spans}
    assert len(lengths) == 1  # equal per rank
    per = lengths.pop()
    positions = [p for a, b in spans for p in range(a, b)]
    assert positions == list(range(world * per))  # contiguous, disjoint, in order
    if remainder == "drop":
        assert total - world < world * per <= total or (total < world and per == 0)
    else:
        # every position is used; the few extra ones wrap to the start
        assert total <= world * per < total + world
        assert {p % total for p in positions} == set(range(total)) if total else True
    if total % world == 0:
        assert world * per == total  # exactly once when it divides evenly


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 300),
    bs=st.integers(1, 17),
    workers=st.integers(1, 6),
    drop_last=st.booleans(),
)
def test_workers_tile_the_rank(n: int, bs: int, workers: int, drop_last: bool) -> None:
    spans = [worker_span(n, bs, drop_last, workers, w) for w in range(workers)]
    nb = n // bs if drop_last else (n + bs - 1) // bs  # written here, not num_batches()
    assert num_batches(n, bs, drop_last) == nb
    assert sum(len(s.batch_sizes) for s in spans) == nb
    # contiguous blocks in worker order
    assert spans[0].start == 0
    for a, b in itertools.pairwise(spans):
        assert a.stop == b.start
    used = spans[-1].stop
    assert used == (nb * bs if drop_last else n)
    # interleaving round-robin gives batch b from worker b % workers, sizes as a plain batching
    sizes = [spans[b % workers].batch_sizes[b // workers] for b in range(nb)]
    expected = [bs] * nb if drop_last else [bs] * (n // bs) + ([n % bs] if n % bs else [])
    assert sizes == expected
    for k in range(nb + 1):
        assert sum(worker_batches_before(k, workers, w) for w in range(workers)) == k


@settings(max_examples=150, deadline=None)
@given(sizes=sizes_st, seed=st.integers(0, 2**32), epoch=st.integers(0, 50), shuffle=st.booleans())
def test_epoch_sequence_is_every_sample_once(
    sizes: list[int], seed: int, epoch: int, shuffle: bool
) -> None:
    src = SourceCounts(tuple(sizes))
    seq = epoch_sequence([src], None, seed=seed, epoch=epoch, shuffle=shuffle)
    assert sorted(seq.tolist()) == list(range(sum(sizes)))
    again = epoch_sequence([src], None, seed=seed, epoch=epoch, shuffle=shuffle)
    assert np.array_equal(seq, again)  # deterministic
    # shard-contiguous: each shard's samples appear as one run, in order
    starts = np.cumsum([0, *sizes])
    shard = np.searchsorted(starts, seq, side="right") - 1
    runs = [int(s) for i, s in enumerate(shard) if i == 0 or shard[i - 1] != s]
    assert len(runs) == len(set(runs))


@settings(max_examples=100, deadline=None)
@given(
    a=st.integers(1, 200),
    b=st.integers(1, 200),
    wa=st.integers(1, 5),
    wb=st.integers(1, 5),
    world=st.integers(1, 4),
    epoch=st.integers(0, 10),
)
def test_mixing_gives_exact_proportions_per_rank(
    a: int, b: int, wa: int, wb: int, world: int, epoch: int
) -> None:
    srcs = [SourceCounts((a,)), SourceCounts((b // 2, b - b // 2))]
    seq = epoch_sequence(srcs, [wa, wb], seed=1, epoch=epoch, shuffle=True, world_size=world)
    from_a = seq < a
    total = len(seq)
    assert total % world == 0
    per = total // world
    for r in range(world):
        block = from_a[r * per : (r + 1) * per]
        # the same ratio in every rank's block, exactly
        assert int(block.sum()) * (wa + wb) == per * wa // 1 or per == 0
    assert len(set(seq[from_a].tolist())) == int(from_a.sum())  # no repeats within a source
