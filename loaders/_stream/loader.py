"""The :class:`Loader`: an iterable of batches for this rank, resumable mid-epoch."""

from __future__ import annotations

import contextlib
import difflib
import faulthandler
import gc
import hashlib
import itertools
import json
import os
import signal
import sys
import time
import warnings
import weakref
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from .._decode.fields import SampleDecoder, bind_max_pixels
from ..errors import (
    BadSampleWarning,
    LoaderError,
    LoaderOptionError,
    StateError,
    TooManyErrorsError,
    WorkerDiedError,
    WorkerTimeoutError,
)
from ..shards.members import MAX_MEMBER_BYTES, MAX_PIXELS, Limits
from ..shards.remote import RemoteOptions
from ..shards.sources import Source, resolve_source
from ..shards.splits import ALIASES, split_candidates
from .batches import BatchCounts, BatchDataset, NextEpoch, Pass, PassSampler
from .elastic import Segment
from .mixing import BALANCE_MODES, SourceCounts
from .partition import REMAINDER_MODES
from .pipeline import Plan, Stats
from .ring import RingTable
from .state import LoaderState
from .threads import default_threads
from .world import World, detect_world

__all__ = ["ON_ERROR", "VERIFY_MODES", "Loader", "LoaderStats", "load"]

ON_ERROR: dict[str, str] = {
    "skip": "skip a bad sample (its batch is one shorter), warn naming shard, key and reason",
    "raise": "stop at the first bad sample (after yielding the samples before it)",
}
VERIFY_MODES: dict[str, str] = {
    "auto": "check size and sha256 whenever a shard is read whole, and on every cache fill",
    "never": "do not check",
}
#: the error rate is judged only after this many samples (or at the end of an epoch)
ERROR_RATE_MIN_SAMPLES = 100
#: ring slots per worker beyond ``prefetch_factor``: the batch the user holds, the one stacked
RING_SPARE_SLOTS = 2

#: each live Loader's worker index queues, held from here (see Loader._workers)
_WORKER_QUEUES: dict[int, list[Any]] = {}

#: the longest the main process waits on the workers' queue before it looks whether a worker
#: died (seconds). DataLoader learns of a dead worker from its SIGCHLD handler, which is lost
#: when anything else takes SIGCHLD (or its error is raised inside an ``except`` that swallows
#: it); with a ``timeout`` it then looks only when the timeout runs out (seen in CI: a crashed
#: worker reported after the full 300 s). So the DataLoader's timeout is this, and
#: ``worker_timeout`` is counted here across its expiries.
WORKER_POLL_S = 2.0
_loader_ids = itertools.count()


