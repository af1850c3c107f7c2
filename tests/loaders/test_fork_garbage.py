"""A forked worker never frees the training process's garbage: the objects it inherited are
frozen out of its collector, so their finalisers run once, in the process that owns them (in
CI, a worker freeing objects it had inherited from the test process died of SIGSEGV)."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders import Loader, World

from .loader_fakes import all_keys, make_shards


class Owned:
    """A reference cycle (only the collector frees it) whose finaliser logs the pid it ran
    in: a stand-in for an object whose resources belong to this process."""

    def __init__(self, log: Path) -> None:
        self.log, self.me = log, self

    def __del__(self) -> None:
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")


def collect(sample: dict[str, Any]) -> dict[str, Any]:
    gc.collect()  # in the worker, as an allocation-heavy transform makes it happen
    return sample


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(tmp_path_factory.mktemp("garbage") / "set", [4, 4])


@pytest.mark.parametrize("persistent", [True, False])
def test_garbage_of_this_process_is_freed_here_once(
    root: Path, tmp_path: Path, persistent: bool
) -> None:
    log = tmp_path / "freed"
    loader = Loader(
        root,
        batch_size=2,
        world=World(0, 1),
        num_workers=2,
        persistent_workers=persistent,
        transform=collect,
        multiprocessing_context="fork",
    )
    frozen = gc.get_freeze_count()
    gc.disable()  # the cycle is still uncollected garbage when the workers are forked
    try:
        Owned(log)
        keys = [k for b in loader for k in b["__key__"]]
    finally:
        gc.enable()
    assert sorted(keys) == sorted(all_keys(root))
    assert gc.get_freeze_count() == frozen  # nothing left frozen here
    assert not log.exists()  # not freed in a worker
    gc.collect()
    assert log.read_text().split() == [str(os.getpid())]  # freed here, once
