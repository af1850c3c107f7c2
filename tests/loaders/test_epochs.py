"""Epochs as PyTorch users expect (DataLoader + DistributedSampler, torchdata's
StatefulDataLoader), workers that persist across epochs and resumes, collate_fn."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import default_collate
from visiondata.loaders import Loader, LoaderError, LoaderOptionError, World

from .loader_fakes import all_keys, make_shards

ONE = World(0, 1)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(tmp_path_factory.mktemp("epochs") / "set", [7, 3, 12, 1, 9])


def keys_of(batches: Any) -> list[list[str]]:
    return [list(b["__key__"]) for b in batches]


def flat(batches: list[list[str]]) -> list[str]:
    return [k for b in batches for k in b]


@pytest.mark.parametrize(("num_workers", "threads"), [(0, 1), (0, 2), (2, 1), (2, 2)])
def test_iter_starts_the_epoch_from_its_beginning(
    root: Path, num_workers: int, threads: int
) -> None:
    opts: dict[str, Any] = dict(
        batch_size=4, world=ONE, seed=3, num_workers=num_workers, threads_per_worker=threads
    )
    epoch0 = keys_of(Loader(root, **opts))
    loader = Loader(root, **opts)
    peek = next(iter(loader))  # the README's way to look at a batch
    assert list(peek["__key__"]) == epoch0[0]
    assert loader.state_dict()["batches"] == 1
    assert keys_of(loader) == epoch0  # the peek did not shorten the epoch
    assert loader.epoch == 1  # a complete pass moves on by itself
    partial = []
    for i, batch in enumerate(loader):  # epoch 1, interrupted
        partial.append(list(batch["__key__"]))
        if i == 1:
            break
    epoch1 = keys_of(loader)  # iter() again: epoch 1 from its beginning
    assert epoch1[:2] == partial and len(epoch1) == len(epoch0)
    assert sorted(flat(epoch1)) == sorted(flat(epoch0)) and epoch1 != epoch0
    assert loader.epoch == 2


def test_set_epoch_chooses_the_shuffle(root: Path) -> None:
    a = Loader(root, batch_size=4, world=ONE, seed=3)
    b = Loader(root, batch_size=4, world=ONE, seed=3)
    a.set_epoch(5)
    for _ in range(5):
        keys_of(b)  # b reaches epoch 5 by completing five passes
    assert b.epoch == 5
    assert keys_of(a) == keys_of(b)
    a.set_epoch(5)  # named again: epoch 5 again, from its beginning
    b.set_epoch(5)
    assert keys_of(a) == keys_of(b)


def test_load_state_dict_resumes_the_next_iter_only(root: Path) -> None:
    opts: dict[str, Any] = dict(batch_size=4, world=ONE, seed=3)
    full = keys_of(Loader(root, **opts))
    src = Loader(root, **opts)
    it = iter(src)
    next(it), next(it)
    state = src.state_dict()
    dst = Loader(root, **opts)
    dst.load_state_dict(state)
    assert dst.state_dict() == state  # before iterating: the loaded position
    assert len(dst) == len(full)
    assert keys_of(dst) == full[2:]  # right after load_state_dict: mid-epoch
    assert dst.epoch == 1
    dst.load_state_dict(state)
    dst.set_epoch(0)  # the state's epoch keeps the position
    assert keys_of(dst) == full[2:]
    dst.load_state_dict(state)
    dst.set_epoch(3)  # another epoch drops it
    assert len(flat(keys_of(dst))) == len(flat(full))


def test_a_newer_iter_ends_the_older_one(root: Path) -> None:
    loader = Loader(root, batch_size=4, world=ONE)
    old = iter(loader)
    next(old)
    new = iter(loader)
    next(new)
    with pytest.raises(LoaderError, match="ended by a newer iter"):
        next(old)
    assert len(keys_of(new)) == len(loader) - 1
    live = iter(loader)
    state = loader.state_dict()
    next(live)
    loader.load_state_dict(state)  # a state loaded mid-pass ends the pass
    with pytest.raises(LoaderError, match="load_state_dict"):
        next(live)
    live = iter(loader)
    next(live)
    loader.set_epoch(4)
    with pytest.raises(LoaderError, match="set_epoch"):
        next(live)


def _pid_transform(sample: dict[str, Any]) -> dict[str, Any]:
    sample["pid"] = os.getpid()
    return sample


def _pids(batches: list[dict[str, Any]]) -> set[int]:
    return {p for b in batches for p in b["pid"].tolist()}


def test_persistent_workers_live_across_epochs_and_resumes(root: Path) -> None:
    opts: dict[str, Any] = dict(
        batch_size=4, world=ONE, seed=3, num_workers=2, transform=_pid_transform
    )
    loader = Loader(root, **opts)
    assert loader.persistent_workers  # the default with workers
    first = list(loader)
    second = list(loader)
    assert len(_pids(first)) == 2 and _pids(first) == _pids(second)
    assert os.getpid() not in _pids(first)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    rest = keys_of(it)
    loader.load_state_dict(state)  # a resume in the same loader: the same processes again
    resumed = list(loader)
    assert keys_of(resumed) == rest and _pids(resumed) <= _pids(first)
    fresh = Loader(root, **{**opts, "persistent_workers": False})
    one, two = list(fresh), list(fresh)
    assert _pids(one).isdisjoint(_pids(two))  # new processes every epoch without them
    assert keys_of(one) == keys_of(first) and keys_of(two) == keys_of(second)


class _Made:
    """A transform that appends each sample's key to a file: what the workers (other
    processes) made, whether or not it was delivered."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        with open(self.path, "a") as f:
            f.write(sample["__key__"] + "\n")
        return sample

    def count(self) -> int:
        return len(self.path.read_text().splitlines()) if self.path.exists() else 0


