"""One worker's batches for one epoch: plan -> read -> buffer-shuffle -> decode -> batch.

:class:`Plan` is everything a worker needs, as plain picklable data. :func:`worker_share`
recomputes the epoch sequence, the layout of the epoch's current segment (its rank's and
worker's share; after an elastic resume, of what is left of the epoch, see :mod:`.elastic`)
and the buffer permutation (all pure, see :mod:`.mixing`, :mod:`.partition`,
:mod:`.shuffle`). :class:`WorkerStream` reads the share's inputs in order, holding at most
``buffer_size`` undecoded samples, and emits them in shuffled order. Starting at local batch
``k`` it begins reading at the first input still needed, so a resumed run yields exactly the
batches the uninterrupted run would have.

A bad sample leaves its batch one shorter (the number of batches never changes, so ranks
stay in step); each batch comes with its stats (samples, bad samples, bytes, retries) for the
main process to count and warn about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .._decode.collate import Stacker, fresh_alloc
from .._decode.fields import SampleDecoder, sample_rng
from ..errors import BadSampleError
from ..shards.members import DEFAULT_LIMITS, Limits
from ..shards.reader import SampleReader, Span
from ..shards.remote import Counters, RemoteOptions
from ..shards.sources import ShardEntry
from .elastic import Segment, segment_layout
from .memory import release_free_memory
from .mixing import SourceCounts, epoch_sequence
from .partition import Layout
from .ring import WorkerRing
from .shuffle import IntArray, buffer_permutation, resume_start
from .threads import OrderedPool
from .world import World

__all__ = ["Plan", "Share", "WorkerStream", "worker_share"]

#: the stats that come with each batch: samples, bad samples, bytes read, retries
Stats = dict[str, Any]
#: one sample for the per-sample work: shard, index in the shard, its members or its error
_Job = tuple[int, int, "dict[str, bytes | Span] | BadSampleError"]


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
    collate: Callable[[list[dict[str, Any]]], Any] | None = None  # None: collate.collate
    threads: int = 1  # threads for the per-sample work (see .threads)

    @cached_property
    def shard_starts(self) -> IntArray:
        """Global id of each shard's first sample, and the total last (computed once)."""
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

    def order(self, epoch: int, segment: int, rank: int, worker: int, n: int) -> IntArray:
        """A worker's buffer permutation; segment 0 keeps the key of an uninterrupted epoch."""
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        key = [self.seed, epoch, rank, worker, 0x5EED, *([segment] if segment else [])]
        return buffer_permutation(n, self.buffer_size, key)

    def layout(
        self, epoch: int, earlier: Sequence[Segment], world_size: int, num_workers: int
    ) -> tuple[IntArray, Layout]:
        """The epoch sequence and the layout of its current segment (``world_size`` ranks of
        ``num_workers`` workers, this plan's batch size) after the ``earlier`` segments."""
        first = earlier[0].world_size if earlier else world_size
        seq = self.sequence(epoch, first)
        layout = segment_layout(
            len(seq),
            earlier,
            Segment(world_size, num_workers, self.batch_size),
            drop_last=self.drop_last,
            remainder=self.remainder,
            order=lambda seg, rank, worker, n: self.order(epoch, seg, rank, worker, n),
        )
        return seq, layout


@dataclass(frozen=True, eq=False)
class Share:
    """One worker's part of one segment: global ids of its inputs (before the buffer
    shuffle), the sizes of its batches and the buffer permutation."""

    epoch: int
    ids: IntArray
    sizes: tuple[int, ...]
    perm: IntArray


def worker_share(plan: Plan, epoch: int, earlier: Sequence[Segment], world: World) -> Share:
    seq, layout = plan.layout(epoch, earlier, world.world_size, world.num_workers)
    block, sizes = layout.worker_block(world.rank, world.num_workers, world.worker)
    ids = seq[block % len(seq)] if len(block) else np.zeros(0, dtype=np.int64)
    perm = plan.order(epoch, len(earlier), world.rank, world.worker, len(ids))
    return Share(epoch, ids, sizes, perm)


