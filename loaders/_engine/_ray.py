"""The ``ray`` engine: a plan's tasks as Ray tasks, one per shard. The only module of visiondata
that imports ``ray`` (``pip install "visiondata[ray]"``; a test keeps it so).

Connecting is bounded: the address is probed with a TCP connection first (``connect_timeout``),
so a wrong ``--address`` is one line, not a hang. Each task carries its resource request
(``cpus_per_task``, ``memory_per_task``, custom ``resources``), is re-run by Ray when its worker
or node is lost (``max_retries``), and is bounded by ``task_timeout`` from its submission; at
most two tasks wait per slot, so the driver's memory and the timeout both stay bounded. A task
returns its result or its error with the host it ran on, so every error names both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ..errors import EngineError, ItemError, MissingExtraError
from . import RayOptions

__all__ = ["RayEngine", "import_ray"]

T = TypeVar("T")
R = TypeVar("R")

_POLL = 0.5  # seconds between checks of the running tasks (progress, deadlines)


def import_ray() -> Any:
    """``ray``, or :class:`MissingExtraError` naming the extra."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError("ray", "ray", "--engine ray") from None
    return ray


def _probe(address: str, timeout: float) -> None:
    """Refuse an address nothing listens on within ``timeout`` seconds, in one line."""
    if address == "auto" or address.startswith("local"):
        return
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise EngineError(
            f"Ray address {address!r} is not HOST:PORT (expected e.g. 10.0.0.5:6379, the head "
            "node's `ray start --head` port, or ray://10.0.0.5:10001 for Ray Client)"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise EngineError(
            f"Ray cluster at {address}: cannot connect ({exc.strerror or exc}) within "
            f"{timeout:.0f} s; is `ray start --head` running there, and is the port open?"
        ) from None


def _run_task(fn: Callable[[Any, Any], Any], shared: Any, task: Any) -> tuple[str, Any, str]:
    """On a worker: ``("ok", result, host)`` or ``("error", exception, host)``."""
    host = socket.gethostname()
    try:
        return "ok", fn(shared, task), host
    except Exception as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        return "error", exc, host


def _annotated(exc: Exception, where: str, host: str) -> Exception:
    """``exc`` with the task and the worker's host in its message."""
    if isinstance(exc, ItemError):
        return ItemError(exc.item, f"{exc.reason} (on {host}, {where})")
    exc.args = (f"{exc} (on {host}, {where})",)
    return exc


def _messages_to_stderr(ray: Any) -> Callable[[], None]:
    """Ray prints the cluster's messages to the driver ("a worker died...") on stdout, which is
    the command's output (``--format json``); send them to stderr, where diagnostics go.
    Returns what undoes it. (Ray has no option for this: it patches Ray's printing function,
    and does nothing where a Ray version has none.)"""
    worker: Any = getattr(getattr(ray, "_private", None), "worker", None)
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "_visiondata", False):
        return lambda: None

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        original({**data, "is_err": True}, ignore_prefix)

    to_stderr._visiondata = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr

    def undo() -> None:
        worker.print_to_stdstream = original

    return undo


def _not_main_thread_notice(record: logging.LogRecord) -> bool:
    """Drop Ray's notice that a driver started off the main thread sets no SIGTERM handler
    (:func:`_init_bounded` does so on purpose; the process keeps its own handling)."""
    return "SIGTERM handler is not set" not in record.getMessage()


