"""One worker's batches for one epoch: plan -> read -> buffer-shuffle -> decode -> batch.

:class:`Plan` is everything a worker needs, as plain picklable data. :class:`WorkerStream`
recomputes the epoch sequence, its rank's and worker's share and the buffer permutation
(all pure, see :mod:`.mixing`, :mod:`.partition`, :mod:`.shuffle`), then reads inputs in
order, holding at most ``buffer_size`` undecoded samples, and emits them in shuffled order.
Starting at local batch ``k`` it begins reading at the first input still needed, so a
resumed run yields exactly the batches the uninterrupted run would have.

A bad sample leaves its batch one shorter (the number of batches never changes, so ranks
stay in step); each batch carries ``__stats__`` (samples, bad samples, bytes, retries) for
the main process to count and warn about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._decode.collate import collate
from .._decode.fields import SampleDecoder, sample_rng
from ..errors import BadSampleError
from ..shards.members import DEFAULT_LIMITS, Limits
from ..shards.reader import SampleReader, Span
from ..shards.remote import Counters, RemoteOptions
from ..shards.sources import ShardEntry
from .memory import release_free_memory
from .mixing import SourceCounts, epoch_sequence
from .partition import rank_span, worker_span
from .shuffle import IntArray, buffer_permutation, resume_start
from .world import World

__all__ = ["STATS_KEY", "Plan", "WorkerStream"]

STATS_KEY = "__stats__"


@dataclass(frozen=True)
class Plan:
    shards: tuple[ShardEntry, ...]
    sources: tuple[SourceCounts, ...]
    weights: tuple[float, ...] | None
    seed: int
    shuffle: bool
    buffer_size: int
    balance: str
    samples_per_epoch: int | None
    remainder: str
    batch_size: int
    drop_last: bool
    decoder: SampleDecoder
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None
    on_error: str
    verify: bool
    remote: RemoteOptions = field(default_factory=RemoteOptions)
    spans: bool = True  # buffer local samples as positions (reader.Span), not bytes
    limits: Limits = DEFAULT_LIMITS

    @property
    def shard_starts(self) -> IntArray:
        return np.cumsum([0, *(s.num_samples for s in self.shards)]).astype(np.int64)

    def sequence(self, epoch: int, world_size: int) -> IntArray:
        return epoch_sequence(
            self.sources,
            self.weights,
            seed=self.seed,
            epoch=epoch,
            shuffle=self.shuffle,
            balance=self.balance,
            world_size=world_size,
            samples_per_epoch=self.samples_per_epoch,
        )

    def rank_samples(self, epoch: int, world: World) -> int:
        total = len(self.sequence(epoch, world.world_size))
        start, stop = rank_span(total, world.world_size, world.rank, self.remainder)
        return stop - start


def worker_ids(plan: Plan, epoch: int, world: World) -> tuple[IntArray, tuple[int, ...]]:
    """Global ids of a worker's inputs (before the buffer shuffle) and its batch sizes."""
    seq = plan.sequence(epoch, world.world_size)
    total = len(seq)
    r0, r1 = rank_span(total, world.world_size, world.rank, plan.remainder)
    span = worker_span(r1 - r0, plan.batch_size, plan.drop_last, world.num_workers, world.worker)
    if span.num_samples == 0:
        return np.zeros(0, dtype=np.int64), span.batch_sizes
    pos = r0 + span.start + np.arange(span.num_samples, dtype=np.int64)
    return seq[pos % total], span.batch_sizes


def worker_order(plan: Plan, epoch: int, world: World, n: int) -> IntArray:
    if not plan.shuffle:
        return np.arange(n, dtype=np.int64)
    key = [plan.seed, epoch, world.rank, world.worker, 0x5EED]
    return buffer_permutation(n, plan.buffer_size, key)


class WorkerStream:
    """Batches of one worker, one epoch, from its local batch ``start_batch`` on."""

    def __init__(self, plan: Plan, epoch: int, world: World, start_batch: int = 0) -> None:
        self.plan = plan
        self.epoch = epoch
        self.world = world
        self.start_batch = start_batch
        self.counters = Counters()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        plan = self.plan
        ids, sizes = worker_ids(plan, self.epoch, self.world)
        perm = worker_order(plan, self.epoch, self.world, len(ids))
        inv = np.empty_like(perm)
        inv[perm] = np.arange(len(perm))
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64).tolist()
        out_start = bounds[self.start_batch] if self.start_batch < len(bounds) else len(ids)
        next_in = resume_start(perm, out_start)
        starts = plan.shard_starts
        shard_of = np.searchsorted(starts, ids, side="right") - 1
        reader = SampleReader(
            plan.shards,
            plan.remote,
            self.counters,
            verify=plan.verify,
            spans=plan.spans,
            limits=plan.limits,
        )
        stash: dict[int, dict[str, bytes | Span] | BadSampleError] = {}
        sent = Counters()
        try:
            for b in range(self.start_batch, len(sizes)):
                samples: list[dict[str, Any]] = []
                bad: list[tuple[str, str, str, str]] = []
                for o in range(bounds[b], bounds[b + 1]):
                    need = int(perm[o])
                    while next_in <= need:
                        if inv[next_in] >= out_start:
                            s = int(shard_of[next_in])
                            try:
                                stash[next_in] = reader.read(s, int(ids[next_in] - starts[s]))
                            except BadSampleError as exc:
                                stash[next_in] = exc
                        next_in += 1
                    item = stash.pop(need)
                    s = int(shard_of[need])
                    entry = plan.shards[s]
                    try:
                        if isinstance(item, BadSampleError):
                            raise item
                        index = int(ids[need] - starts[s])
                        key = entry.key(index)
                        raw = reader.load(s, index, item)
                        sample = plan.decoder(entry.name, key, raw, (plan.seed, self.epoch))
                        if plan.transform is not None:
                            try:
                                if getattr(plan.transform, "takes_rng", False):
                                    rng = sample_rng((plan.seed, self.epoch), key, "transform")
                                    sample = plan.transform(sample, rng)  # type: ignore[call-arg]
                                else:
                                    sample = plan.transform(sample)
                            except Exception as exc:
                                raise BadSampleError(
                                    entry.name,
                                    key,
                                    f"transform failed: {type(exc).__name__}: {exc}",
                                ) from None
                        samples.append(sample)
                    except BadSampleError as exc:
                        if plan.on_error == "raise":
                            if samples:
                                yield self._batch(samples, [], sent)
                            raise
                        bad.append((exc.shard, exc.key, exc.reason, type(exc).__name__))
                yield self._batch(samples, bad, sent)
                if reader.large_bytes:  # a buffer of bytes (remote shards) fragments the heap
                    reader.large_bytes = 0
                    release_free_memory()
        finally:
            reader.close()

    def _batch(
        self, samples: list[dict[str, Any]], bad: list[tuple[str, str, str, str]], sent: Counters
    ) -> dict[str, Any]:
        batch = collate(samples)
        c = self.counters
        batch[STATS_KEY] = {
            "samples": len(samples),
            "bad": bad,
            "bytes_read": c.bytes_read - sent.bytes_read,
            "retries": c.retries - sent.retries,
        }
        sent.bytes_read, sent.retries = c.bytes_read, c.retries
        return batch
