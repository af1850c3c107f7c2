"""The epoch sequence: which samples, in which order, before partitioning. Pure.

A sample is named by a global id: sources' shards are numbered one after another, and a
shard's samples follow each other. :func:`epoch_sequence` returns one epoch's ids:

* one source: every sample once, shard by shard, with the shard order permuted per epoch;
* several sources with weights: exactly ``k * w_s`` samples of source ``s`` (weights reduced
  to the smallest integers), ``k`` as large as no source needs to repeat itself (or as
  ``samples_per_epoch`` asks, cycling through small sources), rounded down to a multiple of
  ``world_size`` so every rank gets exactly the same mix; sources are interleaved evenly
  (item ``j`` of source ``s`` sits at ``(j + 1/2) / c_s``);
* ``balance="class"``: per source, the same number of samples, drawn so that every class
  gets an equal share (samples of rare classes repeat, in a new order each pass), then put
  back in shard order so reading stays sequential.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .shuffle import IntArray, permutation

__all__ = [
    "BALANCE_MODES",
    "SourceCounts",
    "balanced_selection",
    "epoch_sequence",
    "integer_weights",
    "interleave",
    "mix_counts",
]

BALANCE_MODES: dict[str, str] = {
    "none": "every sample once per epoch (or as the mixing weights ask)",
    "class": "equal numbers of samples per class, from the manifest's per-sample labels",
}


@dataclass(frozen=True, eq=False)
class SourceCounts:
    """What the pure functions know about a source: samples per shard and optional labels."""

    shard_sizes: tuple[int, ...]
    labels: IntArray | None = None  # per sample in shard order; -1 for none

    @property
    def total(self) -> int:
        return sum(self.shard_sizes)


def integer_weights(weights: Sequence[float]) -> list[int]:
    """Weights as the smallest integers in the same proportions (3:1 stays 3:1; .75,.25 -> 3,1)."""
    fracs = [Fraction(w).limit_denominator(1000) for w in weights]
    if any(f <= 0 for f in fracs):
        raise ValueError(f"weights must be > 0, got {list(weights)}")
    lcm = math.lcm(*(f.denominator for f in fracs))
    ints = [int(f * lcm) for f in fracs]
    g = math.gcd(*ints)
    return [i // g for i in ints]


def mix_counts(
    sizes: Sequence[int],
    weights: Sequence[float],
    world_size: int,
    samples_per_epoch: int | None = None,
) -> list[int]:
    """Samples per source per epoch: exact multiples of the integer weights."""
    w = integer_weights(weights)
    if samples_per_epoch is None:
        k = min(n // wi for n, wi in zip(sizes, w, strict=True))
    else:
        k = samples_per_epoch // sum(w)
    k -= k % world_size
    return [k * wi for wi in w]


def interleave(counts: Sequence[int]) -> IntArray:
    """Source index of each position, each source spread evenly over the epoch."""
    keys = np.concatenate(
        [(np.arange(c, dtype=np.float64) + 0.5) / c for c in counts if c] or [np.zeros(0)]
    )
    srcs = np.concatenate(
        [np.full(c, s, dtype=np.int64) for s, c in enumerate(counts) if c]
        or [np.zeros(0, dtype=np.int64)]
    )
    order = np.argsort(keys, kind="stable")
    return srcs[order]


def _shard_ordered(src: SourceCounts, key: Sequence[int], shuffle: bool) -> IntArray:
    """All of a source's local ids, shard by shard, shards in a (seeded) order."""
    starts = np.concatenate([[0], np.cumsum(src.shard_sizes)]).astype(np.int64)
    n_shards = len(src.shard_sizes)
    order = permutation(n_shards, key) if shuffle else np.arange(n_shards)
    parts = [np.arange(starts[s], starts[s + 1], dtype=np.int64) for s in order]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def balanced_selection(labels: Sequence[int] | IntArray, n: int, key: Sequence[int]) -> IntArray:
    """``n`` local ids with the classes in ``labels`` equally represented (ids sorted)."""
    lab = np.asarray(labels, dtype=np.int64)
    classes = sorted(set(lab[lab >= 0].tolist()))
    if not classes or n == 0:
        return np.zeros(0, dtype=np.int64)
    per = [n // len(classes) + (1 if i < n % len(classes) else 0) for i in range(len(classes))]
    picked: list[IntArray] = []
    for ci, (c, want) in enumerate(zip(classes, per, strict=True)):
        members = np.flatnonzero(lab == c)
        passes = []
        for p in range(-(-want // len(members))):
            passes.append(members[permutation(len(members), [*key, ci, p])])
        picked.append(np.concatenate(passes)[:want] if passes else members[:0])
    return np.sort(np.concatenate(picked))


def epoch_sequence(
    sources: Sequence[SourceCounts],
    weights: Sequence[float] | None,
    *,
    seed: int,
    epoch: int,
    shuffle: bool,
    balance: str = "none",
    world_size: int = 1,
    samples_per_epoch: int | None = None,
) -> IntArray:
    """Global ids of one epoch, before partitioning and the buffer shuffle."""
    offsets = np.cumsum([0, *(s.total for s in sources)])
    single = len(sources) == 1 and weights is None and samples_per_epoch is None
    counts = (
        [sources[0].total]
        if single
        else mix_counts(
            [s.total for s in sources],
            weights or [1.0] * len(sources),
            world_size,
            samples_per_epoch,
        )
    )
    per_source: list[IntArray] = []
    for si, (src, want) in enumerate(zip(sources, counts, strict=True)):
        key = [seed, epoch, si]
        if balance == "class":
            if src.labels is None:
                raise ValueError(f"source {si} has no per-sample labels for balance='class'")
            sel = balanced_selection(src.labels, want, [*key, 1])
            # keep the selection but read it in this epoch's shard order
            order = _shard_ordered(src, [*key, 0], shuffle)
            pos_of = np.empty(src.total, dtype=np.int64)
            pos_of[order] = np.arange(src.total)
            ids = sel[np.argsort(pos_of[sel], kind="stable")]
        else:
            parts: list[IntArray] = []
            have, cycle = 0, 0
            while have < want:
                part = _shard_ordered(src, [*key, 0, cycle], shuffle)
                if len(part) == 0:
                    raise ValueError(f"source {si} has no samples")
                parts.append(part)
                have += len(part)
                cycle += 1
            ids = np.concatenate(parts)[:want] if parts else np.zeros(0, dtype=np.int64)
        per_source.append(ids + offsets[si])
    if len(per_source) == 1:
        return per_source[0]
    pattern = interleave(counts)
    out = np.empty(len(pattern), dtype=np.int64)
    for si, ids in enumerate(per_source):
        out[pattern == si] = ids
    return out
