"""Resume: a state taken after any batch continues with exactly the remaining batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from visiondata.loaders import Loader, StateError, World

from .loader_fakes import make_shards

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
) -> None:
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
    full = Loader(roots[name], **opts)
    full.set_epoch(epoch)
    states = []
    expected: list[list[str]] = []
    for batch in full:
        expected.append(list(batch["__key__"]))
        states.append(full.state_dict())
    assert len(expected) == len(Loader(roots[name], **opts))
    for k, state in enumerate(states):
        fresh = Loader(roots[name], **opts)
        fresh.load_state_dict(state)
        fresh.set_epoch(epoch)  # same epoch: keeps the position
        assert keys_of(fresh) == expected[k + 1 :], f"resume after batch {k}"


@pytest.mark.parametrize("num_workers", [1, 2])
def test_resume_with_worker_processes(roots: dict[str, Path], num_workers: int) -> None:
    opts: dict[str, Any] = dict(
        batch_size=2, world=World(1, 2), buffer_size=4, num_workers=num_workers, seed=5
    )
    full = Loader(roots["uneven"], **opts)
    reference = keys_of(Loader(roots["uneven"], **{**opts, "num_workers": num_workers}))
    states, expected = [], []
    for batch in full:
        expected.append(list(batch["__key__"]))
        states.append(full.state_dict())
    assert expected == reference
    for k in range(len(states)):  # every step, each with freshly started workers
        fresh = Loader(roots["uneven"], **opts)
        fresh.load_state_dict(states[k])
        assert keys_of(fresh) == expected[k + 1 :], f"resume after batch {k}"


def test_interrupted_iteration_continues_and_epochs_advance(roots: dict[str, Path]) -> None:
    loader = Loader(roots["uneven"], batch_size=4, world=World(0, 1), seed=2)
    whole = keys_of(Loader(roots["uneven"], batch_size=4, world=World(0, 1), seed=2))
    got = []
    for i, batch in enumerate(loader):
        got.append(list(batch["__key__"]))
        if i == 2:
            break
    assert loader.state_dict()["batches"] == 3
    got += keys_of(loader)  # picks up where it stopped
    assert got == whole
    assert loader.epoch == 1
    second = keys_of(loader)
    assert sorted(k for b in second for k in b) == sorted(k for b in whole for k in b)
    assert second != whole  # a new epoch, a new order


def test_state_must_fit_the_loader(roots: dict[str, Path]) -> None:
    a = Loader(roots["uneven"], batch_size=4, world=World(0, 1))
    state = a.state_dict()
    with pytest.raises(StateError, match=r"batch_size: state has 4, loader has 3"):
        Loader(roots["uneven"], batch_size=3, world=World(0, 1)).load_state_dict(state)
    with pytest.raises(StateError, match="num_workers"):
        Loader(roots["uneven"], batch_size=4, world=World(0, 1), num_workers=2).load_state_dict(
            state
        )
    with pytest.raises(StateError, match="fingerprint"):
        Loader(roots["one"], batch_size=4, world=World(0, 1)).load_state_dict(state)
    with pytest.raises(StateError, match="version"):
        a.load_state_dict({**state, "version": 99})
    import json

    assert json.loads(json.dumps(state)) == state  # small and JSON-able
