"""Who am I in the job: the world as a value, detected in exactly one place (:func:`detect_world`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ..errors import LoaderOptionError

__all__ = ["World", "detect_world"]


@dataclass(frozen=True)
class World:
    """A rank among ``world_size`` ranks, and a worker among ``num_workers`` of that rank.

    ``num_workers`` counts data-loading processes; 0 (load in the main process) behaves as 1.
    """

    rank: int = 0
    world_size: int = 1
    worker: int = 0
    num_workers: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise LoaderOptionError(
                f"World(rank={self.rank}, world_size={self.world_size}): expected world_size >= 1 "
                "and 0 <= rank < world_size"
            )
        if self.num_workers < 1 or not 0 <= self.worker < self.num_workers:
            raise LoaderOptionError(
                f"World(worker={self.worker}, num_workers={self.num_workers}): expected "
                "num_workers >= 1 and 0 <= worker < num_workers"
            )

    def with_worker(self, worker: int, num_workers: int) -> World:
        return replace(self, worker=worker, num_workers=max(1, num_workers))


def detect_world(env: Mapping[str, str] | None = None) -> World:
    """The rank and world size of this process.

    From ``torch.distributed`` when it is initialized, else from the ``RANK`` and
    ``WORLD_SIZE`` environment variables (set by torchrun, SLURM wrappers, ...), else a single
    process. This is the only place the loaders look at the environment. Half a world is
    refused: ``RANK`` without ``WORLD_SIZE``, or ``WORLD_SIZE`` > 1 without ``RANK`` (every
    process would read as rank 0 and load the same samples).
    """
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return World(rank=dist.get_rank(), world_size=dist.get_world_size())
    except ImportError:  # pragma: no cover - torch is a dependency of the loaders
        pass
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" not in env:
        raise LoaderOptionError(
            f"RANK={env['RANK']!r} is set but WORLD_SIZE is not (expected both, as torchrun "
            "sets them, or neither)"
        )
    if "WORLD_SIZE" in env and "RANK" not in env and env["WORLD_SIZE"].strip() != "1":
        raise LoaderOptionError(
            f"WORLD_SIZE={env['WORLD_SIZE']!r} is set but RANK is not (expected both, as "
            "torchrun sets them, or neither)"
        )
    if "WORLD_SIZE" in env:
        try:
            return World(rank=int(env.get("RANK", "0")), world_size=int(env["WORLD_SIZE"]))
        except ValueError:
            raise LoaderOptionError(
                f"RANK={env.get('RANK')!r} WORLD_SIZE={env.get('WORLD_SIZE')!r}: expected integers"
            ) from None
    return World()