def threads_for(num_workers: int, threads_per_worker: int | None) -> int:
    """Threads for the per-sample work in each process that runs it: as given; else the cores
    this process may use, shared out among the processes that make batches (the main process
    with ``num_workers=0``, else the workers), rounded down, at least 1.

    Rounded down because more threads than cores cost CPU: on a quiet 2-core machine 2
    workers x 2 threads spent 0.87 ms per image against 0.78 for 2 x 1, and made fewer
    samples/s in 5 of 6 rounds (``benchmarks/bench_peers.py --visiondata 2x1``, README)."""
    if threads_per_worker is not None:
        return threads_per_worker
    return max(1, default_threads() // max(num_workers, 1))


@dataclass
class LoaderStats:
    """Counts since the loader was built (main process; workers report with each batch)."""

    batches: int = 0
    samples: int = 0
    bad_samples: int = 0
    bytes_read: int = 0
    retries: int = 0
    bad: list[tuple[str, str, str]] = field(default_factory=list)  # last 100 (shard, key, reason)
    #: bad samples by error class (``UnsafeMemberError``, ``DecodeError``, ...)
    bad_kinds: Counter[str] = field(default_factory=Counter)
    #: worker batches stacked into a ring slot's shared memory, touched by an earlier batch
    reused_buffers: int = 0
    #: worker batches stacked into new shared memory (a slot's first use, or no slot free
    #: because the user still holds that many batches)
    fresh_buffers: int = 0

    @property
    def error_rate(self) -> float:
        seen = self.samples + self.bad_samples
        return self.bad_samples / seen if seen else 0.0


def _option_names() -> tuple[str, ...]:
    import inspect

    params = inspect.signature(Loader.__init__).parameters
    return tuple(n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _choice(name: str, value: object, table: Mapping[str, str]) -> None:
    if value not in table:
        valid = "; ".join(f"{k!r}: {v}" for k, v in table.items())
        raise LoaderOptionError(f"{name}={value!r} is not valid. Valid values: {valid}")


def _int(name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise LoaderOptionError(f"{name}={value!r} is not valid (expected an integer >= {low})")


def _seconds(name: str, value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise LoaderOptionError(f"{name}={value!r} is not valid (expected seconds > 0)")


def _bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise LoaderOptionError(f"{name}={value!r} is not valid (expected True or False)")


def _require_protocols(source: object) -> None:
    """A URL whose scheme needs an extra (``s3://``: remote, ``hf://``: hf) names that extra
    here, before anything is opened."""
    from visiondata.registry.extras import require_protocol

    if isinstance(source, str):
        require_protocol(source)
    elif isinstance(source, Mapping):
        for key in source:
            _require_protocols(key)
    elif isinstance(source, list | tuple):
        for item in source:
            _require_protocols(item)


def _is_weighted(source: object) -> bool:
    return (
        isinstance(source, (list, tuple))
        and bool(source)
        and all(isinstance(s, tuple) and len(s) == 2 and not isinstance(s[1], str) for s in source)
    )


class Loader:
    """Batches of shards for this rank: ``for batch in Loader(source, batch_size=32)``.

    ``source``: a manifest (path/URL), a directory or URL holding ``manifest.json`` (``split``
    picks the split), a list of shard URLs, a brace pattern, or a list of ``(source, weight)``
    pairs to mix. Batches are dicts keyed by field plus ``__key__`` (see :mod:`.collate`), or
    what ``collate_fn`` makes of the list of samples. Every option is checked here; see the
    README section "Streaming loader" for each.

    Epochs follow ``DataLoader`` with ``DistributedSampler`` and torchdata's
    ``StatefulDataLoader``: each ``iter(loader)`` starts an epoch from its beginning, except the
    first one after :meth:`load_state_dict`, which resumes where the state was taken;
    :meth:`set_epoch` picks the epoch, and after a complete pass the loader moves on to the
    next epoch by itself.
    """

    def __init__(
        self,
        source: Any,
        *,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        num_workers: int = 0,
        threads_per_worker: int | None = None,
        world: World | None = None,
        split: str = "train",
        fields: Sequence[str] | None = None,
        decode: str | Mapping[str, Any] = "auto",
        allow_pickle: Collection[str] = (),
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        on_error: str = "skip",
        max_error_rate: float | None = None,
        drop_last: bool = False,
        remainder: str = "drop",
        buffer_size: int = 1000,
        balance: str = "none",
        samples_per_epoch: int | None = None,
        verify: str = "auto",
        max_member_bytes: int = MAX_MEMBER_BYTES,
        max_pixels: int = MAX_PIXELS,
        allow_external_shards: bool = False,
        storage_options: Mapping[str, Any] | None = None,
        retries: int = 5,
        backoff: float = 0.25,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        retry_timeout: float = 30.0,
        chunk_bytes: int = 4 << 20,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_bytes: int | None = None,
        prefetch_factor: int | None = None,
        persistent_workers: bool | None = None,
        worker_timeout: float = 300.0,
        multiprocessing_context: str | None = None,
        collate_fn: Callable[[list[dict[str, Any]]], Any] | None = None,
        card: str | None = None,
        **unknown: object,
    ) -> None:
        if unknown:
            valid = sorted(OPTION_NAMES)
            bad = ", ".join(
                f"{n!r}"
                + (
                    f" (did you mean {m[0]!r}?)"
                    if (m := difflib.get_close_matches(n, valid, 1))
                    else ""
                )
                for n in unknown
            )
            raise LoaderOptionError(f"unknown option(s) {bad}. Valid options: {', '.join(valid)}")
        _int("batch_size", batch_size, 1)
        _bool("shuffle", shuffle)
        _int("seed", seed, 0)
        _int("num_workers", num_workers, 0)
        if threads_per_worker is not None:
            _int("threads_per_worker", threads_per_worker, 1)
        _choice("on_error", on_error, ON_ERROR)
        _bool("drop_last", drop_last)
        _choice("remainder", remainder, REMAINDER_MODES)
        _int("buffer_size", buffer_size, 0)
        _choice("balance", balance, BALANCE_MODES)
        _choice("verify", verify, VERIFY_MODES)
        _int("retries", retries, 0)
        _int("chunk_bytes", chunk_bytes, 1)
        _int("max_member_bytes", max_member_bytes, 1)
        _int("max_pixels", max_pixels, 1)
        _bool("allow_external_shards", allow_external_shards)
        for name, seconds in (
            ("connect_timeout", connect_timeout),
            ("read_timeout", read_timeout),
            ("retry_timeout", retry_timeout),
            ("worker_timeout", worker_timeout),
        ):
            _seconds(name, seconds)
        if prefetch_factor is not None:
            _int("prefetch_factor", prefetch_factor, 1)
            if num_workers == 0:
                raise LoaderOptionError(
                    f"prefetch_factor={prefetch_factor!r} needs num_workers > 0 (batches are "
                    "prefetched by worker processes; leave it None with num_workers=0)"
                )
        if persistent_workers is not None:
            _bool("persistent_workers", persistent_workers)
            if persistent_workers and num_workers == 0:
                raise LoaderOptionError(
                    "persistent_workers=True needs num_workers > 0 (there are no worker "
                    "processes to keep)"
                )
        if multiprocessing_context is not None:
            _choice("multiprocessing_context", multiprocessing_context, start_methods())
            if num_workers == 0:
                raise LoaderOptionError(
                    f"multiprocessing_context={multiprocessing_context!r} needs num_workers > 0 "
                    "(it is how worker processes start)"
                )
        if collate_fn is not None and not callable(collate_fn):
            raise LoaderOptionError("collate_fn must be a function of the list of sample dicts")
        if samples_per_epoch is not None:
            _int("samples_per_epoch", samples_per_epoch, 1)
        if cache_bytes is not None:
            _int("cache_bytes", cache_bytes, 0)
        if max_error_rate is not None and not (
            isinstance(max_error_rate, (int, float)) and 0 <= max_error_rate <= 1
        ):
            raise LoaderOptionError(f"max_error_rate={max_error_rate!r} is not a fraction 0..1")
        if not isinstance(backoff, (int, float)) or isinstance(backoff, bool) or backoff < 0:
            raise LoaderOptionError(f"backoff={backoff!r} is not valid (expected seconds >= 0)")
        if world is not None and not isinstance(world, World):
            raise LoaderOptionError(f"world must be a World or None, got {type(world).__name__}")
        if transform is not None and not callable(transform):
            raise LoaderOptionError("transform must be a function of the sample dict")
        if isinstance(fields, str):
            raise LoaderOptionError(f"fields={fields!r}: expected a list of field names")
        _require_protocols(source)
        decoder = SampleDecoder(
            decode,
            fields,
            allow_pickle,
            max_pixels,
            into_batch=transform is None and collate_fn is None,
        )
        limits = Limits(max_member_bytes=max_member_bytes, max_pixels=max_pixels)
        remote = RemoteOptions(
            retries=retries,
            backoff=float(backoff),
            chunk_bytes=chunk_bytes,
            storage_options=dict(storage_options or {}),
            cache_dir=None if cache_dir is None else os.fspath(cache_dir),
            cache_bytes=cache_bytes,
            connect_timeout=float(connect_timeout),
            read_timeout=float(read_timeout),
            retry_timeout=float(retry_timeout),
        )

        weighted = _is_weighted(source)
        pairs: list[tuple[Any, float | None]] = (
            [(s, float(w)) for s, w in source] if weighted else [(source, None)]
        )
        self.sources: tuple[Source, ...] = tuple(
            resolve_source(s, split, remote, allow_external=allow_external_shards, limits=limits)
            for s, _ in pairs
        )
        for src in self.sources:
            if card is not None and src.card is not None and src.card != card:
                raise LoaderOptionError(
                    f"{src.where} was written for card {src.card!r}, not {card!r}"
                )
            if fields is not None and src.fields is not None:
                unknown_fields = [f for f in fields if f not in src.fields]
                if unknown_fields:
                    raise LoaderOptionError(
                        f"fields {unknown_fields} are not in {src.where}; its manifest lists "
                        f"{list(src.fields)}"
                    )
        weights = tuple(w for _, w in pairs if w is not None) if weighted else None
        if weights is not None and any(w <= 0 for w in weights):
            raise LoaderOptionError(f"mixing weights must be > 0, got {list(weights)}")
        if balance == "class":
            for src in self.sources:
                if any(s.labels is None for s in src.shards):
                    raise LoaderOptionError(
                        f"balance='class' needs per-sample labels, and {src.where} has shards "
                        "without them in its manifest"
                    )
        counts = tuple(
            SourceCounts(
                shard_sizes=tuple(s.num_samples for s in src.shards),
                labels=None
                if balance != "class"
                else np.concatenate(
                    [s.labels for s in src.shards if s.labels is not None]
                    or [np.zeros(0, np.int64)]
                ),
            )
            for src in self.sources
        )
        self.plan = Plan(
            shards=tuple(s for src in self.sources for s in src.shards),
            sources=counts,
            weights=weights,
            seed=seed,
            shuffle=shuffle,
            buffer_size=buffer_size,
            balance=balance,
            samples_per_epoch=samples_per_epoch,
            remainder=remainder,
            batch_size=batch_size,
            drop_last=drop_last,
            decoder=decoder,
            transform=None if transform is None else bind_max_pixels(transform, max_pixels),
            on_error=on_error,
            verify=verify == "auto",
            remote=remote,
            limits=limits,
            collate=collate_fn,
            threads=threads_for(num_workers, threads_per_worker),
        )
        self.world = world if world is not None else detect_world()
        self.num_workers = num_workers
        self.prefetch_factor = (
            prefetch_factor if prefetch_factor is not None or not num_workers else 2
        )
        self.persistent_workers = (
            num_workers > 0 if persistent_workers is None else persistent_workers
        )
        self.worker_timeout = float(worker_timeout)
        self.multiprocessing_context = multiprocessing_context
        self.max_error_rate = max_error_rate
        self.stats = LoaderStats()
        self._fingerprint = self._compute_fingerprint()
        # not an lru_cache of a bound method: that would make the loader a reference cycle,
        # freed only by the garbage collector, and its persistent workers with it at any moment
        self._counts = BatchCounts(self.plan, self.world.world_size, max(1, num_workers))
        # where the loader is: epoch, the earlier segments of it (elastic resume), batches of
        # the current segment delivered; ``_resume``: the next iter() continues from there
        self._epoch = 0
        self._earlier: tuple[Segment, ...] = ()
        self._batches = 0
        self._resume = False
        self._live: Pass | None = None  # the pass in progress
        self._generation = 0  # which iter() is the live one
        self._delivered: dict[str, Any] | None = None  # set by a look-ahead stage (prefetcher)
        self.ring: RingTable | None = None
        if num_workers and collate_fn is None:
            # each worker's batches reuse a few shared-memory slots (see .ring): the ones in
            # the DataLoader's queue, the one the user holds and the one being stacked
            self.ring = RingTable(num_workers, (self.prefetch_factor or 2) + RING_SPARE_SLOTS)
            weakref.finalize(self, self.ring.close)
        self._dataset = BatchDataset(self.plan, self.world, num_workers, self.ring)
        # Persistent workers run on into the next epoch (its first tickets are sent while
        # this epoch's last batches are still being made), so a new epoch does not start
        # with a wait for its first batches; the next iter() takes them if it is that epoch
        # (see _workers). Without persistent workers, each pass's workers end with it.
        self._sampler = PassSampler(NextEpoch(self._counts) if self.persistent_workers else None)
        self._dataloader: DataLoader[Any] | None = None
        # the DataLoader iterator of the live workers
        self._it: Iterator[tuple[Any, Stats]] | None = None
        self._ahead: Pass | None = None  # the pass ``_it`` has run on into, if any
        self._id = next(_loader_ids)
        weakref.finalize(self, _WORKER_QUEUES.pop, self._id, None)

    # -- size and position -------------------------------------------------------------
    def _num_batches(self, epoch: int, earlier: tuple[Segment, ...]) -> int:
        return self._counts(epoch, earlier)

    def __len__(self) -> int:
        """Batches this rank gets in the pass in progress, or else in the next one: the same on
        every rank; after an elastic resume, the batches of the rest of the epoch."""
        if self._live is not None and self._batches < self._live.stop:
            return self._live.stop
        return self._next_pass().stop

    @property
    def epoch(self) -> int:
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch of the next pass (its shuffle order), as ``DistributedSampler``
        does. Right after :meth:`load_state_dict`, naming the state's own epoch keeps its
        position."""
        _int("epoch", epoch, 0)
        if not (self._resume and epoch == self._epoch):
            self._epoch, self._earlier, self._batches = epoch, (), 0
            self._resume = False
            self._end_pass()
        self._delivered = None

    def _end_pass(self) -> None:
        """A pass in progress no longer applies: its iterator raises if used again."""
        if self._live is not None:
            self._live = None
            self._generation += 1

    def _next_pass(self) -> Pass:
        """What the next ``iter()`` delivers. Right after a state is loaded: the rest of its
        epoch, from where it was taken (a state taken during an epoch's last batch leaves an
        empty rest; the pass after it is the next epoch, so a loop that counts epochs itself,
        as Lightning's does, stays in step). Otherwise the epoch from its beginning: the next
        epoch once the last pass delivered every batch."""
        epoch, earlier, batches = self._epoch, self._earlier, self._batches
        if not self._resume:
            nb = self._num_batches(epoch, earlier)
            done = batches >= nb and (batches > 0 or bool(earlier))
            epoch, earlier, batches = epoch + (1 if done else 0), (), 0
        return Pass(epoch, earlier, batches, self._num_batches(epoch, earlier))

    def _compute_fingerprint(self) -> str:
        p = self.plan
        data = {
            "shards": [(s.name, s.num_samples, s.sha256) for s in p.shards],
            "sources": [len(src.shards) for src in self.sources],
            "weights": p.weights,
            "shuffle": p.shuffle,
            "buffer_size": p.buffer_size,
            "balance": p.balance,
            "samples_per_epoch": p.samples_per_epoch,
            "remainder": p.remainder,
            "drop_last": p.drop_last,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def _here(self, batches: int = 0) -> Segment:
        w = self.world
        return Segment(w.world_size, self.num_workers, self.plan.batch_size, batches)

    def _snapshot(self) -> dict[str, Any]:
        """The position as of the last batch this loader yielded (what a look-ahead stage
        records with each batch it takes)."""
        return LoaderState(
            epoch=self._epoch,
            seed=self.plan.seed,
            fingerprint=self._fingerprint,
            current=self._here(self._batches),
            earlier=self._earlier,
        ).to_dict()

    def _report_delivered(self, state: Mapping[str, Any]) -> None:
        """A look-ahead stage (:class:`~visiondata.loaders.DevicePrefetcher`) reports the
        position as of the batch it last handed on; :meth:`state_dict` returns it."""
        self._delivered = dict(state)

    def state_dict(self) -> dict[str, Any]:
        """Where the epoch is, as of the last batch the user received: a small JSON-able dict,
        the same on every rank (take it on any rank). Through a
        :class:`~visiondata.loaders.DevicePrefetcher`, the batches it has taken but not yet
        handed on do not count."""
        if self._delivered is not None:
            return dict(self._delivered)
        return self._snapshot()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Make the next ``iter()`` continue the epoch where ``state`` was taken.

        The same world, worker count and batch size continue exactly (the batches the
        uninterrupted run would have produced). Any other (elastic resume) delivers the rest of
        the epoch exactly once over this loader's world, every rank the same number of batches,
        in another order (see :mod:`visiondata.loaders._stream.elastic`)."""
        loaded = LoaderState.from_dict(state)
        loaded.check_compatible(self.plan.seed, self._fingerprint)
        earlier, cur = loaded.earlier, loaded.current
        if cur.same_world(self._here()):
            batches = cur.batches
        elif cur.batches == 0:  # that world delivered nothing of this epoch
            batches = 0
        else:
            earlier, batches = (*earlier, cur), 0
        try:
            nb = self._num_batches(loaded.epoch, earlier)
        except ValueError as exc:
            raise StateError(f"state does not fit this loader's data: {exc}") from None
        if batches > nb:
            raise StateError(
                f"state says {batches} batches of epoch {loaded.epoch} were delivered, but this "
                f"loader's epoch has {nb} per rank"
            )
        self._epoch, self._earlier, self._batches = loaded.epoch, earlier, batches
        self._end_pass()
        self._resume, self._delivered = True, None

    # -- iteration ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        """Start a pass (see :meth:`_next_pass`). A new ``iter()`` ends the previous one: its
        iterator raises if used again (one pass at a time, as with persistent workers)."""
        run = self._next_pass()
        self._epoch, self._earlier, self._batches = run.epoch, run.earlier, run.start
        self._resume = False
        self._live, self._delivered = run, None
        self._generation += 1
        return self._deliver(run, self._generation)

    def _deliver(self, run: Pass, generation: int) -> Iterator[Any]:
        source = self._in_process(run) if self.num_workers == 0 else self._workers(run)
        # a chained sampler (persistent workers only) does not end with the pass: the pass
        # ends after its batches
        then = self._sampler.then if self.num_workers else None
        left = run.stop - run.start
        try:
            while not (then is not None and left == 0):
                if generation != self._generation:
                    raise LoaderError(
                        "this iterator was ended by a newer iter(loader), set_epoch() or "
                        "load_state_dict() (one pass at a time, as with DataLoader's persistent "
                        "workers)"
                    )
                try:
                    batch, stats = self._next(source, run)
                except StopIteration:
                    break
                self._account(stats)
                self._batches += 1
                left -= 1
                yield batch
                if stats["error"] is not None:
                    raise stats["error"]
            if self.max_error_rate is not None and self.stats.error_rate > self.max_error_rate:
                self._too_many()
        except GeneratorExit:  # closed by its user: persistent workers wait for the next pass
            raise
        except BaseException as exc:
            # An error ends the pass, and its workers with it, now. Left to the collector they
            # would cost 5 s each: the error's traceback holds this frame (and the Loader) in
            # a reference cycle, and when the collector breaks a cycle it runs the worker
            # queues' finalisers before the DataLoader iterator's __del__, whose stop message
            # is then never sent, so it waits out its join timeout for every worker (seen as
            # 10 s stalls in the test suite after each raise with two workers).
            if self.num_workers and generation == self._generation:  # (not a newer pass's)
                if isinstance(exc, RuntimeError) and str(exc).startswith("DataLoader worker ("):
                    self._died(source, run, str(exc))  # DataLoader's SIGCHLD handler, anywhere
                self._stop_workers(source)
            raise
        self._epoch, self._earlier, self._batches = run.epoch + 1, (), 0
        self._live = None
        if then is not None:
            self._ahead = then(run)  # what the workers are making now

    def _next(self, source: Iterator[tuple[Any, Stats]], run: Pass) -> tuple[Any, Stats]:
        """The next batch of ``source``. From workers: wait at most ``worker_timeout`` in all,
        looking every :data:`WORKER_POLL_S` whether a worker died."""
        if not self.num_workers:
            return next(source)
        deadline = time.monotonic() + self.worker_timeout
        while True:
            try:
                return next(source)
            except RuntimeError as exc:
                # DataLoader's own words (torch 2.x) for its timeout; its words for a dead
                # worker are turned into WorkerDiedError by the pass (_deliver), wherever its
                # SIGCHLD handler raised them
                if str(exc).startswith("DataLoader timed out"):
                    if time.monotonic() < deadline:
                        continue  # nothing lost: torch raises before it takes anything
                    self._stuck(source, run)
                raise
            except (OSError, EOFError) as exc:
                # a batch whose shared memory a worker was still to hand over when it died
                # (its socket reset), seen before the worker can be waited for
                if _any_died(source):
                    self._died(source, run, str(exc))
                raise

    def _in_process(self, run: Pass) -> Iterator[tuple[Any, Stats]]:
        for ticket in run.tickets():
            yield self._dataset[ticket]

    def _workers(self, run: Pass) -> Iterator[tuple[Any, Stats]]:
        ahead, self._ahead = self._ahead, None
        if self._it is not None and ahead == run:
            return self._it  # the workers ran on into this pass: its first batches are made
        self._sampler.current = run
        if self._dataloader is None:
            self._dataloader = DataLoader(
                self._dataset,  # type: ignore[arg-type]
                sampler=self._sampler,
                batch_size=None,
                num_workers=self.num_workers,
                collate_fn=_identity,
                prefetch_factor=self.prefetch_factor,
                persistent_workers=self.persistent_workers,
                timeout=min(self.worker_timeout, WORKER_POLL_S),  # see _next
                worker_init_fn=_stacks_on_signal,
                multiprocessing_context=worker_context(self.multiprocessing_context),
            )
        try:
            with warnings.catch_warnings():
                # torch's own hint on a pickling failure; the error below says it for us
                warnings.filterwarnings("ignore", "Got pickle error when attempting to start")
                it = _start_workers(self._dataloader)
            # A Loader dropped inside a reference cycle (a Lightning trainer's, or a raised
            # error's traceback) is freed by the garbage collector, which runs the weakref
            # finalisers of everything in the cycle before any __del__: the worker queues'
            # feeder threads stop first, the DataLoader iterator's __del__ then sends its stop
            # messages into dead queues and waits 5 s for each worker before killing it
            # (measured: 10 s per two-worker Loader in the test suite). Held from this
            # module, the queues are not part of the cycle, so they still work when __del__
            # runs; the Loader's own finaliser lets go of them. (torch keeps them in a
            # private attribute; without it there is nothing to hold and nothing changes.)
            _WORKER_QUEUES[self._id] = list(getattr(it, "_index_queues", ()))
            if self._sampler.then is not None:
                self._it = it  # kept: the next pass may take what it runs on into
            return it
        except Exception as exc:
            # forkserver and spawn send the dataset (transform, collate_fn, decoders) to each
            # worker by pickle; fork copies it. Python's own words for what failed follow.
            if not _is_pickling_error(exc):
                raise
            self._dataloader = None
            raise LoaderOptionError(
                f"multiprocessing_context={self.multiprocessing_context!r} sends the transform, "
                f"collate_fn and decoders to each worker process by pickle, and pickling failed: "
                f"{exc}. "
                "Define them at module level (not a lambda or a nested function), or pass "
                "multiprocessing_context='fork' (safe only when this process runs no other "
                "threads)"
            ) from exc

    def _stop_workers(self, source: Any) -> None:
        """Stop the workers of the DataLoader iterator ``source``; the next pass starts new
        ones (a persistent DataLoader's iterator is not reused once stopped)."""
        _forget_pids(source)
        shutdown = getattr(source, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        self._dataloader, self._it, self._ahead = None, None, None

    def _stuck(self, source: Any, run: Pass) -> None:
        """No batch came within ``worker_timeout``: print every worker's stack (the signal
        :func:`_stacks_on_signal` set up), stop the workers (the next pass starts new ones),
        and raise :class:`WorkerTimeoutError` naming the worker that owed the batch."""
        procs = list(getattr(source, "_workers", ()))
        info = getattr(source, "_task_info", {}).get(getattr(source, "_rcvd_idx", None))
        owed = info[0] if info else None
        alive = [(i, p.pid) for i, p in enumerate(procs) if p.is_alive() and p.pid]
        for _, pid in alive:
            with contextlib.suppress(OSError):  # exited meanwhile
                os.kill(pid, STACKS_SIGNAL)
        if alive:
            time.sleep(0.5)  # the dumps are written by the workers' own signal handlers
        self._stop_workers(source)  # joins each for 5 s, then terminates it: bounded
        self._end_pass()
        who = (
            f"worker {owed} (pid {procs[owed].pid})"
            if owed is not None and owed < len(procs)
            else "the workers"
        )
        raise WorkerTimeoutError(
            f"{who} sent no batch for {self.worker_timeout:g} s (worker_timeout) at batch "
            f"{self._batches} of epoch {run.epoch}; the workers' Python stacks are printed on "
            "stderr above and the workers were stopped (a read or lock that never returns, or "
            "a transform that hangs); the next iter() starts new workers"
        ) from None

    def _died(self, source: Any, run: Pass, said: str) -> None:
        """A worker ended without being asked: stop the others (the next pass starts new
        ones) and raise :class:`WorkerDiedError` naming each dead worker and how it ended."""
        procs = list(getattr(source, "_workers", ()))
        dead = []
        for i, proc in enumerate(procs):
            code = proc.exitcode  # set for the dead: torch saw each end before it raised
            if code is not None:
                dead.append(f"worker {i} (pid {proc.pid}) {_how_it_ended(code)}")
        self._stop_workers(source)
        self._end_pass()
        raise WorkerDiedError(
            f"{' and '.join(dead) or said} at batch {self._batches} of epoch {run.epoch}; a "
            "worker killed by a crash prints its Python stacks on stderr above; the other "
            "workers were stopped and the next iter() starts new ones"
        ) from None

    def _account(self, delta: dict[str, Any]) -> None:
        st = self.stats
        st.batches += 1
        st.samples += delta["samples"]
        st.bytes_read += delta["bytes_read"]
        st.retries += delta["retries"]
        buffer = delta.get("buffer")
        if buffer == "reused":
            st.reused_buffers += 1
        elif buffer == "fresh":
            st.fresh_buffers += 1
        for shard, key, reason, kind in delta["bad"]:
            st.bad_samples += 1
            st.bad.append((shard, key, reason))
            st.bad_kinds[kind] += 1
            warnings.warn(
                f"skipped sample {key!r} of shard {shard}: {reason}", BadSampleWarning, stacklevel=3
            )
        del st.bad[:-100]
        seen = st.samples + st.bad_samples
        if (
            self.max_error_rate is not None
            and seen >= ERROR_RATE_MIN_SAMPLES
            and st.error_rate > self.max_error_rate
        ):
            self._too_many()

    def _too_many(self) -> None:
        st = self.stats
        raise TooManyErrorsError(
            f"{st.bad_samples} of {st.samples + st.bad_samples} samples were bad "
            f"({st.error_rate:.1%} > max_error_rate {self.max_error_rate:.1%}); last: "
            + "; ".join(f"{s}:{k}: {r}" for s, k, r in st.bad[-3:])
        )


OPTION_NAMES = _option_names()


def _identity(x: Any) -> Any:
    return x


#: what a forkserver imports once, so each worker it forks has torch and the loader already
#: (measured: a 2-worker Loader's first batch in 0.3 s instead of 4.2 s, as fast as fork)
FORKSERVER_PRELOAD = ("torch", "visiondata.loaders._stream.loader")


def start_methods() -> dict[str, str]:
    """The start methods this platform has, with what each means for the Loader."""
    import multiprocessing

    meaning = {
        "fork": "copy this process (fast, nothing pickled; can hang a worker when this "
        "process runs other threads)",
        "forkserver": "fork from a clean single-threaded server that preloaded torch "
        "(transform and collate_fn must pickle)",
        "spawn": "a fresh interpreter per worker (slowest; transform and collate_fn must pickle)",
    }
    return {m: meaning[m] for m in multiprocessing.get_all_start_methods() if m in meaning}


def worker_context(method: str | None) -> Any:
    """The multiprocessing context for ``method`` (``None``: DataLoader's default). A
    forkserver not yet running is told to preload :data:`FORKSERVER_PRELOAD`, added to what
    it was already asked to preload."""
    if method is None:
        return None
    import multiprocessing
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        server = forkserver._forkserver  # the module's one server; private, hence getattr
        if getattr(server, "_forkserver_pid", None) is None:
            asked = list(getattr(server, "_preload_modules", ["__main__"]))
            ctx.set_forkserver_preload(asked + [m for m in FORKSERVER_PRELOAD if m not in asked])
    return ctx


def _is_pickling_error(exc: BaseException) -> bool:
    import pickle

    if isinstance(exc, pickle.PicklingError):
        return True
    return isinstance(exc, (AttributeError, TypeError)) and "pickle" in str(exc)


#: the signal a stuck worker is sent to print its Python stack (faulthandler, async-safe)
STACKS_SIGNAL = signal.SIGUSR1


def _stacks_on_signal(worker_id: int) -> None:
    """In each worker: print every thread's Python stack on stderr at :data:`STACKS_SIGNAL`
    (the main process sends it before giving up on a stuck worker), and on a crash (SIGSEGV,
    SIGBUS, SIGFPE, SIGABRT, SIGILL) before DataLoader's own handler, which it chains to,
    says only that one happened. faulthandler writes from the signal handler itself, so a
    worker stuck on a lock or in C code still answers."""
    faulthandler.register(STACKS_SIGNAL, file=sys.stderr, all_threads=True)
    if faulthandler.is_enabled():
        # on in the parent (pytest, ``python -X faulthandler``), so on here in name only:
        # DataLoader's handlers replaced its own, and enable() would keep them. Off, then
        # DataLoader's set again for it to chain to.
        from torch._C import _set_worker_signal_handlers  # what DataLoader's worker loop calls

        faulthandler.disable()
        _set_worker_signal_handlers()
    faulthandler.enable(file=sys.stderr, all_threads=True)


def _start_workers(dataloader: DataLoader[Any]) -> Iterator[tuple[Any, Stats]]:
    """``iter(dataloader)``, which starts its worker processes, with every object of this
    process frozen out of the garbage collector's reach meanwhile (:func:`gc.freeze`, as
    Python's documentation advises before a fork). A forked worker inherits this process's
    uncollected garbage; its own collector would otherwise free it there, running in the
    worker the finalisers of objects that belong to this process: a C library's context whose
    threads the worker does not have, a temporary directory removed, a buffered file flushed
    twice (seen in CI: a worker killed by SIGSEGV while "Garbage-collecting" objects it had
    inherited from the test process, in one test order out of several). Frozen, they are never
    looked at in the worker (which also spares their pages from being copied), and here they
    are collected as before."""
    frozen = gc.get_freeze_count()  # the user's own (a pre-fork server's): theirs to undo
    gc.freeze()
    try:
        return iter(dataloader)  # type: ignore[return-value]
    finally:
        if not frozen:
            gc.unfreeze()


def _any_died(source: Any, wait: float = 1.0) -> bool:
    """Whether a worker of DataLoader iterator ``source`` ended, waiting up to ``wait``
    seconds for one that is closing (its files are closed before it can be waited for)."""
    procs = list(getattr(source, "_workers", ()))
    deadline = time.monotonic() + wait
    while procs:
        if any(p.exitcode is not None for p in procs):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return False


def _forget_pids(source: Any) -> None:
    """Take the workers of ``source`` out of DataLoader's SIGCHLD watch before they are
    stopped: its handler raises for any watched worker that ended badly, on whatever line the
    main thread is on (seen: inside the stop itself, for a worker that had crashed). Torch
    does the same at the end of its stop; this is that step first. (Private torch names,
    hence getattr: without them nothing changes.)"""
    if getattr(source, "_worker_pids_set", False):
        from torch.utils.data._utils import signal_handling

        forget = getattr(signal_handling, "_remove_worker_pids", None)
        if forget is not None:
            forget(id(source))
            source._worker_pids_set = False


def _how_it_ended(exitcode: int) -> str:
    """``-11`` -> ``was killed by signal SIGSEGV (Segmentation fault)``; ``3`` -> ``exited
    with code 3``."""
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        sig = signal.Signals(-exitcode)
    except ValueError:
        return f"was killed by signal {-exitcode}"
    return f"was killed by signal {sig.name} ({signal.strsignal(sig)})"


def load(card: str, split: str, root: str | os.PathLike[str], **options: Any) -> Loader:
    """A :class:`Loader` over the shards of dataset ``card`` under ``root`` (a directory or
    URL holding the converter's ``manifest.json``), with the fields and decoders named in
    the card's ``shards`` section. ``split`` is one of the card's split names or an alias of
    one (``val`` for ``validation``, see :data:`~visiondata.loaders.shards.splits.ALIASES`).
    Other options pass through to :class:`Loader`."""
    from visiondata.registry import get_card

    c = get_card(card)
    if c.shards is None:
        raise LoaderOptionError(f"card {c.id!r} has no 'shards' section, so it names no fields")
    options.setdefault("fields", list(c.shards.fields))
    return Loader(root, split=card_split(c.id, list(c.splits), split), card=c.id, **options)


def card_split(card: str, names: Sequence[str], split: str) -> str:
    """The card's name for ``split``: the name itself or the card's split it is an alias of."""
    for cand in split_candidates(split):
        if cand in names:
            return cand
    aliases = ", ".join(f"{a} -> {t}" for a, t in ALIASES.items())
    raise LoaderOptionError(
        f"card {card!r} has no split {split!r}; its splits are {', '.join(names)} "
        f"(aliases: {aliases})"
    )
