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
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "REMAINDER_MODES",
    "WorkerSpan",
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