def _wait_for(condition: Any, what: str) -> None:
    """A bounded wait for a condition (not a timing assertion: only its bound is fixed)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_persistent_workers_start_the_next_epoch_before_it_is_asked_for(
    root: Path, tmp_path: Path
) -> None:
    """Once an epoch's last tickets are out, persistent workers go on into the next epoch, so
    the next iter() finds its first batches made; what they made ahead and was not taken
    (another epoch chosen, a resume, a broken-off pass) is dropped, never delivered or
    counted."""
    opts: dict[str, Any] = dict(batch_size=4, world=ONE, seed=3, num_workers=2)
    reference = Loader(root, persistent_workers=False, **opts)
    epochs = [keys_of(reference) for _ in range(5)]  # epochs 0-4, workers new each pass
    made = _Made(tmp_path / "made")
    loader = Loader(root, transform=made, **opts)
    n = len(flat(epochs[0]))
    assert keys_of(loader) == epochs[0]
    _wait_for(lambda: made.count() > n, "the workers made nothing of epoch 1 before iter()")
    assert keys_of(loader) == epochs[1]  # taken as it was made ahead
    _wait_for(lambda: made.count() > 2 * n, "nothing of epoch 2 was made ahead")
    loader.set_epoch(4)  # not the epoch made ahead: dropped
    assert keys_of(loader) == epochs[4]
    loader.set_epoch(2)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    it.close()  # broken off: the next iter() starts epoch 2 again, as without run-ahead
    assert keys_of(loader) == epochs[2]
    loader.load_state_dict(state)  # a resume: the rest of epoch 2 after its first batch
    assert keys_of(loader) == epochs[2][1:]
    assert keys_of(loader) == epochs[3]  # and on into epoch 3, as made ahead
    # delivered only: epochs 0, 1, 4, 2's first batch, 2, the rest of 2, 3
    assert loader.stats.samples == 6 * n
    assert loader.stats.batches == 6 * len(epochs[0])


def pairs(samples: list[dict[str, Any]]) -> tuple[list[str], torch.Tensor]:
    """A collate_fn: the keys and a tensor of the labels (module level: workers started by a
    forkserver get it by pickle)."""
    return [s["__key__"] for s in samples], torch.tensor([s["cls"] for s in samples])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_collate_fn_as_in_dataloader(root: Path, num_workers: int) -> None:
    loader = Loader(
        root, batch_size=5, world=ONE, num_workers=num_workers, collate_fn=pairs, seed=1
    )
    got = list(loader)
    assert sorted(k for keys, _ in got for k in keys) == all_keys(root)
    assert all(isinstance(c, torch.Tensor) and len(c) == len(k) for k, c in got)
    assert loader.stats.samples == len(all_keys(root)) and loader.stats.batches == len(got)
    torch_default = Loader(
        root, batch_size=5, world=ONE, num_workers=num_workers, collate_fn=default_collate, seed=1
    )
    batch = next(iter(torch_default))
    assert batch["__key__"] == got[0][0] and torch.equal(batch["cls"], got[0][1])


def test_state_reports_the_worker_count_asked_for(root: Path) -> None:
    assert Loader(root, batch_size=4, world=ONE).state_dict()["num_workers"] == 0
    assert Loader(root, batch_size=4, world=ONE, num_workers=3).state_dict()["num_workers"] == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"persistent_workers": True}, r"persistent_workers=True needs num_workers > 0"),
        ({"prefetch_factor": 4}, r"prefetch_factor=4 needs num_workers > 0"),
        ({"num_workers": 2, "prefetch_factor": 0}, r"prefetch_factor=0 .*integer >= 1"),
        ({"num_workers": 2, "persistent_workers": "yes"}, r"persistent_workers='yes'.*True or"),
        ({"collate_fn": "stack"}, r"collate_fn must be a function"),
        ({"colate_fn": len}, r"'colate_fn' \(did you mean 'collate_fn'\?\)"),
    ],
)
def test_options_are_checked(root: Path, options: dict[str, Any], message: str) -> None:
    with pytest.raises(LoaderOptionError, match=message):
        Loader(root, batch_size=4, world=ONE, **options)
