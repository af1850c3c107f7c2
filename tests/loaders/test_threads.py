"""OrderedPool: per-sample work on threads, outcomes in input order, a bounded window; and
through the Loader, the same samples and random draws on any processes x threads."""

from __future__ import annotations

import gc
import multiprocessing
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from visiondata.loaders import Loader, LoaderOptionError, RandomResizedCrop, World
from visiondata.loaders._stream import loader as loader_module
from visiondata.loaders._stream.threads import OrderedPool, default_threads

from .loader_fakes import REALDATA, make_shards


def _slow_square(x: int) -> int:
    time.sleep(random.Random(x).uniform(0, 0.004))
    if x % 7 == 3:
        raise KeyError(f"item {x}")
    return x * x


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_outcomes_come_in_input_order_with_errors_in_place(threads: int) -> None:
    with OrderedPool(threads) as pool:
        got = []
        for i, out in enumerate(pool.map(_slow_square, range(60))):
            if i % 7 == 3:
                with pytest.raises(KeyError, match=f"item {i}"):
                    out.get()
            else:
                got.append(out.get())
    assert got == [x * x for x in range(60) if x % 7 != 3]


def test_items_are_drawn_in_the_consuming_thread_within_the_window() -> None:
    consumer = threading.get_ident()
    drawn: list[int] = []
    consumed = 0

    def items() -> Iterator[int]:
        for i in range(40):
            assert threading.get_ident() == consumer  # the reader never runs on a pool thread
            assert i - consumed <= 5  # at most `window` drawn and not yet consumed
            drawn.append(i)
            yield i

    with OrderedPool(3, window=5) as pool:
        for out in pool.map(lambda x: x + 1, items()):
            out.get()
            consumed += 1
    assert drawn == list(range(40)) and consumed == 40


def test_one_thread_runs_inline() -> None:
    seen = set()
    with OrderedPool(1) as pool:
        for out in pool.map(lambda x: seen.add(threading.get_ident()) or x, range(10)):
            out.get()
    assert seen == {threading.get_ident()}
    assert pool._pool is None


def test_closing_early_waits_for_started_work_and_cancels_the_rest() -> None:
    running = threading.Event()
    finished: list[int] = []

    def work(x: int) -> int:
        running.set()
        time.sleep(0.01)
        finished.append(x)
        return x

    pool = OrderedPool(2, window=8)
    gen = pool.map(work, range(100))
    next(gen).get()
    gen.close()  # e.g. on_error="raise" stopped the batch loop
    done = len(finished)
    time.sleep(0.05)
    assert len(finished) == done < 100  # nothing still running after close() returned
    pool.close()


@pytest.mark.parametrize("threads", [1, 3])
def test_a_failing_source_comes_after_the_work_already_drawn(threads: int) -> None:
    """The reader failing at item 10 (a shard gone): outcomes 0-9 first, as serially."""

    def items() -> Iterator[int]:
        yield from range(10)
        raise OSError("shard vanished")

    got = []
    with OrderedPool(threads, window=6) as pool, pytest.raises(OSError, match="vanished"):
        for out in pool.map(lambda x: x * 2, items()):
            got.append(out.get())
    assert got == [x * 2 for x in range(10)]


def test_pool_threads_use_one_torch_thread_and_leave_the_caller_alone() -> None:
    before = torch.get_num_threads()
    with OrderedPool(2) as pool:
        counts = {out.get() for out in pool.map(lambda _: torch.get_num_threads(), range(8))}
    assert counts == {1}
    assert torch.get_num_threads() == before


def test_bad_thread_count_is_refused() -> None:
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        OrderedPool(0)
    assert default_threads() >= 1


# -- through the Loader: processes x threads -------------------------------------------------


def _jpeg_members(i: int, key: str) -> dict[str, bytes]:
    jpgs = sorted((REALDATA / "coco" / "val2017").glob("*.jpg"))
    return {"jpg": jpgs[i % len(jpgs)].read_bytes(), "cls": str(i % 3).encode()}