class WorkerStream:
    """``(batch, stats)`` of one worker's share, from its local batch ``start_batch`` on.

    The shard reader runs in the thread iterating the stream; the per-sample work (read the
    buffered span back, decode, crop, user transform) runs on ``plan.threads`` threads through
    :class:`~.threads.OrderedPool`, whose outcomes come back in the order a serial loop would
    produce them, so batches, bad-sample accounting and ``on_error`` are the same for any
    thread count. ``ring`` (in a worker process) gives the batches reused shared memory."""

    def __init__(
        self, plan: Plan, share: Share, start_batch: int = 0, ring: WorkerRing | None = None
    ) -> None:
        self.plan = plan
        self.share = share
        self.epoch = share.epoch
        self.start_batch = start_batch
        self.counters = Counters()
        self.ring = ring

    def __iter__(self) -> Iterator[tuple[Any, Stats]]:
        plan = self.plan
        sizes = self.share.sizes
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64).tolist()
        ids = self.share.ids
        # outputs start_batch onwards; every input position's shard
        outs = range(
            bounds[self.start_batch] if self.start_batch < len(bounds) else len(ids), bounds[-1]
        )
        shard_of = np.searchsorted(plan.shard_starts, ids, side="right") - 1
        reader = SampleReader(
            plan.shards,
            plan.remote,
            self.counters,
            verify=plan.verify,
            spans=plan.spans,
            limits=plan.limits,
            from_start=self._from_start(outs, shard_of),
        )
        pool = OrderedPool(plan.threads)
        jobs = self._inputs(reader, outs, shard_of)
        outcomes = pool.map(lambda job: self._work(reader, job), jobs)
        sent = Counters()
        try:
            for b in range(self.start_batch, len(sizes)):
                samples = self._maker(bounds[b + 1] - bounds[b])
                bad: list[tuple[str, str, str, str]] = []
                for _ in range(bounds[b], bounds[b + 1]):
                    out = next(outcomes)
                    if out.error is None:
                        samples.add(out.get())
                        continue
                    exc = out.error
                    if not isinstance(exc, BadSampleError):
                        raise exc
                    if plan.on_error == "raise":
                        if not samples:
                            raise exc
                        # the samples before it, then (in the main process) the error
                        yield self._batch(samples, [], sent, error=exc)
                        return
                    bad.append((exc.shard, exc.key, exc.reason, type(exc).__name__))
                yield self._batch(samples, bad, sent)
                if reader.large_bytes:  # a buffer of bytes (remote shards) fragments the heap
                    reader.large_bytes = 0
                    release_free_memory()
        finally:
            outcomes.close()  # no work in flight outlives the stream
            pool.close()
            reader.close()

    def _inputs(self, reader: SampleReader, outs: range, shard_of: IntArray) -> Iterator[_Job]:
        """The share's outputs ``outs`` in output (shuffled) order, read in input order into
        a stash of at most ``buffer_size`` undecoded samples: ``(shard, index, raw or its
        error)``. ``shard_of`` is the shard of each input position."""
        ids, perm = self.share.ids, self.share.perm
        inv = np.empty_like(perm)
        inv[perm] = np.arange(len(perm))
        next_in = resume_start(perm, outs.start)
        starts = self.plan.shard_starts
        stash: dict[int, dict[str, bytes | Span] | BadSampleError] = {}
        for o in outs:
            need = int(perm[o])
            while next_in <= need:
                if inv[next_in] >= outs.start:
                    s = int(shard_of[next_in])
                    try:
                        stash[next_in] = reader.read(s, int(ids[next_in] - starts[s]))
                    except BadSampleError as exc:
                        stash[next_in] = exc
                next_in += 1
            s = int(shard_of[need])
            yield s, int(ids[need] - starts[s]), stash.pop(need)

    def _from_start(self, outs: range, shard_of: IntArray) -> dict[int, int]:
        """The shards the outputs ``outs`` read from their first sample, each with the last
        sample they read of it: the reader hashes those (see
        :class:`~visiondata.loaders.shards.reader.SampleReader`). A shard entered mid-way (the
        part after a cut between workers or ranks, a resume) is not among them."""
        inputs = self.share.perm[outs.start : outs.stop]  # what _inputs reads, in any order
        if not len(inputs):
            return {}
        starts = self.plan.shard_starts
        shard = shard_of[inputs]
        local = self.share.ids[inputs] - starts[shard]
        first = np.full(len(starts) - 1, np.iinfo(np.int64).max, dtype=np.int64)
        last = np.full(len(starts) - 1, -1, dtype=np.int64)
        np.minimum.at(first, shard, local)
        np.maximum.at(last, shard, local)
        return {int(s): int(last[s]) for s in np.flatnonzero(first == 0)}

    def _work(self, reader: SampleReader, job: _Job) -> dict[str, Any]:
        """One sample's bytes -> the decoded, transformed sample (on a pool thread)."""
        plan = self.plan
        s, index, item = job
        if isinstance(item, BadSampleError):
            raise item
        entry = plan.shards[s]
        key = entry.key(index)
        raw = reader.load(s, index, item)
        sample = plan.decoder(entry.name, key, raw, (plan.seed, self.epoch))
        if plan.transform is None:
            return sample
        try:
            if getattr(plan.transform, "takes_rng", False):
                rng = sample_rng((plan.seed, self.epoch), key, "transform")
                return plan.transform(sample, rng)  # type: ignore[call-arg]
            return plan.transform(sample)
        except Exception as exc:
            raise BadSampleError(
                entry.name, key, f"transform failed: {type(exc).__name__}: {exc}"
            ) from None

    def _maker(self, capacity: int) -> _Samples | _Stacked:
        """What gathers one batch of at most ``capacity`` samples: the list for the user's
        ``collate_fn``, else a :class:`~visiondata.loaders._decode.collate.Stacker` that
        stacks each sample as it comes (into a ring slot in a worker)."""
        if self.plan.collate is not None:
            return _Samples(self.plan.collate)
        return _Stacked(capacity, self.ring)

    def _batch(
        self,
        samples: _Samples | _Stacked,
        bad: list[tuple[str, str, str, str]],
        sent: Counters,
        error: BadSampleError | None = None,
    ) -> tuple[Any, Stats]:
        batch, buffer = samples.finish()
        c = self.counters
        stats = {
            "samples": len(samples),
            "buffer": buffer,
            "bad": bad,
            "bytes_read": c.bytes_read - sent.bytes_read,
            "retries": c.retries - sent.retries,
            "error": error,  # on_error="raise": raised after this batch is delivered
        }
        sent.bytes_read, sent.retries = c.bytes_read, c.retries
        return batch, stats


