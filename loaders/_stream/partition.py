"""Split one epoch's sample sequence across ranks, then across a rank's workers. Pure.

The epoch sequence (see :mod:`.mixing`) has ``total`` positions. Rank ``r`` gets the
contiguous block ``[r*per, (r+1)*per)``, where ``per`` is ``total // world_size`` with
``remainder="drop"`` (the last ``total % world_size`` positions are not used this epoch) or
``ceil(total / world_size)`` with ``remainder="wrap"`` (positions past the end wrap around to
the start, so a few samples are seen twice). Either way every rank gets the same number of
samples, hence the same number of batches, so DDP never waits on a rank that ran dry.

Within a rank, batch ``b`` (of ``num_batches``) is made by worker ``b % num_workers``. Each
worker reads one contiguous block of the rank's positions, laid out in worker order, so
workers stream shards instead of hopping between them. The rank's batches, in order, are the
workers' batches interleaved round-robin, which is the order torch's DataLoader yields them.

A :class:`Layout` is that split as a value: which epoch positions each rank delivers and in
batches of which sizes. :func:`first_layout` is the split above; :func:`later_layout` splits
what is left of an epoch after an elastic resume (see :mod:`.elastic`): the remaining
positions, in order, in one contiguous block per rank, the first ``R % M`` ranks one sample
longer, and every rank the same number of batches (full batches first; see :func:`batch_sizes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .shuffle import IntArray

__all__ = [
    "REMAINDER_MODES",
    "Layout",
    "WorkerSpan",
    "batch_sizes",
    "first_layout",
    "later_layout",
    "num_batches",
    "rank_span",
    "worker_batches_before",
    "worker_span",
]

#: How the positions that do not divide evenly across ranks are handled.
REMAINDER_MODES: dict[str, str] = {
    "drop": "each rank gets total // world_size samples; the rest are not used this epoch",
    "wrap": "each rank gets ceil(total / world_size) samples; the last rank wraps to the start",
}


def rank_span(total: int, world_size: int, rank: int, remainder: str) -> tuple[int, int]:
    """Positions ``[start, stop)`` of ``rank``; with ``wrap`` they may exceed ``total``
    (take them modulo ``total``)."""
    if remainder not in REMAINDER_MODES:
        raise ValueError(f"remainder {remainder!r} is not one of {sorted(REMAINDER_MODES)}")
    if total == 0:
        return 0, 0
    per = total // world_size if remainder == "drop" else -(-total // world_size)
    return rank * per, (rank + 1) * per


def num_batches(samples: int, batch_size: int, drop_last: bool) -> int:
    return samples // batch_size if drop_last else -(-samples // batch_size)


@dataclass(frozen=True)
class WorkerSpan:
    """A worker's share of its rank: rank-relative positions ``[start, stop)`` and the
    sizes of its batches (all ``batch_size`` but possibly the rank's last one)."""

    start: int
    stop: int
    batch_sizes: tuple[int, ...]

    @property
    def num_samples(self) -> int:
        return self.stop - self.start


def worker_span(
    rank_samples: int, batch_size: int, drop_last: bool, num_workers: int, worker: int
) -> WorkerSpan:
    """The block of a rank's positions that ``worker`` turns into batches."""
    nb = num_batches(rank_samples, batch_size, drop_last)
    used = nb * batch_size if drop_last else rank_samples
    last = used - (nb - 1) * batch_size if nb else 0
    start = 0
    span = WorkerSpan(0, 0, ())
    for w in range(num_workers):
        sizes = tuple(last if b == nb - 1 else batch_size for b in range(w, nb, num_workers))
        if w == worker:
            span = WorkerSpan(start, start + sum(sizes), sizes)
        start += sum(sizes)
    return span


def worker_batches_before(batches: int, num_workers: int, worker: int) -> int:
    """How many of the rank's first ``batches`` batches were made by ``worker``."""
    return len(range(worker, batches, num_workers))


def batch_sizes(n: int, nb: int, batch_size: int) -> tuple[int, ...]:
    """``n`` samples in exactly ``nb`` batches of at most ``batch_size``: full batches first,
    then the rest, each later batch keeping at least one sample while there are samples (so
    ``n = (nb - 1) * batch_size`` gives ``..., batch_size - 1, 1``); batches past the ``n``-th
    are empty. With ``(nb - 1) * batch_size < n <= nb * batch_size`` this is plain batching."""
    sizes = []
    rem = n
    for b in range(nb):
        reserve = min(nb - b - 1, max(rem - 1, 0))
        size = max(0, min(batch_size, rem - reserve))
        sizes.append(size)
        rem -= size
    return tuple(sizes)


@dataclass(frozen=True, eq=False)
class Layout:
    """Which epoch positions each rank delivers, and in which batches.

    ``positions`` are epoch positions in order (with ``remainder="wrap"`` they may exceed the
    epoch's length: take them modulo it); rank ``r`` owns ``positions[starts[r]:starts[r+1]]``
    and delivers the first ``sum(rank_sizes(r))`` of them in ``num_batches`` batches.
    """

    positions: IntArray
    starts: tuple[int, ...]
    num_batches: int
    batch_size: int

    @property
    def world_size(self) -> int:
        return len(self.starts) - 1

    def rank_sizes(self, rank: int) -> tuple[int, ...]:
        return batch_sizes(
            self.starts[rank + 1] - self.starts[rank], self.num_batches, self.batch_size
        )

    def rank_positions(self, rank: int) -> IntArray:
        """The positions rank ``rank`` delivers, in batch order before the worker split."""
        start = self.starts[rank]
        return self.positions[start : start + sum(self.rank_sizes(rank))]

    def worker_block(
        self, rank: int, num_workers: int, worker: int
    ) -> tuple[IntArray, tuple[int, ...]]:
        """The rank's positions ``worker`` reads (one contiguous block, blocks in worker order)
        and the sizes of its batches ``worker, worker + num_workers, ...``."""
        sizes = self.rank_sizes(rank)
        before = sum(s for b, s in enumerate(sizes) if b % num_workers < worker)
        own = sizes[worker::num_workers]
        start = self.starts[rank] + before
        return self.positions[start : start + sum(own)], own

    def used(self) -> IntArray:
        """Every position some rank delivers (with ``drop_last``, each rank's tail is not)."""
        parts = [self.rank_positions(r) for r in range(self.world_size)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def first_layout(
    total: int, world_size: int, batch_size: int, drop_last: bool, remainder: str
) -> Layout:
    """The split of a whole epoch of ``total`` positions (see the module docstring)."""
    _, per = rank_span(total, world_size, 0, remainder)
    return Layout(
        positions=np.arange(world_size * per, dtype=np.int64),
        starts=tuple(r * per for r in range(world_size + 1)),
        num_batches=num_batches(per, batch_size, drop_last),
        batch_size=batch_size,
    )


def later_layout(positions: IntArray, world_size: int, batch_size: int, drop_last: bool) -> Layout:
    """The split of the rest of an epoch: every position exactly once (with ``drop_last``,
    the fewer than ``world_size * batch_size`` that cannot fill a batch on every rank are
    left out), the same number of batches on every rank."""
    n = len(positions)
    q, r = divmod(n, world_size)
    starts = tuple(k * q + min(k, r) for k in range(world_size + 1))
    nb = q // batch_size if drop_last else -(-(q + (1 if r else 0)) // batch_size)
    return Layout(
        positions=np.asarray(positions, dtype=np.int64),
        starts=starts,
        num_batches=nb,
        batch_size=batch_size,
    )
