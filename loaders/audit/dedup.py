"""Exact and near duplicates within and across splits, and split leakage. No I/O.

Samples with the same content hash (BLAKE2b of the image bytes) form one *group*. Groups are
then linked when their perceptual hashes differ in at most ``threshold`` bits, searched with
the band multi-index of :class:`~.phash.HashIndex` (each group is compared only with the
candidates its bands retrieve, never with all others).

- ``duplicate_rate`` of a split counts the samples that could be dropped while keeping one of
  each duplicate cluster: ``(n - clusters) / n``, exact (same bytes) and near (same bytes or
  linked hashes, clusters by union-find).
- ``leakage`` of a split against the reference split (``train``) lists its samples that have
  an exact or near duplicate *directly* in the reference split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .phash import DEFAULT_BANDS, DEFAULT_THRESHOLD, HashIndex
from .scan import DedupRow

__all__ = ["DedupResult", "DupPair", "Leak", "find_duplicates"]


@dataclass(frozen=True)
class Item:
    """What duplicate search needs of one sample."""

    split: str
    key: str
    content_hash: bytes | None
    phash: int | None


@dataclass(frozen=True)
class DupPair:
    split_a: str
    key_a: str
    split_b: str
    key_b: str
    kind: str  # "exact" or "near"
    distance: int  # Hamming distance of the pHashes (0 for exact)


@dataclass(frozen=True)
class Leak:
    key: str
    match: str  # key in the reference split
    kind: str
    distance: int


@dataclass
class SplitDup:
    n: int = 0  # samples with a decodable image
    exact_extra: int = 0  # n - distinct contents
    near_extra: int = 0  # n - clusters (exact or near)


@dataclass
class DedupResult:
    threshold: int
    bands: int
    reference: str | None
    per_split: dict[str, SplitDup] = field(default_factory=dict)
    pairs: list[DupPair] = field(default_factory=list)
    leaks: dict[str, list[Leak]] = field(default_factory=dict)
    cross: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # a -> b -> samples of a found in b


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def find_duplicates(
    items: Sequence[Item],
    *,
    threshold: int = DEFAULT_THRESHOLD,
    bands: int = DEFAULT_BANDS,
    reference: str | None = "train",
    max_pairs: int = 10_000,
) -> DedupResult:
    """Duplicate groups, near links, per-split rates and leakage into ``reference``."""
    splits = list(dict.fromkeys(it.split for it in items))
    ref = reference if reference in splits else None
    result = DedupResult(threshold, bands, ref)
    # 1. groups of identical content; members[g][split] = item ids in that split
    group_of: dict[bytes, int] = {}
    members: list[dict[str, list[int]]] = []
    ghash: list[int | None] = []
    for i, it in enumerate(items):
        if it.content_hash is None:
            continue
        g = group_of.get(it.content_hash)
        if g is None:
            g = group_of[it.content_hash] = len(members)
            members.append({})
            ghash.append(it.phash)
        members[g].setdefault(it.split, []).append(i)
    # 2. near links between groups, through the multi-index
    index = HashIndex(threshold, bands)
    index_group: list[int] = []
    links: list[tuple[int, int, int]] = []
    for g, h in enumerate(ghash):
        if h is None:
            continue
        for pos, dist in index.query(h):
            links.append((index_group[pos], g, dist))
        index.add(h)
        index_group.append(g)
    neighbours: dict[int, list[tuple[int, int]]] = {}
    for a, b, d in links:
        neighbours.setdefault(a, []).append((b, d))
        neighbours.setdefault(b, []).append((a, d))

    def add_pair(a: int, b: int, kind: str, dist: int) -> None:
        if len(result.pairs) < max_pairs:
            ia, ib = items[a], items[b]
            result.pairs.append(DupPair(ia.split, ia.key, ib.split, ib.key, kind, dist))

    # 3. per-split rates by union-find, and listed pairs
    for s in splits:
        uf = _UnionFind()
        n = distinct = 0
        for m in members:
            ids = m.get(s, [])
            n += len(ids)
            distinct += bool(ids)
            for other in ids[1:]:
                uf.union(ids[0], other)
                add_pair(ids[0], other, "exact", 0)
        for a, b, d in links:
            ia, ib = members[a].get(s), members[b].get(s)
            if ia and ib:
                uf.union(ia[0], ib[0])
                add_pair(ia[0], ib[0], "near", d)
        roots = {uf.find(i) for m in members for i in m.get(s, [])}
        result.per_split[s] = SplitDup(n=n, exact_extra=n - distinct, near_extra=n - len(roots))
    # 4. across splits: which samples of split a have a direct duplicate in split b
    for sa in splits:
        result.cross[sa] = {}
        for sb in splits:
            if sa == sb:
                continue
            found = 0
            leaks: list[Leak] = []
            for g, m in enumerate(members):
                ids = m.get(sa, [])
                if not ids:
                    continue
                match: tuple[int, str, int] | None = None
                if m.get(sb):
                    match = (m[sb][0], "exact", 0)
                else:
                    for other, d in sorted(neighbours.get(g, []), key=lambda x: x[1]):
                        if members[other].get(sb):
                            match = (members[other][sb][0], "near", d)
                            break
                if match is None:
                    continue
                found += len(ids)
                if sa < sb:
                    add_pair(ids[0], match[0], match[1], match[2])
                if sb == ref:
                    leaks += [
                        Leak(items[i].key, items[match[0]].key, match[1], match[2]) for i in ids
                    ]
            result.cross[sa][sb] = found
            if sb == ref:
                result.leaks[sa] = sorted(leaks, key=lambda x: x.key)
    return result


def items_from_rows(rows: Mapping[str, Sequence[DedupRow]]) -> list[Item]:
    """Flatten ``{split: [DedupRow, ...]}`` into :class:`Item` s (split order kept)."""
    out = []
    for split, split_rows in rows.items():
        for r in split_rows:
            out.append(Item(split, r.key, r.content_hash, r.phash))
    return out