class _Samples:
    """A batch's samples as a list, for the user's ``collate_fn``."""

    def __init__(self, collate: Callable[[list[dict[str, Any]]], Any]) -> None:
        self.collate = collate
        self.samples: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.samples)

    def add(self, sample: dict[str, Any]) -> None:
        self.samples.append(sample)

    def finish(self) -> tuple[Any, str | None]:
        return self.collate(self.samples), None


class _Stacked:
    """A batch stacked as its samples come. In a worker (``ring``), into the first free ring
    slot, taken when the first sample arrives, or fresh shared memory when none is free.
    :meth:`finish` gives the batch and where its stacked tensors went: ``"reused"`` (a slot's
    pages, touched before), ``"fresh"`` (new shared memory: a slot's first use, or none free)
    or None (not into the ring: in-process, nothing to stack)."""

    def __init__(self, capacity: int, ring: WorkerRing | None) -> None:
        self.ring = ring
        self.slot: int | None = None
        self.buffer: str | None = None
        self.stacker = Stacker(capacity, None if ring is None else self._alloc)

    def __len__(self) -> int:
        return len(self.stacker)

    def add(self, sample: dict[str, Any]) -> None:
        self.stacker.add(sample)

    def _alloc(self, specs: Sequence[tuple[str, Any, Any]]) -> dict[str, Any]:
        assert self.ring is not None
        self.slot = self.ring.acquire()
        if self.slot is None:
            self.buffer = "fresh"
            return fresh_alloc(specs)
        into = self.ring.allocator(self.slot)(specs)
        self.buffer = "reused" if self.ring.touched else "fresh"
        return into

    def finish(self) -> tuple[Any, str | None]:
        batch = self.stacker.finish()
        if self.ring is None or self.slot is None:
            return batch, self.buffer
        return self.ring.send(self.slot, batch), self.buffer
