"""The engine options every command that runs a plan shares (``convert``, ``shards index``,
``shards verify``, ``audit``): ``--engine``, ``--address``, ``--task-cpus``, ``--task-timeout``.

No command group here (nothing registers from this module); the handlers call
:func:`engine_from` and hand what it returns to the library function.
"""

from __future__ import annotations

import argparse
from typing import Any

from visiondata.registry.cli.args import TEXT, number
from visiondata.registry.errors import UsageError
from visiondata.registry.extras import require

__all__ = ["add_engine_arguments", "engine_from"]

#: Kept in step with ``_engine.ENGINES`` by a test; listed here so ``--help`` needs no import.
ENGINE_NAMES = ("local", "ray")


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=ENGINE_NAMES,
        default="local",
        help="local: worker processes here (default); ray: one Ray task per shard on a "
        'cluster (pip install "visiondata[ray]")',
    )
    p.add_argument(
        "--address",
        type=TEXT,
        metavar="ADDR",
        help="with --engine ray: the cluster's HOST:PORT (ray start --head) or ray://HOST:10001 "
        "(default: RAY_ADDRESS, else a Ray running on this machine, else Ray started here)",
    )
    p.add_argument(
        "--task-cpus",
        type=number(0.0),
        default=1.0,
        metavar="N",
        help="with --engine ray: CPUs each task asks for (default 1)",
    )
    p.add_argument(
        "--task-timeout",
        type=number(0.0),
        default=3600.0,
        metavar="S",
        help="with --engine ray: seconds one task may take from its submission (default 3600)",
    )


def engine_from(args: argparse.Namespace, command: str) -> Any:
    """``"local"``, or a :class:`~visiondata.loaders._engine._ray.RayEngine` from the options
    (the ray extra checked first, so a missing one is one line before any work)."""
    if args.engine == "local":
        given = [
            flag
            for flag, value, default in (
                ("--address", args.address, None),
                ("--task-cpus", args.task_cpus, 1.0),
                ("--task-timeout", args.task_timeout, 3600.0),
            )
            if value != default
        ]
        if given:
            raise UsageError(f"{', '.join(given)}: only with --engine ray (expected --engine ray)")
        return "local"
    require(f"{command} --engine ray", "ray")
    from .._engine import RayOptions
    from .._engine._ray import RayEngine

    return RayEngine(
        RayOptions(args.address, cpus_per_task=args.task_cpus, task_timeout=args.task_timeout)
    )
