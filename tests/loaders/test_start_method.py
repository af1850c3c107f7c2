"""How worker processes start (``multiprocessing_context``): every method delivers the same
batches; a lock held by another thread at fork time hangs a forked worker (bounded by
``worker_timeout``) and not one from a forkserver; what cannot be pickled is one line."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders import Loader, LoaderOptionError, WorkerTimeoutError, World
from visiondata.loaders._stream import loader as loader_module

from .loader_fakes import all_keys, make_shards

ONE = World(0, 1)
METHODS = [
    m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()
]

#: held by a thread of the main process for the length of a test: a forked worker inherits it
#: held (by a thread it does not have); a worker from a forkserver imports this module afresh
_LOCK = threading.Lock()


def through_the_lock(sample: dict[str, Any]) -> dict[str, Any]:
    """A transform that takes a module-level lock, as logging, a cache or a client library
    does."""
    with _LOCK:
        return sample


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(tmp_path_factory.mktemp("start") / "set", [5, 7, 4])


def _keys(loader: Loader) -> list[str]:
    return [k for batch in loader for k in batch["__key__"]]


def _through_the_lock(root: Path, method: str, **kw: Any) -> Loader:
    opts: dict[str, Any] = {"batch_size": 3, "world": ONE, "num_workers": 2, **kw}
    return Loader(root, multiprocessing_context=method, transform=through_the_lock, **opts)


def _two_epochs(root: Path, method: str) -> tuple[Loader, list[list[str]]]:
    loader = _through_the_lock(root, method, seed=4)
    return loader, [_keys(loader), _keys(loader)]  # persistent workers, epoch 0 then 1


@pytest.mark.parametrize("method", METHODS)
def test_every_start_method_delivers_the_same_epochs(root: Path, method: str) -> None:
    loader, epochs = _two_epochs(root, method)
    _, reference = _two_epochs(root, METHODS[0])
    assert epochs == reference
    assert sorted(epochs[0]) == sorted(epochs[1]) == sorted(all_keys(root))
    assert epochs[0] != epochs[1]  # each epoch its own shuffle
    assert loader.stats.samples == 2 * len(all_keys(root))


@contextlib.contextmanager
def _lock_held() -> Iterator[None]:
    """``_LOCK`` held by a thread of its own for the length of the block."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _LOCK:
            taken.set()
            release.wait(60)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(5)
    try:
        yield
    finally:
        release.set()
        thread.join(5)


@pytest.mark.skipif("fork" not in METHODS, reason="this platform has no fork")
def test_a_lock_held_at_fork_hangs_a_forked_worker_for_worker_timeout_only(root: Path) -> None:
    with _lock_held():
        loader = _through_the_lock(root, "fork", num_workers=1, worker_timeout=2)
        with pytest.raises(WorkerTimeoutError, match=r"worker 0 \(pid \d+\) sent no batch for 2 s"):
            _keys(loader)


@pytest.mark.skipif("forkserver" not in METHODS, reason="this platform has no forkserver")
def test_a_lock_held_by_a_thread_does_not_reach_forkserver_workers(root: Path) -> None:
    with _lock_held():
        loader = _through_the_lock(root, "forkserver", worker_timeout=30)
        assert sorted(_keys(loader)) == sorted(all_keys(root))


@pytest.mark.parametrize("method", [m for m in METHODS if m != "fork"])
def test_what_cannot_be_pickled_is_one_line_that_names_fork(root: Path, method: str) -> None:
    loader = Loader(
        root,
        batch_size=3,
        world=ONE,
        num_workers=2,
        multiprocessing_context=method,
        transform=lambda s: s,
    )
    with pytest.raises(LoaderOptionError) as err:
        next(iter(loader))
    msg = str(err.value)
    assert "\n" not in msg
    assert f"multiprocessing_context={method!r} sends the transform" in msg
    assert "Can't pickle local object" in msg and "<lambda>" in msg
    assert "multiprocessing_context='fork'" in msg
    assert loader._dataloader is None  # nothing half-started is kept; a fixed loader runs
    if "fork" in METHODS:
        forked = Loader(
            root,
            batch_size=3,
            world=ONE,
            num_workers=2,
            multiprocessing_context="fork",
            transform=lambda s: s,
        )
        assert sorted(_keys(forked)) == sorted(all_keys(root))


def test_the_start_method_is_checked(root: Path) -> None:
    with pytest.raises(
        LoaderOptionError,
        match=r"multiprocessing_context='threads' is not valid\. Valid values: 'fork'",
    ):
        Loader(root, batch_size=3, num_workers=2, multiprocessing_context="threads")
    with pytest.raises(
        LoaderOptionError, match=r"multiprocessing_context='spawn' needs num_workers > 0"
    ):
        Loader(root, batch_size=3, multiprocessing_context="spawn")


@pytest.mark.skipif("forkserver" not in METHODS, reason="this platform has no forkserver")
def test_a_forkserver_preloads_torch_and_the_loader_and_keeps_what_was_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from multiprocessing import forkserver

    server = forkserver._forkserver  # as if not started yet, with the user's own preload list
    monkeypatch.setattr(server, "_forkserver_pid", None)
    monkeypatch.setattr(server, "_preload_modules", ["__main__", "json"])
    loader_module.worker_context("forkserver")
    assert server._preload_modules == ["__main__", "json", *loader_module.FORKSERVER_PRELOAD]
    monkeypatch.setattr(server, "_forkserver_pid", 12345)  # running: its list is left alone
    loader_module.worker_context("forkserver")
    assert server._preload_modules == ["__main__", "json", *loader_module.FORKSERVER_PRELOAD]
    assert loader_module.worker_context(None) is None  # DataLoader's default