def _init_bounded(ray: Any, address: str | None, kwargs: dict[str, Any], timeout: float) -> None:
    """``ray.init``, given ``timeout`` seconds to connect (or, with no address, 4x that to start
    Ray here). Ray itself waits without end for a port that accepts connections but is no Ray
    head, so the call runs on a daemon thread that is left behind when it does not return."""
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            ray.init(address=address, **kwargs)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    logging.getLogger("ray._private.worker").addFilter(_not_main_thread_notice)
    thread = threading.Thread(target=connect, name="visiondata-ray-init", daemon=True)
    thread.start()
    limit = timeout if address is not None else 4 * timeout
    thread.join(limit)
    where = f"Ray cluster at {address}" if address is not None else "Ray on this machine"
    if not outcome:
        raise EngineError(
            f"{where}: no answer within {limit:.0f} s (is it a Ray head's GCS port, the one "
            "`ray start --head` printed?)"
        )
    exc = outcome[0]
    if isinstance(exc, ConnectionError | RuntimeError | ValueError | TimeoutError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EngineError(f"{where}: {first}") from None
    if exc is not None:
        raise exc


class RayEngine:
    """Runs a plan's tasks on a Ray cluster; see :class:`~visiondata.loaders._engine.RayOptions`.

    Used as a context manager: on entry it connects (unless Ray is already initialised in this
    process, which it then leaves as it found it); on exit it disconnects what it connected."""

    name = "ray"

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()
        self._ray: Any = None
        self._owned = False
        self._undo: Callable[[], None] = lambda: None

    # -- connecting -----------------------------------------------------------------------
    def __enter__(self) -> RayEngine:
        ray = import_ray()
        self._ray = ray
        self._undo = _messages_to_stderr(ray)
        if ray.is_initialized():
            return self
        opts = self.options
        address = opts.address or os.environ.get("RAY_ADDRESS") or None
        kwargs: dict[str, Any] = {
            "logging_level": "warning",
            "log_to_driver": False,
            "include_dashboard": False,
        }
        if address is not None:
            _probe(address, opts.connect_timeout)
        else:  # Ray on this machine only: its size is ours to give
            kwargs["num_cpus"] = opts.num_cpus
            kwargs["object_store_memory"] = opts.object_store_memory
        _init_bounded(ray, address, kwargs, opts.connect_timeout)
        self._owned = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._undo()
        if self._owned and self._ray is not None:
            self._ray.shutdown()
            self._owned = False

    @property
    def ray(self) -> Any:
        if self._ray is None:
            raise EngineError("the ray engine is not connected (use it in a `with` block)")
        return self._ray

    def slots(self) -> int:
        """How many tasks fit on the cluster at once, from its CPUs and ``cpus_per_task``."""
        cpus = float(self.ray.cluster_resources().get("CPU", 1.0))
        return max(1, int(cpus // self.options.cpus_per_task))

    # -- running a plan -------------------------------------------------------------------
    def _remote(self) -> Any:
        o = self.options
        opts: dict[str, Any] = {
            "num_cpus": o.cpus_per_task,
            "max_retries": o.max_retries,
            "retry_exceptions": False,
        }
        if o.memory_per_task is not None:
            opts["memory"] = o.memory_per_task
        if o.resources:
            opts["resources"] = dict(o.resources)
        return self.ray.remote(_run_task).options(**opts)

    def map(
        self,
        fn: Callable[[Any, T], R],
        tasks: Sequence[T],
        *,
        shared: Any = None,
        describe: Callable[[T], str] = str,
        concurrency: int | None = None,
    ) -> Iterator[tuple[int, R, str]]:
        """See :meth:`~visiondata.loaders._engine.Engine.map`."""
        ray = self.ray
        if not tasks:
            return
        remote = self._remote()
        shared_ref = ray.put(shared)
        slots = concurrency or self.slots()
        todo = iter(range(len(tasks)))
        pending: dict[Any, tuple[int, float]] = {}

        def submit(n: int) -> None:
            for _ in range(n):
                i = next(todo, None)
                if i is None:
                    return
                ref = remote.remote(fn, shared_ref, tasks[i])
                pending[ref] = (i, time.monotonic() + self.options.task_timeout)

        submit(2 * slots)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL)
                for ref in ready:
                    i, _deadline = pending.pop(ref)
                    status, value, host = self._get(ref, describe(tasks[i]))
                    if status == "error":
                        raise _annotated(value, describe(tasks[i]), host)
                    yield i, value, host
                    submit(1)
                self._check_deadlines(pending, tasks, describe)
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):  # already finished or gone
                    ray.cancel(ref, force=True)

    def _get(self, ref: Any, where: str) -> tuple[str, Any, str]:
        ray = self.ray
        try:
            out: tuple[str, Any, str] = ray.get(ref, timeout=self.options.connect_timeout)
        except ray.exceptions.GetTimeoutError:  # pragma: no cover - ready refs come at once
            raise EngineError(
                f"{where}: the result could not be fetched from the cluster"
            ) from None
        except ray.exceptions.RayTaskError as exc:  # fn raised something that is not Exception
            raise EngineError(f"{where}: the Ray task failed: {exc.cause!r}") from None
        except ray.exceptions.RayError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EngineError(
                f"{where}: the Ray task was lost after {self.options.max_retries} retries "
                f"({type(exc).__name__}: {first}); run the command again to resume: finished "
                "shards are kept"
            ) from None
        return out

    def _check_deadlines(
        self,
        pending: dict[Any, tuple[int, float]],
        tasks: Sequence[T],
        describe: Callable[[T], str],
    ) -> None:
        now = time.monotonic()
        for i, deadline in pending.values():
            if now > deadline:
                raise EngineError(
                    f"{describe(tasks[i])}: no result after {self.options.task_timeout:.0f} s "
                    "(task timeout); raise it with --task-timeout, or give each task more "
                    "resources; finished shards are kept for the next run"
                )
