"""A worker that dies (a crash in C code, an exit) is reported at once, whichever epoch it was
working on and whoever holds SIGCHLD: :class:`WorkerDiedError` names the worker, its pid and
how it ended, the crash prints the worker's Python stacks, and the next pass starts anew."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders import Loader, WorkerDiedError, WorkerTimeoutError, World
from visiondata.loaders._stream.loader import _how_it_ended

from .loader_fakes import all_keys, make_shards

ONE = World(0, 1)


class DieOnKey:
    """The ``nth`` time any worker meets ``key`` (counted in the ``tally`` file, which every
    process shares): wait for the test to make the ``go`` file, then, 0.2 s on (the main
    process is by then waiting for this worker's batch), read address 0 (a real segmentation
    fault in C code, as a broken decoder gives) or leave with ``os._exit(code)``."""

    def __init__(self, key: str, tmp: Path, nth: int = 1, code: int | None = None) -> None:
        self.key, self.nth, self.code = key, nth, code
        self.tally, self.go = str(tmp / "tally"), str(tmp / "go")

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        if sample["__key__"] == self.key:
            with open(self.tally, "a+") as f:
                f.write("x")
                f.seek(0)
                seen = len(f.read())
            if seen == self.nth:
                for _ in range(6000):
                    if os.path.exists(self.go):
                        break
                    time.sleep(0.01)
                time.sleep(0.2)
                if self.code is None:
                    self.crash_in_c()
                os._exit(self.code)
        return sample

    @staticmethod
    def crash_in_c() -> None:
        ctypes.string_at(0)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(tmp_path_factory.mktemp("died") / "set", [10, 10])


@pytest.fixture()
def sigchld_taken() -> Iterator[None]:
    """Something else in the process (a library, a test harness) took SIGCHLD after the first
    DataLoader set its handler: torch does not set it again, so it never hears of the death."""
    before = signal.getsignal(signal.SIGCHLD)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGCHLD, before)


def _loader(root: Path, die: DieOnKey | None, **kw: Any) -> Loader:
    return Loader(
        root,
        batch_size=2,
        world=ONE,
        num_workers=2,
        transform=die,
        worker_timeout=120,  # were the death missed, the error would be WorkerTimeoutError
        multiprocessing_context="fork",  # the workers' stderr is this test's
        **kw,
    )


def _batches(loader: Loader) -> list[list[str]]:
    return [list(b["__key__"]) for b in loader]


@pytest.mark.parametrize("taken", [False, True], ids=["torch-handler", "sigchld-taken"])
@pytest.mark.parametrize("epoch", [0, 1], ids=["this-epoch", "made-ahead"])
def test_a_crashed_worker_is_named_with_its_stack_and_replaced(
    root: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    taken: bool,
    epoch: int,
) -> None:
    keys = sorted(all_keys(root))
    same = _loader(root, None)  # the same order, nothing dies
    firsts = [_batches(same)[0][0] for _ in range(2)]
    # the first key of the epoch: its worker owes the first batch, so the main process is
    # waiting for it when the worker dies. Epoch 1: in the work the persistent workers start
    # as soon as epoch 0's last batches are out, before the next iter().
    die = DieOnKey(firsts[epoch], tmp_path, nth=epoch + 1)
    loader = _loader(root, die)
    if taken:
        request.getfixturevalue("sigchld_taken")
    if epoch == 1:
        assert sorted(k for b in _batches(loader) for k in b) == keys
    (tmp_path / "go").touch()
    with pytest.raises(WorkerDiedError) as err:
        _batches(loader)
    msg = str(err.value)
    assert f"at batch 0 of epoch {epoch};" in msg, msg
    assert "was killed by signal SIGSEGV (Segmentation fault)" in msg, msg
    assert msg.startswith("worker ") and " (pid " in msg, msg
    assert isinstance(err.value, RuntimeError)
    assert not isinstance(err.value, WorkerTimeoutError)
    assert err.value.__suppress_context__  # one line: DataLoader's RuntimeError is not shown
    stderr = capfd.readouterr().err
    assert "Fatal Python error: Segmentation fault" in stderr
    assert "crash_in_c" in stderr  # the crashing thread's Python stack, from the worker
    # the next pass runs on new workers (and the key does not crash a second time)
    assert sorted(k for b in _batches(loader) for k in b) == keys


def test_a_worker_that_exits_is_named_with_its_code(root: Path, tmp_path: Path) -> None:
    keys = sorted(all_keys(root))
    first = _batches(_loader(root, None, persistent_workers=False))[0][0]
    loader = _loader(root, DieOnKey(first, tmp_path, code=3), persistent_workers=False)
    (tmp_path / "go").touch()
    with pytest.raises(WorkerDiedError, match=r"^worker \d \(pid \d+\) exited with code 3 at "):
        _batches(loader)
    assert sorted(k for b in _batches(loader) for k in b) == keys


def test_how_a_process_ended_in_words() -> None:
    assert _how_it_ended(0) == "exited with code 0"
    assert _how_it_ended(-9) == "was killed by signal SIGKILL (Killed)"
    assert _how_it_ended(-200) == "was killed by signal 200"