class _Jitter:
    """A user transform drawing from the per-sample generator the loader hands it."""

    takes_rng = True

    def __call__(self, sample: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        sample["shift"] = rng.randrange(1000)
        return sample


@pytest.fixture(scope="module")
def jpeg_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(tmp_path_factory.mktemp("threads"), [9, 7, 8], members=_jpeg_members)


def _by_key(loader: Loader) -> dict[str, tuple[torch.Tensor, int, int]]:
    out = {}
    for batch in loader:
        for j, key in enumerate(batch["__key__"]):
            out[key] = (batch["jpg"][j].clone(), int(batch["cls"][j]), int(batch["shift"][j]))
    return out


@pytest.mark.parametrize(("num_workers", "threads"), [(0, 3), (1, 2), (2, 2)])
def test_per_sample_randomness_is_the_same_on_any_threads(
    jpeg_root: Path, num_workers: int, threads: int
) -> None:
    """The crops (decoder) and the user transform's draws depend on seed, epoch and key only:
    pixel for pixel the same as one thread in one process."""
    opts: dict[str, Any] = dict(
        batch_size=4,
        world=World(0, 1),
        seed=9,
        decode={"jpg": RandomResizedCrop((48, 64)), "cls": "cls"},
        fields=["jpg", "cls"],
        transform=_Jitter(),
    )
    serial = Loader(jpeg_root, threads_per_worker=1, **opts)
    reference = _by_key(serial)
    got = _by_key(Loader(jpeg_root, num_workers=num_workers, threads_per_worker=threads, **opts))
    assert sorted(got) == sorted(reference) and len(got) == 24
    for key, (img, cls, shift) in reference.items():
        assert torch.equal(got[key][0], img), key
        assert got[key][1:] == (cls, shift), key


def test_threads_per_worker_default_and_check(jpeg_root: Path) -> None:
    assert Loader(jpeg_root, batch_size=2).plan.threads == default_threads()
    two = Loader(jpeg_root, batch_size=2, num_workers=2)
    assert two.plan.threads == max(1, default_threads() // 2)
    assert Loader(jpeg_root, batch_size=2, threads_per_worker=3).plan.threads == 3
    with pytest.raises(LoaderOptionError, match=r"threads_per_worker=0 .*integer >= 1"):
        Loader(jpeg_root, batch_size=2, threads_per_worker=0)


@pytest.mark.parametrize(
    ("cores", "workers", "threads"),
    [(2, 0, 2), (2, 1, 2), (2, 2, 1), (2, 4, 1), (8, 2, 4), (8, 3, 2), (1, 0, 1), (16, 0, 16)],
)
def test_default_threads_share_the_cores_among_the_processes_making_batches(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, threads: int
) -> None:
    monkeypatch.setattr(loader_module, "default_threads", lambda: cores)
    assert loader_module.threads_for(workers, None) == threads
    assert loader_module.threads_for(workers, 3) == 3  # as given, whatever the cores


def test_a_transform_on_threads_runs_on_the_pool(jpeg_root: Path) -> None:
    """threads_per_worker > 1: the user transform runs on the pool's threads (so it must be
    thread-safe); 1: on the iterating thread."""
    seen: set[str] = set()

    def where(sample: dict[str, Any]) -> dict[str, Any]:
        seen.add(threading.current_thread().name)
        return sample

    list(Loader(jpeg_root, batch_size=4, fields=["cls"], transform=where, threads_per_worker=2))
    assert seen and all(n.startswith("visiondata-decode") for n in seen)
    seen.clear()
    list(Loader(jpeg_root, batch_size=4, fields=["cls"], transform=where, threads_per_worker=1))
    assert seen == {threading.current_thread().name}


def test_a_loader_left_mid_epoch_exits_quietly(jpeg_root: Path) -> None:
    """A batch taken and then the end of the program: the suspended stream is closed
    at interpreter exit, its threads stopped, without 'Exception ignored' on stderr."""
    code = (
        "import torch\n"
        "from visiondata.loaders import Loader, RandomResizedCrop\n"
        f"loader = Loader({str(jpeg_root)!r}, batch_size=2, threads_per_worker=2,\n"
        "    fields=['jpg', 'cls'], decode={'jpg': RandomResizedCrop((32, 32)), 'cls': 'cls'})\n"
        "it = iter(loader)\n"  # held to the end, so closed during interpreter exit
        "next(it)\n"
        "for i, batch in enumerate(it):\n"
        "    if i == 1:\n"
        "        break\n"
        "print(len(batch['__key__']))\n"
    )
    assert _run_bounded(code, timeout=120).strip() == "2"


def _fail_holding(loader: Loader) -> BaseException:
    error = RuntimeError("a training step failed")
    try:
        raise error
    except RuntimeError:
        return error  # error -> its traceback -> this frame -> error, and the loader


@pytest.mark.parametrize("how", ["cycle", "raised"])
def test_a_loader_freed_by_the_garbage_collector_stops_its_workers_at_once(
    how: str, jpeg_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Loader with workers dropped inside a reference cycle (a trainer's, or an error's
    traceback) is freed by the collector: each worker answers the stop message, none is
    left to the join timeout (5 s each in torch) and killed."""
    outlived: list[object] = []
    join = multiprocessing.process.BaseProcess.join

    def watched(self: Any, timeout: float | None = None) -> None:
        join(self, timeout)
        if self.is_alive():  # the join timed out: the stop message never came
            outlived.append(self)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "join", watched)
    loader = Loader(str(jpeg_root), batch_size=2, num_workers=2, fields=["cls"])
    it = iter(loader)
    next(it)
    workers = list(loader._dataloader._iterator._workers)  # type: ignore[union-attr]
    if how == "cycle":
        loader.me = loader  # type: ignore[attr-defined]
    else:
        _fail_holding(loader)
    del it, loader
    gc.collect()
    assert [w.is_alive() for w in workers] == [False, False]
    assert outlived == []


def _run_bounded(code: str, timeout: float = 60) -> str:
    """``code`` in a fresh interpreter, bounded: a deadlock fails the test instead of
    holding it (and this process's exit, which joins pool threads) for ever."""
    import subprocess
    import sys

    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"deadlocked; it printed {exc.stdout!r} {exc.stderr!r}") from None
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_a_stream_closed_on_its_own_pool_thread_does_not_wait_for_itself() -> None:
    """The garbage collector closes a suspended stream on whichever thread it runs: here the
    pool thread running one of the stream's own items. Waiting for that item there would wait
    for ever (seen in CI: a decode thread stuck, and the interpreter's exit with it)."""
    code = (
        "import threading\n"
        "from visiondata.loaders._stream.threads import OrderedPool\n"
        "pool = OrderedPool(2, window=4)\n"
        "suspended, closed, box = threading.Event(), threading.Event(), {}\n"
        "def work(i):\n"
        "    if i == 1:\n"
        "        suspended.wait(10)\n"
        "        box['gen'].close()  # as the collector would, on this pool thread\n"
        "        closed.set()\n"
        "    return i\n"
        "gen = box['gen'] = pool.map(work, range(6))\n"
        "first = next(gen).get()\n"
        "suspended.set()\n"
        "print(first, closed.wait(20))\n"
        "pool.close()\n"
    )
    assert _run_bounded(code).split() == ["0", "True"]


def test_a_stream_copied_by_fork_closes_and_its_pool_works_in_the_child() -> None:
    """A process forked while a stream is suspended with work queued (a DataLoader worker
    forked from a loop holding an abandoned iterator) has none of the pool's threads: closing
    the copy (the child's garbage collector does) must not wait for that work, and the pool
    must run new work on threads of the child's own."""
    code = (
        "import os, threading, time\n"
        "from visiondata.loaders._stream.threads import OrderedPool\n"
        "pool = OrderedPool(2, window=6)\n"
        "release = threading.Event()\n"
        "def work(i):\n"
        "    if i in (1, 2):\n"
        "        release.wait(20)  # both threads busy: items 3.. stay queued\n"
        "    return i\n"
        "gen = pool.map(work, range(8))\n"
        "assert next(gen).get() == 0\n"
        "time.sleep(0.2)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    gen.close()  # the copy, with its work queued for threads not here\n"
        "    got = [o.get() for o in pool.map(lambda x: x * 10, range(5))]\n"
        "    os._exit(0 if got == [0, 10, 20, 30, 40] else 3)\n"
        "for _ in range(200):\n"
        "    done, status = os.waitpid(pid, os.WNOHANG)\n"
        "    if done:\n"
        "        break\n"
        "    time.sleep(0.1)\n"
        "else:\n"
        "    os.kill(pid, 9)\n"
        "    os.waitpid(pid, 0)\n"
        "    status = -1\n"
        "release.set()\n"
        "gen.close()\n"
        "pool.close()\n"
        "print(os.waitstatus_to_exitcode(status) if status != -1 else 'child deadlocked')\n"
    )
    assert _run_bounded(code).strip() == "0"


def test_a_stream_collected_inside_a_thread_start_does_not_deadlock(jpeg_root: Path) -> None:
    """The garbage collector runs where something allocates, also inside threading's own
    bookkeeping: a new thread's start allocates while it holds the lock that every thread
    join takes. A stream dropped in a reference cycle and collected there must not join
    its pool's threads (seen in CI: a test's new decode pool starting, the collector closing
    an abandoned stream of an earlier Loader, that close joining and waiting for ever)."""
    code = (
        "import gc, threading, weakref\n"
        "from visiondata.loaders import Loader, RandomResizedCrop\n"
        f"loader = Loader({str(jpeg_root)!r}, batch_size=2, threads_per_worker=2,\n"
        "    fields=['jpg', 'cls'], decode={'jpg': RandomResizedCrop((32, 32)), 'cls': 'cls'})\n"
        "it = iter(loader)\n"
        "next(it)\n"
        "stream = weakref.ref(loader._dataset._stream)\n"
        "loader.me = loader\n"  # the Loader, its pass and its suspended stream: a cycle
        "del it, loader\n"
        "gc.disable()\n"
        # what Thread._set_tstate_lock holds in CPython 3.10-3.12 (any lock where it is gone)
        "lock = getattr(threading, '_shutdown_locks_lock', None) or threading.Lock()\n"
        "with lock:\n"
        "    gc.collect()\n"
        "print('closed' if stream() is None else 'still open')\n"
    )
    assert _run_bounded(code, timeout=60).strip() == "closed"
