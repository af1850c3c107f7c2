"""The :class:`Loader`: an iterable of batches for this rank, resumable mid-epoch."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .._decode.fields import SampleDecoder, bind_max_pixels
from ..errors import BadSampleWarning, LoaderOptionError, TooManyErrorsError
from ..shards.members import MAX_MEMBER_BYTES, MAX_PIXELS, Limits
from ..shards.remote import RemoteOptions
from ..shards.sources import Source, resolve_source
from .mixing import BALANCE_MODES, SourceCounts
from .partition import REMAINDER_MODES, num_batches, worker_batches_before
from .pipeline import STATS_KEY, Plan, WorkerStream
from .state import LoaderState
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
    pairs to mix. Batches are dicts keyed by field plus ``__key__`` (see :mod:`.collate`).
    Every option is checked here; see the README section "Streaming loader" for each.
    """

    def __init__(
        self,
        source: Any,
        *,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        num_workers: int = 0,
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
        prefetch_factor: int = 2,
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
        ):
            _seconds(name, seconds)
        _int("prefetch_factor", prefetch_factor, 1)
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
        decoder = SampleDecoder(decode, fields, allow_pickle, max_pixels)
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
        )
        self.world = world if world is not None else detect_world()
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.max_error_rate = max_error_rate
        self.stats = LoaderStats()
        self._epoch = 0
        self._batches = 0
        self._fingerprint = self._compute_fingerprint()
        self._rank_samples = lru_cache(maxsize=4)(self._compute_rank_samples)

    # -- size and position -------------------------------------------------------------
    def _compute_rank_samples(self, epoch: int) -> int:
        return self.plan.rank_samples(epoch, self.world)

    def __len__(self) -> int:
        """Batches this rank gets this epoch (the same on every rank)."""
        return num_batches(
            self._rank_samples(self._epoch), self.plan.batch_size, self.plan.drop_last
        )

    @property
    def epoch(self) -> int:
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch (its shuffle order). The same epoch again keeps the position."""
        _int("epoch", epoch, 0)
        if epoch != self._epoch:
            self._epoch = epoch
            self._batches = 0

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

    def _state(self) -> LoaderState:
        return LoaderState(
            epoch=self._epoch,
            batches=self._batches,
            seed=self.plan.seed,
            rank=self.world.rank,
            world_size=self.world.world_size,
            num_workers=max(1, self.num_workers),
            batch_size=self.plan.batch_size,
            fingerprint=self._fingerprint,
        )

    def state_dict(self) -> dict[str, Any]:
        """Where this rank is: a small versioned dict (JSON-able)."""
        return self._state().to_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue exactly where ``state`` was taken (same data, options and world)."""
        loaded = LoaderState.from_dict(state)
        loaded.check_compatible(self._state())
        self._epoch = loaded.epoch
        self._batches = loaded.batches

    # -- iteration ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict[str, Any]]:
        epoch, start = self._epoch, self._batches
        source = (
            self._in_process(epoch, start) if self.num_workers == 0 else self._workers(epoch, start)
        )
        for batch in source:
            self._account(batch.pop(STATS_KEY))
            self._batches += 1
            yield batch
        if self.max_error_rate is not None and self.stats.error_rate > self.max_error_rate:
            self._too_many()
        self._epoch, self._batches = epoch + 1, 0

    def _in_process(self, epoch: int, start: int) -> Iterator[dict[str, Any]]:
        yield from WorkerStream(self.plan, epoch, self.world.with_worker(0, 1), start)

    def _workers(self, epoch: int, start: int) -> Iterator[dict[str, Any]]:
        ds = _WorkerDataset(self.plan, epoch, self.world, start, self.num_workers)
        dl = DataLoader(
            ds,
            batch_size=None,
            num_workers=self.num_workers,
            collate_fn=_identity,
            prefetch_factor=self.prefetch_factor,
        )
        yield from dl

    def _account(self, delta: dict[str, Any]) -> None:
        st = self.stats
        st.batches += 1
        st.samples += delta["samples"]
        st.bytes_read += delta["bytes_read"]
        st.retries += delta["retries"]
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


class _WorkerDataset(IterableDataset[dict[str, Any]]):
    """Runs in each DataLoader worker as logical worker ``(id + start) % W``, so that torch's
    round-robin over workers yields the rank's batches ``start, start + 1, ...`` in order."""

    def __init__(self, plan: Plan, epoch: int, world: World, start: int, n: int) -> None:
        self.plan, self.epoch, self.world, self.start, self.n = plan, epoch, world, start, n

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        wid = 0 if info is None else info.id
        logical = (wid + self.start) % self.n
        local = worker_batches_before(self.start, self.n, logical)
        yield from WorkerStream(
            self.plan, self.epoch, self.world.with_worker(logical, self.n), local
        )


def load(card: str, split: str, root: str | os.PathLike[str], **options: Any) -> Loader:
    """A :class:`Loader` over the shards of dataset ``card`` under ``root`` (a directory or
    URL holding the converter's ``manifest.json``), with the fields and decoders named in
    the card's ``shards`` section. Other options pass through to :class:`Loader`."""
    from visiondata.registry import get_card

    c = get_card(card)
    if c.shards is None:
        raise LoaderOptionError(f"card {c.id!r} has no 'shards' section, so it names no fields")
    options.setdefault("fields", list(c.shards.fields))
    return Loader(root, split=split, card=c.id, **options)
