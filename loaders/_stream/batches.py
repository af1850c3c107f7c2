"""Batches by number: how the Loader runs in-process and in DataLoader workers that persist.

The Loader hands torch's ``DataLoader`` a map-style dataset whose items are whole batches,
named by a :class:`Ticket` ``(epoch, earlier segments, batch index)``, and a sampler that lists
the tickets of one pass. Everything that changes from pass to pass (the epoch, where a resume
starts, the segments of an elastic resume) travels in the tickets, so worker processes can
live across epochs and resumes (``persistent_workers``) and still produce exactly the batches
the main process asks for.

Batch ``b`` of a rank is made by logical worker ``b % W`` (see :mod:`.partition`); the
DataLoader sends tickets to its workers round-robin, so each worker process gets the tickets
of one logical worker, in order, and streams them from one :class:`~.pipeline.WorkerStream`.
A ticket that does not continue the worker's stream (a new pass, a resume) starts a new stream
at that batch, which is correct for any assignment of tickets to processes; the round-robin
only makes it fast.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset, Sampler, get_worker_info

from ..errors import StateError
from .elastic import Segment
from .pipeline import Plan, Share, Stats, WorkerStream, worker_share
from .ring import RingTable, WorkerRing
from .world import World

__all__ = ["BatchCounts", "BatchDataset", "NextEpoch", "Pass", "PassSampler", "Ticket"]


@dataclass(frozen=True)
class Ticket:
    """Batch ``index`` of the current segment of ``epoch`` (after the ``earlier`` ones)."""

    epoch: int
    earlier: tuple[Segment, ...]
    index: int


@dataclass(frozen=True)
class Pass:
    """One ``iter(loader)``: batches ``start`` to ``stop - 1`` of a segment of an epoch."""

    epoch: int
    earlier: tuple[Segment, ...]
    start: int
    stop: int

    def tickets(self) -> Iterator[Ticket]:
        for index in range(self.start, self.stop):
            yield Ticket(self.epoch, self.earlier, index)


class PassSampler(Sampler[Ticket]):
    """The tickets of the pass the Loader set last (read when the DataLoader starts a pass),
    and, when ``then`` is set, of the epochs after it: ``then(run)`` is the pass that follows
    ``run`` once it has delivered every batch (None: nothing more). Chained, the workers go
    on into the next epoch while the last batches of this one are still being taken, so a
    new epoch starts without waiting for its first batches (see ``Loader._workers``)."""

    def __init__(self, then: Callable[[Pass], Pass | None] | None = None) -> None:
        self.current: Pass | None = None
        self.then = then

    def __iter__(self) -> Iterator[Ticket]:
        run = self.current
        while run is not None:
            yield from run.tickets()
            run = self.then(run) if self.then is not None else None

    def __len__(self) -> int:
        return 0 if self.current is None else self.current.stop - self.current.start


class BatchCounts:
    """``counts(epoch, earlier)``: batches per rank in that segment of the epoch (the last few
    remembered). Its own object, not a cache on the Loader's method, so what holds it (the
    sampler) does not hold the Loader."""

    def __init__(self, plan: Plan, world_size: int, workers: int) -> None:
        self.plan, self.world_size, self.workers = plan, world_size, workers
        self._known: dict[tuple[int, tuple[Segment, ...]], int] = {}

    def __call__(self, epoch: int, earlier: tuple[Segment, ...]) -> int:
        key = (epoch, earlier)
        if key not in self._known:
            _, layout = self.plan.layout(epoch, earlier, self.world_size, self.workers)
            if len(self._known) >= 8:
                self._known.pop(next(iter(self._known)))
            self._known[key] = layout.num_batches
        return self._known[key]


class NextEpoch:
    """``PassSampler.then`` for the Loader: after a pass that ends its epoch, the whole next
    epoch (None when that has no batches, so an empty epoch does not chain for ever)."""

    def __init__(self, counts: BatchCounts) -> None:
        self.counts = counts

    def __call__(self, run: Pass) -> Pass | None:
        if run.stop < self.counts(run.epoch, run.earlier):
            return None
        stop = self.counts(run.epoch + 1, ())
        return Pass(run.epoch + 1, (), 0, stop) if stop else None


class BatchDataset(Dataset[tuple[Any, Stats]]):
    """``dataset[ticket]`` -> ``(batch, stats)`` for this rank; one open stream at a time."""

    def __init__(
        self, plan: Plan, world: World, num_workers: int, ring: RingTable | None = None
    ) -> None:
        self.plan = plan
        self.world = world
        self.workers = max(1, num_workers)
        self.ring = ring  # the slots' flags, made in the main process; one row per worker
        self._ring: tuple[int, WorkerRing] | None = None  # (pid, this worker's slots)
        self._shares: OrderedDict[tuple[int, tuple[Segment, ...], int], Share] = OrderedDict()
        self._stream: Iterator[tuple[Any, Stats]] | None = None
        self._at: tuple[int, tuple[Segment, ...], int, int] | None = None  # key + next local

    def __len__(self) -> int:  # pragma: no cover - tickets are not integers; never sized
        raise TypeError("BatchDataset is indexed by tickets and has no length")

    def share(self, epoch: int, earlier: tuple[Segment, ...], worker: int) -> Share:
        key = (epoch, earlier, worker)
        if key not in self._shares:
            world = World(self.world.rank, self.world.world_size, worker, self.workers)
            self._shares[key] = worker_share(self.plan, epoch, earlier, world)
            while len(self._shares) > 2:
                self._shares.popitem(last=False)
        return self._shares[key]

    def __getitem__(self, ticket: Ticket) -> tuple[Any, Stats]:
        worker, local = ticket.index % self.workers, ticket.index // self.workers
        if self._at != (ticket.epoch, ticket.earlier, worker, local):
            self.close()
            share = self.share(ticket.epoch, ticket.earlier, worker)
            self._stream = iter(WorkerStream(self.plan, share, local, self._worker_ring()))
        assert self._stream is not None
        try:
            item = next(self._stream, None)
        except BaseException:
            self.close()
            raise
        if item is None:
            self.close()
            raise StateError(f"batch {ticket.index} of epoch {ticket.epoch} is past its end")
        self._at = (ticket.epoch, ticket.earlier, worker, local + 1)
        if local + 1 >= len(self.share(ticket.epoch, ticket.earlier, worker).sizes):
            self.close()  # the worker's last batch: release its shard cursors now
        return item

    def _worker_ring(self) -> WorkerRing | None:
        """This worker process's slots (none in the main process: nothing is sent there)."""
        info = get_worker_info()
        if self.ring is None or info is None:
            return None
        if self._ring is None or self._ring[0] != os.getpid():
            self._ring = (os.getpid(), WorkerRing(self.ring, info.id % self.ring.workers))
        return self._ring[1]

    def close(self) -> None:
        """Close the open stream (its shard cursors and buffered samples)."""
        stream, self._stream, self._at = self._stream, None, None
        close = getattr(stream, "close", None)
        if close is not None:
            close()
