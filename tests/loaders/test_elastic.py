"""Elastic resume: a state taken on N ranks x W workers continues on M ranks x V workers.

The pure layer first (property tests over the layouts), then the Loader in one process (ranks
as World values), then real DataLoader workers. The torch.distributed cases are in test_ddp.py.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from visiondata.loaders import Loader, World
from visiondata.loaders._stream.elastic import Segment, delivered, remaining, segment_layout
from visiondata.loaders._stream.partition import batch_sizes, first_layout, later_layout
from visiondata.loaders._stream.shuffle import buffer_permutation

from .loader_fakes import make_shards


def _order(buffer: int) -> Any:
    def order(segment: int, rank: int, worker: int, n: int) -> Any:
        return buffer_permutation(n, buffer, [7, segment, rank, worker])

    return order


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 60), nb=st.integers(1, 12), bs=st.integers(1, 8))
def test_batch_sizes(n: int, nb: int, bs: int) -> None:
    if n > nb * bs:
        return
    sizes = batch_sizes(n, nb, bs)
    assert len(sizes) == nb and sum(sizes) == n and all(0 <= s <= bs for s in sizes)
    assert all(s > 0 for s in sizes[: min(n, nb)])  # empty batches only when n < nb, at the end
    if n > (nb - 1) * bs:
        assert sizes == tuple([bs] * (nb - 1) + [n - (nb - 1) * bs])  # plain batching


world_st = st.tuples(st.integers(1, 4), st.integers(0, 3), st.integers(1, 6))  # ranks, workers, bs


@settings(max_examples=400, deadline=None)
@given(
    total=st.integers(0, 120),
    old=world_st,
    new=world_st,
    third=world_st,
    remainder=st.sampled_from(["drop", "wrap"]),
    drop_last=st.booleans(),
    buffer=st.integers(0, 9),
    data=st.data(),
)
def test_the_rest_of_the_epoch_exactly_once(
    total: int,
    old: tuple[int, int, int],
    new: tuple[int, int, int],
    third: tuple[int, int, int],
    remainder: str,
    drop_last: bool,
    buffer: int,
    data: st.DataObject,
) -> None:
    order = _order(buffer)
    first = first_layout(total, old[0], old[2], drop_last, remainder)
    k = data.draw(st.integers(0, first.num_batches), label="batches before")
    seg0 = Segment(old[0], old[1], old[2], k)
    done = delivered(first, seg0, 0, order)
    rest = remaining(first, seg0, 0, order)
    used = first.used()
    # what was delivered: k batches on every rank, each position once
    assert len(done) == sum(sum(first.rank_sizes(r)[:k]) for r in range(old[0]))
    assert len(set(done.tolist())) == len(done)
    assert sorted([*done.tolist(), *rest.tolist()]) == sorted(used.tolist())
    later = segment_layout(
        total, [seg0], Segment(*new), drop_last=drop_last, remainder=remainder, order=order
    )
    assert later.world_size == new[0]
    per_rank = [later.rank_sizes(r) for r in range(new[0])]
    assert {len(s) for s in per_rank} == {later.num_batches}  # equal batch counts
    got = np.concatenate([later.rank_positions(r) for r in range(new[0])])
    if drop_last:
        assert all(s == new[2] for sizes in per_rank for s in sizes)
        assert set(got.tolist()) <= set(rest.tolist())
        assert len(rest) - len(got) < new[0] * new[2]  # fewer than a batch per rank dropped
    else:
        assert sorted(got.tolist()) == rest.tolist()  # the rest, exactly once
    # and again: a second resume within the same epoch, into a third world
    k2 = data.draw(st.integers(0, later.num_batches), label="batches in the second world")
    seg1 = Segment(*new, k2)
    done2 = delivered(later, seg1, 1, order)
    last = segment_layout(
        total, [seg0, seg1], Segment(*third), drop_last=drop_last, remainder=remainder, order=order
    )
    tail = np.concatenate([last.rank_positions(r) for r in range(third[0])])
    everything = Counter([*done.tolist(), *done2.tolist(), *tail.tolist()])
    assert max(everything.values(), default=1) == 1  # no position twice
    if not drop_last:
        assert sorted(everything) == sorted(used.tolist())  # none lost


def test_later_layout_balances_the_ranks() -> None:
    layout = later_layout(np.arange(10), 3, 4, drop_last=False)
    assert [layout.rank_sizes(r) for r in range(3)] == [(4,), (3,), (3,)]
    layout = later_layout(np.arange(9), 2, 4, drop_last=False)
    assert [layout.rank_sizes(r) for r in range(2)] == [(4, 1), (3, 1)]
    layout = later_layout(np.arange(1), 2, 4, drop_last=False)  # fewer samples than ranks
    assert [layout.rank_sizes(r) for r in range(2)] == [(1,), (0,)]


# -- the Loader, ranks simulated as World values in one process ------------------------------

SIZES = [13, 1, 7, 0, 9, 2, 5]  # 37 samples, deliberately uneven


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(tmp_path_factory.mktemp("elastic") / "set", SIZES)


def _loaders(root: Path, ranks: int, **opts: Any) -> list[Loader]:
    return [Loader(root, world=World(r, ranks), **opts) for r in range(ranks)]


def _take(loader: Loader, k: int) -> list[str]:
    keys: list[str] = []
    it = iter(loader)
    for _ in range(k):
        keys += next(it)["__key__"]
    return keys


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 3),
    m=st.integers(1, 3),
    bs=st.integers(1, 5),
    bs2=st.integers(1, 5),
    shuffle=st.booleans(),
    remainder=st.sampled_from(["drop", "wrap"]),
    data=st.data(),
)
def test_loader_resumes_on_another_world(
    root: Path,
    n: int,
    m: int,
    bs: int,
    bs2: int,
    shuffle: bool,
    remainder: str,
    data: st.DataObject,
) -> None:
    opts: dict[str, Any] = dict(shuffle=shuffle, remainder=remainder, buffer_size=6, seed=4)
    whole = [k for ld in _loaders(root, n, batch_size=bs, **opts) for b in ld for k in b["__key__"]]
    old = _loaders(root, n, batch_size=bs, **opts)
    k = data.draw(st.integers(0, max(0, len(old[0]) - 1)), label="batches before")
    before = [key for ld in old for key in _take(ld, k)]
    states = [ld.state_dict() for ld in old]
    assert all(s == states[0] for s in states)  # one state, whichever rank it is taken on
    assert len(json.dumps(states[0])) < 400
    new = _loaders(root, m, batch_size=bs2, **opts)
    for ld in new:
        ld.load_state_dict(states[0])
    assert len({len(ld) for ld in new}) == 1
    after_batches = [[list(b["__key__"]) for b in ld] for ld in new]
    assert len({len(b) for b in after_batches}) == 1  # the same number of batches on every rank
    after = [key for rank in after_batches for b in rank for key in b]
    if k == 0:  # nothing of the epoch was delivered: it is the new world's whole epoch
        whole = [
            key
            for ld in _loaders(root, m, batch_size=bs2, **opts)
            for b in ld
            for key in b["__key__"]
        ]
    assert Counter(before + after) == Counter(whole)  # nothing twice, nothing lost
    assert all(ld.epoch == 1 for ld in new)


def test_two_resumes_in_one_epoch_and_the_epoch_after(root: Path) -> None:
    opts: dict[str, Any] = dict(buffer_size=6, seed=9)
    whole = [k for ld in _loaders(root, 2, batch_size=3, **opts) for b in ld for k in b["__key__"]]
    first = _loaders(root, 2, batch_size=3, **opts)
    keys = [k for ld in first for k in _take(ld, 2)]
    second = _loaders(root, 3, batch_size=2, **opts)
    for ld in second:
        ld.load_state_dict(first[0].state_dict())
    keys += [k for ld in second for k in _take(ld, 2)]
    state = second[1].state_dict()
    assert [s["world_size"] for s in state["earlier"]] == [2] and state["world_size"] == 3
    third = _loaders(root, 1, batch_size=4, **opts)
    third[0].load_state_dict(state)
    keys += [k for b in third[0] for k in b["__key__"]]
    assert Counter(keys) == Counter(whole)
    # the next epoch is a whole epoch of the new world, the same as a fresh loader's
    fresh = Loader(root, batch_size=4, world=World(0, 1), **opts)
    fresh.set_epoch(1)
    assert [b["__key__"] for b in third[0]] == [b["__key__"] for b in fresh]


def test_a_state_from_the_end_of_an_epoch_then_the_next_in_the_new_world(root: Path) -> None:
    old = _loaders(root, 2, batch_size=3, buffer_size=6)
    for ld in old:
        list(_take(ld, len(ld)))
    new = Loader(root, batch_size=4, world=World(0, 3), buffer_size=6)
    new.load_state_dict(old[1].state_dict())
    assert list(new) == []  # nothing of the epoch is left
    fresh = Loader(root, batch_size=4, world=World(0, 3), buffer_size=6)
    fresh.set_epoch(1)
    assert [b["__key__"] for b in new] == [b["__key__"] for b in fresh]


def test_resuming_twice_from_one_state_gives_the_same_batches(root: Path) -> None:
    old = _loaders(root, 2, batch_size=3, buffer_size=6)
    for ld in old:
        _take(ld, 3)
    state = old[0].state_dict()
    runs = []
    for _ in range(2):
        ld = Loader(root, batch_size=3, world=World(0, 3), buffer_size=6)
        ld.load_state_dict(state)
        runs.append([b["__key__"] for b in ld])
    assert runs[0] == runs[1]


@pytest.mark.parametrize(("w", "v"), [(2, 1), (1, 2), (2, 0), (0, 2)])
def test_worker_processes_change(root: Path, w: int, v: int) -> None:
    opts: dict[str, Any] = dict(batch_size=3, world=World(0, 1), buffer_size=6, seed=2)
    whole = [k for b in Loader(root, num_workers=w, **opts) for k in b["__key__"]]
    old = Loader(root, num_workers=w, **opts)
    before = _take(old, 4)
    new = Loader(root, num_workers=v, **opts)
    new.load_state_dict(old.state_dict())
    after = [k for b in new for k in b["__key__"]]
    assert Counter(before + after) == Counter(whole)
    assert len(before) + len(after) == len(whole)
