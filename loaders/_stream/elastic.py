"""The rest of an epoch after the world changed mid-epoch (elastic resume). Pure.

An epoch is delivered in one or more *segments*. The first is the epoch as a world of ``N``
ranks x ``W`` workers with batch size ``B`` lays it out (:func:`~.partition.first_layout`).
When a state taken after ``k`` batches per rank is loaded into a loader with another world,
worker count or batch size, the positions that segment delivered are recomputed from the state
alone: each old rank's old workers made its batches ``w, w + W, ...`` and took them, in their
buffer-shuffled order, from one block of positions (see :mod:`.partition` and
:mod:`.shuffle`), so worker ``w`` of rank ``r`` had delivered the first
``worker_batches_before(k, W, w)`` of its batches. Everything the segment would still have
delivered, in epoch order, is the next segment's input (:func:`~.partition.later_layout`
spreads it over the new ranks with equal batch counts). A state therefore only needs each
segment's ``(world_size, num_workers, batch_size, batches)``: it is the same on every rank,
and a chain of resumes within one epoch is a short list.

What holds after an elastic resume: the samples of the epoch are delivered exactly once in
all (with ``drop_last``, fewer than ``M * batch_size`` that cannot fill a batch on every rank
of the new world are dropped, as ``drop_last`` drops a short batch); every rank gets the same
number of batches; the order is a pure function of the state and the new world (so resuming
twice from one state gives the same batches), but it is not the order the old world would
have used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .partition import Layout, first_layout, later_layout, worker_batches_before
from .shuffle import IntArray

__all__ = ["Order", "Segment", "delivered", "remaining", "segment_layout"]

#: ``order(segment, rank, worker, n)``: a worker's buffer permutation (``perm[out] = input``)
Order = Callable[[int, int, int, int], IntArray]


@dataclass(frozen=True)
class Segment:
    """Part of an epoch delivered by one world: ``batches`` batches per rank so far."""

    world_size: int
    num_workers: int  # worker processes per rank; 0 and 1 lay out alike
    batch_size: int
    batches: int = 0

    @property
    def workers(self) -> int:
        return max(1, self.num_workers)

    def same_world(self, other: Segment) -> bool:
        """Whether ``other`` lays the epoch out as this one does (then it simply continues)."""
        return (self.world_size, self.workers, self.batch_size) == (
            other.world_size,
            other.workers,
            other.batch_size,
        )


def delivered(layout: Layout, segment: Segment, index: int, order: Order) -> IntArray:
    """Positions that ``segment`` (number ``index`` of its epoch) delivered in ``layout``."""
    parts: list[IntArray] = []
    for rank in range(layout.world_size):
        for worker in range(segment.workers):
            block, sizes = layout.worker_block(rank, segment.workers, worker)
            done = sum(sizes[: worker_batches_before(segment.batches, segment.workers, worker)])
            if done:
                parts.append(block[order(index, rank, worker, len(block))[:done]])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def remaining(layout: Layout, segment: Segment, index: int, order: Order) -> IntArray:
    """Positions of ``layout`` that ``segment`` had not yet delivered, in epoch order."""
    return np.setdiff1d(layout.used(), delivered(layout, segment, index, order), assume_unique=True)


def segment_layout(
    total: int,
    earlier: Sequence[Segment],
    current: Segment,
    *,
    drop_last: bool,
    remainder: str,
    order: Order,
) -> Layout:
    """The layout of the current segment of an epoch of ``total`` positions, after the
    ``earlier`` segments (each with the batches it delivered). Raises ``ValueError`` naming a
    segment that claims more batches than it had."""
    segments = [*earlier, current]
    first = segments[0]
    layout = first_layout(total, first.world_size, first.batch_size, drop_last, remainder)
    for index, seg in enumerate(segments[:-1]):
        if seg.batches > layout.num_batches:
            raise ValueError(
                f"segment {index} claims {seg.batches} batches per rank, but it had only "
                f"{layout.num_batches}"
            )
        nxt = segments[index + 1]
        rest = remaining(layout, seg, index, order)
        layout = later_layout(rest, nxt.world_size, nxt.batch_size, drop_last)
    return layout
