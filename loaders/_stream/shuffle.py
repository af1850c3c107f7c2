"""Deterministic shuffling: shard order per epoch, and a bounded-buffer sample shuffle. Pure.

Random numbers come from PCG64's raw 64-bit output (seeded through ``SeedSequence`` with
the integers that name the stream), whose values numpy keeps stable across versions and
machines; draws are mapped to ranges here rather than by numpy's distribution methods, which
numpy may change. So the same seed and epoch give the same order on any machine.

The buffer shuffle is the classic streaming one (fill a buffer, then emit a random buffered
item and put the next input in its place; the buffer starts at ``INITIAL_BUFFER`` samples and
grows by one per output up to ``buffer_size``), but simulated on positions
only: :func:`buffer_permutation` returns ``perm`` with ``perm[out] = input``. The property
``perm[out] <= out + buffer_size - 1`` bounds how far the reader must read ahead, so the
reader holds at most ``buffer_size`` undecoded samples, and resuming at output position ``k``
only needs to start reading at ``min(perm[k:])``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["INITIAL_BUFFER", "buffer_permutation", "draws", "permutation", "resume_start"]

IntArray = npt.NDArray[np.int64]


def draws(key: Sequence[int], n: int) -> npt.NDArray[np.uint64]:
    """``n`` raw 64-bit draws from the stream named by ``key`` (non-negative integers)."""
    gen = np.random.PCG64(np.random.SeedSequence([int(k) for k in key]))
    return np.asarray(gen.random_raw(n), dtype=np.uint64)


def _below(raw: int, bound: int) -> int:
    """Map a 64-bit draw to ``range(bound)`` (multiply-shift; bias below 2**-40 for sane bounds)."""
    return (raw * bound) >> 64


def permutation(n: int, key: Sequence[int]) -> IntArray:
    """A uniformly random permutation of ``range(n)`` (Fisher-Yates)."""
    out = np.arange(n, dtype=np.int64)
    raw = draws(key, max(n - 1, 0)).tolist()
    for i in range(n - 1, 0, -1):
        j = _below(raw[n - 1 - i], i + 1)
        out[i], out[j] = out[j], out[i]
    return out


#: the buffer starts emitting once it holds this many samples, then grows by one sample per
#: output until it reaches ``buffer_size`` (as webdataset's shuffle does): the first batch
#: comes sooner and a worker's memory climbs to the full buffer instead of starting there.
INITIAL_BUFFER = 100


def buffer_permutation(
    n: int, buffer_size: int, key: Sequence[int], initial: int = INITIAL_BUFFER
) -> IntArray:
    """Order of a buffered shuffle of ``n`` inputs: ``perm[out] = input``.

    The buffer fills to ``min(initial, buffer_size)``, then each output takes a random buffered
    item and puts the next input in its place; while the buffer is below ``buffer_size`` every
    other input is added without an output, so it grows by one per output.
    ``buffer_size <= 1`` keeps the input order.
    """
    if buffer_size <= 1 or n <= 1:
        return np.arange(n, dtype=np.int64)
    start = max(1, min(initial, buffer_size))
    raw = draws(key, n).tolist()
    out: list[int] = []
    buf: list[int] = []
    grow = True
    for i in range(n):
        if len(buf) < start:
            buf.append(i)
            continue
        if len(buf) < buffer_size and grow:
            buf.append(i)
            grow = False
            continue
        grow = True
        j = _below(raw[len(out)], len(buf))
        out.append(buf[j])
        buf[j] = i
    while buf:
        j = _below(raw[len(out)], len(buf))
        out.append(buf[j])
        buf[j] = buf[-1]
        buf.pop()
    return np.asarray(out, dtype=np.int64)


def resume_start(perm: IntArray, out_start: int) -> int:
    """The first input position needed to produce outputs ``out_start`` onwards."""
    if out_start >= len(perm):
        return len(perm)
    return int(perm[out_start:].min())
