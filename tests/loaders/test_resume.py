"""Resume: a state taken after any batch continues with exactly the remaining batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from visiondata.loaders import Loader, StateError, World

from .loader_fakes import all_keys, make_shards

SETS = {"uneven": [7, 3, 12, 1, 9], "one": [5], "gaps": [0, 6, 0, 4, 2]}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("resume")
    return {name: make_shards(base / name, sizes) for name, sizes in SETS.items()}


def keys_of(batches: Any) -> list[list[str]]:
    return [list(b["__key__"]) for b in batches]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(sorted(SETS)),
    batch_size=st.integers(1, 6),
    world_size=st.integers(1, 3),
    data=st.data(),
    shuffle=st.booleans(),
    buffer_size=st.integers(0, 8),
    drop_last=st.booleans(),
    remainder=st.sampled_from(["drop", "wrap"]),
    epoch=st.integers(0, 3),
    threads=st.sampled_from([(1, 1), (1, 3), (4, 2), (2, 1)]),
)
def test_resumable_at_every_step(
    roots: dict[str, Path],
    name: str,
    batch_size: int,
    world_size: int,
    data: st.DataObject,
    shuffle: bool,
    buffer_size: int,
    drop_last: bool,
    remainder: str,
    epoch: int,
    threads: tuple[int, int],
) -> None:
    """In one process, on ``threads[0]`` threads; resumed on ``threads[1]`` (the state does
    not depend on the thread count)."""
    rank = data.draw(st.integers(0, world_size - 1))
    opts: dict[str, Any] = dict(
        batch_size=batch_size,
        world=World(rank, world_size),
        shuffle=shuffle,
        buffer_size=buffer_size,
        drop_last=drop_last,
        remainder=remainder,
        seed=11,
    )
    full = Loader(roots[name], threads_per_worker=threads[0], **opts)
    full.set_epoch(epoch)
    states = []
    expected: list[list[str]] = []
    for batch in full:
        expected.append(list(batch["__key__"]))
        states.append(full.state_dict())
    assert len(expected) == len(Loader(roots[name], **opts))
    for k, state in enumerate(states):
        fresh = Loader(roots[name], threads_per_worker=threads[1], **opts)
        fresh.load_state_dict(state)
        fresh.set_epoch(epoch)  # same epoch: keeps the position
        assert keys_of(fresh) == expected[k + 1 :], f"resume after batch {k}"


@pytest.mark.parametrize(("num_workers", "threads"), [(1, 1), (2, 1), (1, 3), (2, 2)])
def test_resume_with_worker_processes(
    roots: dict[str, Path], num_workers: int, threads: int
) -> None:
    """Processes x threads: the same batches as one thread in each process, and a resume
    (on another thread count) continues exactly."""
    opts: dict[str, Any] = dict(
        batch_size=2, world=World(1, 2), buffer_size=4, num_workers=num_workers, seed=5
    )
    full = Loader(roots["uneven"], threads_per_worker=threads, **opts)
    reference = keys_of(Loader(roots["uneven"], threads_per_worker=1, **opts))
    states, expected = [], []
    for batch in full:
        expected.append(list(batch["__key__"]))
        states.append(full.state_dict())
    # against the manifest, not another run: 32 samples over 2 ranks, 16 each in 8 batches of
    # 2; with rank 0's share every key exactly once
    assert expected == reference  # threads change nothing
    assert [len(b) for b in expected] == [2] * 8
    other = keys_of(Loader(roots["uneven"], **{**opts, "world": World(0, 2)}))
    assert sorted(k for b in expected + other for k in b) == sorted(all_keys(roots["uneven"]))
    assert all(s["num_workers"] == num_workers for s in states)
    next_epoch = keys_of(full)
    for k in range(len(states)):  # every step, each with freshly started workers
        fresh = Loader(roots["uneven"], threads_per_worker=4 - threads, **opts)
        fresh.load_state_dict(states[k])
        assert keys_of(fresh) == expected[k + 1 :], f"resume after batch {k}"
        assert keys_of(fresh) == next_epoch  # and then the next epoch


def test_end_of_epoch_state(roots: dict[str, Path]) -> None:
    """A state taken during the last batch says so; loading it gives the epoch's empty rest,
    then the next epoch (a loop that counts epochs itself stays in step: Lightning's does)."""
    opts: dict[str, Any] = dict(batch_size=4, world=World(0, 1), seed=2)
    full = Loader(roots["uneven"], **opts)
    for _ in full:
        last = full.state_dict()
    assert (last["epoch"], last["batches"]) == (0, len(full))
    assert (full.state_dict()["epoch"], full.state_dict()["batches"]) == (1, 0)  # pass ended
    second = keys_of(full)
    fresh = Loader(roots["uneven"], **opts)
    fresh.load_state_dict(last)
    assert keys_of(fresh) == []  # the rest of epoch 0
    assert fresh.epoch == 1 and keys_of(fresh) == second
    named = Loader(roots["uneven"], **opts)
    named.load_state_dict(last)
    named.set_epoch(0)  # the state's epoch: keeps the position
    assert keys_of(named) == []
    named.set_epoch(1)
    assert keys_of(named) == second
    other = Loader(roots["uneven"], **opts)
    other.load_state_dict(last)
    other.set_epoch(1)  # another epoch: the state no longer applies
    assert keys_of(other) == second


def test_state_must_fit_the_loader(roots: dict[str, Path]) -> None:
    a = Loader(roots["uneven"], batch_size=4, world=World(0, 1))
    state = a.state_dict()
    with pytest.raises(StateError, match=r"seed: state has 0, loader has 1"):
        Loader(roots["uneven"], batch_size=4, world=World(0, 1), seed=1).load_state_dict(state)
    with pytest.raises(StateError, match="fingerprint"):
        Loader(roots["one"], batch_size=4, world=World(0, 1)).load_state_dict(state)
    with pytest.raises(StateError, match="fingerprint"):  # the order depends on buffer_size
        Loader(roots["uneven"], batch_size=4, world=World(0, 1), buffer_size=3).load_state_dict(
            state
        )
    with pytest.raises(StateError, match="version"):
        a.load_state_dict({**state, "version": 99})
    with pytest.raises(StateError, match=r"batches=-1 is not an integer in 0\.\."):
        a.load_state_dict({**state, "batches": -1})
    with pytest.raises(StateError, match=r"world_size=10000000000 is not an integer in 1\.\."):
        a.load_state_dict({**state, "world_size": 10**10})
    with pytest.raises(StateError, match=r"says 9 batches of epoch 0 were delivered.* has 8"):
        a.load_state_dict({**state, "batches": 9})
    with pytest.raises(StateError, match=r"earlier\[0\]: expected a dict with keys"):
        a.load_state_dict({**state, "earlier": [{"world_size": 2}]})
    with pytest.raises(StateError, match=r"missing \['earlier'\], unexpected \['rank'\]"):
        a.load_state_dict({**{k: v for k, v in state.items() if k != "earlier"}, "rank": 0})
    import json

    assert json.loads(json.dumps(state)) == state  # small and JSON-able
    # another batch size, worker count or world is not an error: it is an elastic resume
    Loader(roots["uneven"], batch_size=3, world=World(1, 2), num_workers=1).load_state_dict(state)


def test_version_1_states_still_load(roots: dict[str, Path]) -> None:
    opts: dict[str, Any] = dict(batch_size=4, world=World(1, 2), seed=2)
    full = Loader(roots["uneven"], **opts)
    it = iter(full)
    next(it)
    v2 = full.state_dict()
    rest = keys_of(it)
    # what version 1 wrote: per rank, and num_workers 1 where 0 was asked for
    v1 = {k: v for k, v in v2.items() if k != "earlier"} | {"version": 1, "rank": 1}
    v1["num_workers"] = 1
    old = Loader(roots["uneven"], **opts)
    old.load_state_dict(v1)
    assert keys_of(old) == rest
