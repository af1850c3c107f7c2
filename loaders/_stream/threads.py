"""Per-sample work on a pool of threads, results in input order.

:class:`OrderedPool` maps a function over an iterator on ``threads`` threads, keeping at most
``window`` items in flight, and yields each outcome (the result, or the exception it raised)
in the order the items came in, so whatever consumes it (the batching loop) sees exactly the
sequence a serial loop would. The items are drawn from the iterator in the consuming thread
only, when there is room in the window: the iterator (the shard reader) never runs on two
threads. With ``threads=1`` nothing is started and the work runs inline.

The work that is worth threads releases the GIL: libjpeg-turbo (the region decoder and
simplejpeg), torch's resize, ``os.pread``. Each pool thread sets torch's intra-op threads to 1
for itself (OpenMP's setting is per thread), so a decode thread never fans out into more
threads than there are cores, and the caller's own torch setting is left alone.

A stream is also closed by the garbage collector, on whatever thread it runs (with whatever
locks that thread holds), and in a process forked while the stream was suspended. Closing
waits for the work in flight only where that work can finish: in the process that started it
and on a thread that is not a pool thread; it never waits for the threads to exit. A pool
thread that waited could be waiting on the very item it is running (seen in CI: a decode
thread stuck for ever, and the interpreter with it at exit), and a forked process has none
of the threads its copied work queue was waiting for. A pool is made afresh in a process that
did not make it.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["OrderedPool", "Outcome", "default_threads"]

T = TypeVar("T")
R = TypeVar("R")


def default_threads() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Outcome(Generic[R]):
    """What one item's work gave: ``value``, or the ``error`` it raised."""

    __slots__ = ("error", "value")

    def __init__(self, value: R | None = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error

    def get(self) -> R:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


_thread = threading.local()


def _pool_thread_start() -> None:
    _thread.in_pool = True
    _one_torch_thread()


def _may_wait(pid: int) -> bool:
    """Whether this thread may wait for a pool's work started in process ``pid``."""
    return os.getpid() == pid and not getattr(_thread, "in_pool", False)


def _one_torch_thread() -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - the loaders extra brings torch
        return
    torch.set_num_threads(1)


def _run(fn: Callable[[T], R], item: T) -> Outcome[R]:
    try:
        return Outcome(fn(item))
    except Exception as exc:  # handed to the consumer in order, like a serial loop's raise
        return Outcome(error=exc)


class OrderedPool:
    """``map`` over ``threads`` threads with at most ``window`` items in flight."""

    def __init__(self, threads: int, window: int | None = None) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self.window = max(window or 4 * threads, threads)
        self._pool: ThreadPoolExecutor | None = None
        self._pid = os.getpid()  # the process whose threads the pool has

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pid != os.getpid():
            # a pool copied by fork has no threads here: it would queue work for ever
            self._pool = ThreadPoolExecutor(
                self.threads, thread_name_prefix="visiondata-decode", initializer=_pool_thread_start
            )
            self._pid = os.getpid()
        return self._pool

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Generator[Outcome[R], None, None]:
        """The outcome of ``fn(item)`` for each item, in order. Closing the generator early
        (an error downstream, ``on_error="raise"``) cancels what has not started and waits
        for what has, where it can finish (see the module's docstring)."""
        if self.threads == 1:
            for item in items:
                yield _run(fn, item)
            return
        pool = self._executor()
        pid = self._pid
        pending: deque[Future[Outcome[R]]] = deque()
        source = iter(items)
        try:
            while True:
                try:
                    item = next(source)
                except StopIteration:
                    break
                except BaseException:
                    # drawing failed (the reader): the work already drawn comes first, as a
                    # serial loop would have yielded it before reaching the failing item
                    while pending:
                        yield pending.popleft().result()
                    raise
                pending.append(pool.submit(_run, fn, item))
                if len(pending) >= self.window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
            if _may_wait(pid):
                for f in pending:
                    if not f.cancelled():
                        f.exception()  # wait: no work outlives the generator

    def close(self) -> None:
        """Stop the threads: each exits once it finds no more work, and this does not wait for
        that. The work itself was waited for (or cancelled) by :meth:`map`'s generator when it
        closed, so no work outlives the stream; only the threads' exit is left, and joining
        them is not safe everywhere a stream is closed. The garbage collector closes one
        wherever something allocates, also inside threading's own bookkeeping with its locks
        held: seen in CI, a new thread's start (holding the lock every join takes) collected
        an abandoned stream, whose join then waited for that lock for ever. No
        ``cancel_futures`` either, which needs the ``queue`` module and so fails when a stream
        left suspended is closed at interpreter exit."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def __enter__(self) -> OrderedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
