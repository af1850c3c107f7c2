"""Where the tasks of a plan run: the engines, and the one way to name them.

A command (``convert``, ``shards index``, ``shards verify``, ``audit``) first computes its whole
plan (one task per shard to write, index, verify or scan: which items, in which order), then
hands the tasks to an engine, which only executes them. The engine never changes a task, so the
output is the same bytes whichever engine ran it:

- ``local``: worker processes on this machine (``--workers N``); each command keeps its own
  pool code (progress queue, Ctrl-C handling) for it.
- ``ray``: Ray tasks on a cluster (``--engine ray [--address ADDR]``), in
  :mod:`._ray`, the only module of visiondata that imports ``ray`` (``pip install
  "visiondata[ray]"``).

:func:`get_engine` turns a name (or an engine built by hand) into an engine; an engine is a
context manager (connect on entry, disconnect on exit when it connected) whose
:meth:`Engine.map` yields ``(task index, result, host)`` as tasks finish.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from ..errors import LoaderOptionError

__all__ = ["ENGINES", "Engine", "RayOptions", "get_engine", "local_host"]

T = TypeVar("T")
R = TypeVar("R")

#: engine name -> what it is (the CLI's ``--engine`` choices come from here).
ENGINES = {
    "local": "worker processes on this machine (--workers N)",
    "ray": 'tasks on a Ray cluster (--address ADDR); needs pip install "visiondata[ray]"',
}


def local_host() -> str:
    return socket.gethostname()


class Engine(Protocol):
    """Runs the tasks of a precomputed plan; never reorders or changes what a task does."""

    name: str

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...

    def map(
        self,
        fn: Callable[[Any, T], R],
        tasks: Sequence[T],
        *,
        shared: Any = None,
        describe: Callable[[T], str] = str,
        concurrency: int | None = None,
    ) -> Iterator[tuple[int, R, str]]:
        """``fn(shared, task)`` for every task, yielded as ``(index in tasks, result, host)`` in
        the order they finish. The first task that raises stops the run: nothing more is
        started, and the error is raised naming ``describe(task)`` and the host it ran on."""
        ...


class RayOptions:
    """What the ``ray`` engine is told: where the cluster is and what each task needs.

    ``address``: ``None`` connects to ``RAY_ADDRESS`` when set, else to a Ray already running
    on this machine, else starts Ray here (``num_cpus``, ``object_store_memory``) for the run;
    ``"HOST:PORT"`` (the head's GCS port, 6379 by default) or ``"ray://HOST:10001"`` (Ray
    Client). ``cpus_per_task`` (and ``memory_per_task`` bytes, ``resources``) are each task's
    resource request, so Ray places as many at once on a node as fit. ``task_timeout`` bounds
    each task from its submission (at most two tasks wait per slot); ``connect_timeout`` bounds
    reaching the cluster. ``max_retries``: how often Ray re-runs a task whose worker or node
    was lost."""

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_task: float = 1.0,
        memory_per_task: int | None = None,
        resources: dict[str, float] | None = None,
        task_timeout: float = 3600.0,
        connect_timeout: float = 30.0,
        max_retries: int = 3,
        num_cpus: int | None = None,
        object_store_memory: int | None = None,
    ) -> None:
        if cpus_per_task <= 0:
            raise LoaderOptionError(f"cpus_per_task must be > 0, got {cpus_per_task!r}")
        if task_timeout <= 0 or connect_timeout <= 0:
            raise LoaderOptionError(
                f"timeouts must be > 0 seconds, got task_timeout={task_timeout!r}, "
                f"connect_timeout={connect_timeout!r}"
            )
        if max_retries < 0:
            raise LoaderOptionError(f"max_retries must be >= 0, got {max_retries!r}")
        self.address = address
        self.cpus_per_task = cpus_per_task
        self.memory_per_task = memory_per_task
        self.resources = dict(resources or {})
        self.task_timeout = task_timeout
        self.connect_timeout = connect_timeout
        self.max_retries = max_retries
        #: only when Ray is started here (no address): its CPUs and object store bytes
        self.num_cpus = num_cpus
        self.object_store_memory = object_store_memory


def get_engine(engine: str | Engine | None, *, address: str | None = None) -> Engine | None:
    """The engine ``engine`` names: ``None`` for ``"local"`` (the command's own process pool),
    a :class:`~._ray.RayEngine` for ``"ray"``, or the engine itself when one is given."""
    if engine is None or engine == "local":
        if address is not None:
            raise LoaderOptionError("address is for engine='ray' only (got engine='local')")
        return None
    if isinstance(engine, str):
        if engine not in ENGINES:
            raise LoaderOptionError(
                f"engine={engine!r} is not valid (expected one of: {', '.join(ENGINES)})"
            )
        ray_engine = importlib.import_module(f"{__name__}._ray")
        made: Engine = ray_engine.RayEngine(RayOptions(address))
        return made
    return engine
