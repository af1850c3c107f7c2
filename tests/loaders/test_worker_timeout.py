"""A worker that never answers costs at most ``worker_timeout``: its stack is printed, the
workers are stopped, :class:`WorkerTimeoutError` names it, and the next pass starts anew."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders import Loader, LoaderOptionError, WorkerTimeoutError, World
from visiondata.registry.errors import VisionDataError

from .loader_fakes import all_keys, make_shards

ONE = World(0, 1)


class HangOnKey:
    """A transform stuck on a lock that nobody releases, for one key while the flag file
    exists: the shape of a lock held across fork or a read that never returns. A class, so
    it travels to workers started by any method."""

    def __init__(self, key: str, flag: Path) -> None:
        self.key, self.flag = key, str(flag)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        if sample["__key__"] == self.key and Path(self.flag).exists():
            self.hang_on_key()
        return sample

    @staticmethod
    def hang_on_key() -> None:
        held = threading.Lock()
        held.acquire()
        held.acquire()  # never returns


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(tmp_path_factory.mktemp("stuck") / "set", [6, 6])


@pytest.mark.parametrize("persistent", [True, False])
def test_a_stuck_worker_is_named_printed_stopped_and_replaced(
    root: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], persistent: bool
) -> None:
    keys = all_keys(root)
    flag = tmp_path / "hang"
    flag.touch()
    hang = HangOnKey(sorted(keys)[5], flag)
    loader = Loader(
        root,
        batch_size=2,
        world=ONE,
        num_workers=2,
        threads_per_worker=1,
        persistent_workers=persistent,
        transform=hang,
        worker_timeout=3,
        # forked, so the workers' stderr is this test's (a forkserver's workers write to the
        # stderr the server started with); test_start_method.py covers the other methods
        multiprocessing_context="fork",
    )
    got: list[str] = []
    with pytest.raises(WorkerTimeoutError) as err:
        for batch in loader:
            got += batch["__key__"]
    msg = str(err.value)
    assert "(worker_timeout)" in msg and "sent no batch for 3 s" in msg
    assert "worker " in msg and "pid " in msg, msg
    assert isinstance(err.value, TimeoutError) and isinstance(err.value, VisionDataError)
    assert hang.key not in got
    # the stuck worker's stack, printed by faulthandler from inside it, names the transform
    assert "hang_on_key" in capfd.readouterr().err
    assert err.value.__suppress_context__  # one line: DataLoader's RuntimeError is not shown
    flag.unlink()  # the next pass runs on new workers, and the hang is gone
    again = [k for b in loader for k in b["__key__"]]
    assert sorted(again) == sorted(keys)


def test_worker_timeout_is_checked() -> None:
    with pytest.raises(LoaderOptionError, match=r"worker_timeout=0 is not valid"):
        Loader(["/nowhere-000000.tar"], batch_size=1, worker_timeout=0)
