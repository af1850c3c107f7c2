"""Perceptual hashes and a multi-index for near-duplicate search: pure functions, no I/O.

``phash`` is the DCT hash of Zauner (2010) as popularised by ``imagehash``: the image is
reduced to 32x32 grey, transformed with a 2-D DCT-II, and the 8x8 lowest frequencies are
compared with their median, giving 64 bits. Recompression, rescaling and small crops change a
few bits; unrelated photographs differ in about 32.

**Threshold.** Two images are near duplicates when their hashes differ in at most
:data:`DEFAULT_THRESHOLD` (10) of the 64 bits. In the tests, recompressed (JPEG quality 40),
half-size and 4%-cropped copies stay within 0-8 bits, while independent images differ by 20 or
more.

**Index.** :class:`HashIndex` splits each hash into ``bands`` disjoint bit ranges. By the
pigeonhole principle, two hashes within Hamming distance ``t`` agree within distance
``t // bands`` on at least one band; so each band is a dictionary, a query probes every value
within that radius of its own band (``sum(C(w, i), i <= t // bands)`` probes for a
``w``-bit band), and only the candidates found are compared in full. Nothing is quadratic.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_THRESHOLD",
    "HashIndex",
    "dhash",
    "hamming",
    "max_threshold",
    "phash",
]

DEFAULT_THRESHOLD = 10
DEFAULT_BANDS = 4
HASH_BITS = 64
#: Largest number of bucket probes per band a query may need (guards bands=1 with a large threshold).
MAX_PROBES = 20_000


@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> Any:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0, :] = np.sqrt(1.0 / n)
    return m


def _bits_to_int(bits: Any) -> int:
    out = 0
    for b in np.asarray(bits, dtype=bool).ravel():
        out = (out << 1) | int(b)
    return out


def phash(gray: Any) -> int:
    """64-bit DCT hash of a 32x32 (or larger, square or not) grey image array."""
    a = np.asarray(gray, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 8 or a.shape[1] < 8:
        raise ValueError(f"phash needs a 2-D grey image of at least 8x8, got shape {a.shape}")
    d = _dct_matrix(a.shape[0]) @ a @ _dct_matrix(a.shape[1]).T
    low = d[:8, :8]
    return _bits_to_int(low > np.median(low))


def dhash(gray: Any) -> int:
    """64-bit difference hash of a 8x9 (rows x columns) grey image array."""
    a = np.asarray(gray, dtype=np.float64)
    if a.shape != (8, 9):
        raise ValueError(f"dhash needs an 8x9 grey array, got shape {a.shape}")
    return _bits_to_int(a[:, 1:] > a[:, :-1])


def hamming(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()


def max_threshold(bands: int = DEFAULT_BANDS) -> int:
    """The widest threshold (bits) that an index of ``bands`` bands accepts."""
    for t in range(HASH_BITS - 1, -1, -1):
        try:
            HashIndex(t, bands)
        except ValueError:
            continue
        return t
    return -1  # pragma: no cover - a threshold of 0 needs one probe per band


class HashIndex:
    """Multi-index over 64-bit hashes; ``query`` returns every id within ``threshold`` bits."""

    def __init__(self, threshold: int = DEFAULT_THRESHOLD, bands: int = DEFAULT_BANDS) -> None:
        if not 0 <= threshold < HASH_BITS:
            raise ValueError(f"threshold must be in 0..{HASH_BITS - 1}, got {threshold}")
        if not 1 <= bands <= HASH_BITS:
            raise ValueError(f"bands must be in 1..{HASH_BITS}, got {bands}")
        self.threshold = threshold
        self.bands = bands
        edges = [round(i * HASH_BITS / bands) for i in range(bands + 1)]
        self._spans = [(lo, hi - lo) for lo, hi in itertools.pairwise(edges)]
        self.radius = threshold // bands
        probes = max(
            sum(math.comb(width, r) for r in range(self.radius + 1)) for _, width in self._spans
        )
        if probes > MAX_PROBES:
            raise ValueError(
                f"{bands} band(s) for a threshold of {threshold} bits need {probes} probes per "
                f"band (at most {MAX_PROBES}); use more bands (e.g. {threshold // 2 + 1})"
            )
        self._tables: list[defaultdict[int, list[int]]] = [defaultdict(list) for _ in range(bands)]
        self._hashes: list[int] = []
        self._flips = [self._flip_masks(width) for _, width in self._spans]

    def _flip_masks(self, width: int) -> list[int]:
        masks = []
        for r in range(self.radius + 1):
            for bits in itertools.combinations(range(width), r):
                masks.append(sum(1 << b for b in bits))
        return masks

    def _band_values(self, h: int) -> Iterator[int]:
        for lo, width in self._spans:
            yield (h >> lo) & ((1 << width) - 1)

    def __len__(self) -> int:
        return len(self._hashes)

    def add(self, h: int) -> int:
        """Store a hash; returns its id (0, 1, 2, ... in insertion order)."""
        idx = len(self._hashes)
        self._hashes.append(h)
        for table, value in zip(self._tables, self._band_values(h), strict=True):
            table[value].append(idx)
        return idx

    def query(self, h: int) -> list[tuple[int, int]]:
        """``(id, distance)`` of every stored hash within the threshold, by id."""
        candidates: set[int] = set()
        for table, flips, value in zip(
            self._tables, self._flips, self._band_values(h), strict=True
        ):
            for mask in flips:
                hit = table.get(value ^ mask)
                if hit:
                    candidates.update(hit)
        out = []
        for idx in sorted(candidates):
            d = hamming(h, self._hashes[idx])
            if d <= self.threshold:
                out.append((idx, d))
        return out
