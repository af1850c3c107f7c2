"""Shuffles: permutations, deterministic for (seed, epoch) on any machine, bounded look-ahead."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from visiondata.loaders._stream.mixing import SourceCounts, balanced_selection, epoch_sequence
from visiondata.loaders._stream.shuffle import buffer_permutation, permutation, resume_start


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 2**63))
def test_permutation_is_a_permutation_and_deterministic(n: int, seed: int) -> None:
    p = permutation(n, [seed, 3])
    assert sorted(p.tolist()) == list(range(n))
    assert np.array_equal(p, permutation(n, [seed, 3]))


def test_golden_orders_are_the_same_on_every_machine() -> None:
    # Pinned values: PCG64 raw output is stable across numpy versions and platforms, and the
    # mapping to ranges is ours. A change here breaks resuming runs started elsewhere.
    assert permutation(10, [0, 0]).tolist() == GOLDEN_PERM
    assert buffer_permutation(12, 4, [7, 1]).tolist() == GOLDEN_BUFFER


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 400), buf=st.integers(0, 64), seed=st.integers(0, 2**32))
def test_buffer_shuffle_bounds_read_ahead(n: int, buf: int, seed: int) -> None:
    perm = buffer_permutation(n, buf, [seed])
    assert sorted(perm.tolist()) == list(range(n))
    for out, inp in enumerate(perm.tolist()):
        assert inp <= out + max(buf, 1) - 1  # never needs more than `buf` samples held
    for k in range(n + 1):  # resuming at any output position
        start = resume_start(perm, k)
        assert all(i >= start for i in perm[k:].tolist())
        assert start == n or start in perm[k:].tolist()


def test_new_epoch_new_order_same_epoch_same_order() -> None:
    src = [SourceCounts((5,) * 20)]
    e0 = epoch_sequence(src, None, seed=3, epoch=0, shuffle=True)
    e0b = epoch_sequence(src, None, seed=3, epoch=0, shuffle=True)
    e1 = epoch_sequence(src, None, seed=3, epoch=1, shuffle=True)
    s1 = epoch_sequence(src, None, seed=4, epoch=0, shuffle=True)
    assert np.array_equal(e0, e0b)
    assert not np.array_equal(e0, e1)
    assert not np.array_equal(e0, s1)
    assert (
        buffer_permutation(100, 10, [1, 0]).tolist() != buffer_permutation(100, 10, [1, 1]).tolist()
    )


@settings(max_examples=100, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=1, max_size=80),
    n=st.integers(0, 200),
    seed=st.integers(0, 1000),
)
def test_class_balance_is_exact(labels: list[int], n: int, seed: int) -> None:
    sel = balanced_selection(labels, n, [seed])
    assert len(sel) == n
    classes = sorted(set(labels))
    got = [sum(1 for i in sel.tolist() if labels[i] == c) for c in classes]
    assert max(got) - min(got) <= 1  # equal shares (remainder spread one each)
    assert sel.tolist() == sorted(sel.tolist())


GOLDEN_PERM = [9, 1, 3, 8, 5, 4, 7, 0, 2, 6]
GOLDEN_BUFFER = [3, 0, 5, 6, 1, 2, 4, 8, 11, 10, 7, 9]
