"""Stream one shard and reduce it to mergeable statistics plus one small row per sample.

Nothing here holds an image longer than it takes to hash it: a shard is read once with the
shard layer's tar reader and member policy (the loader's own, so a sample the loader refuses
is counted here as refused), each sample is reduced to its :class:`SampleFacts`, folded into a
:class:`SplitStats` (counters only, so memory is bounded by the number of distinct values, not
by the number of samples) and a :class:`DedupRow` (key, 16-byte content hash, 64-bit pHash),
the only per-sample state kept for duplicate search.

Images are decoded at reduced size (``Image.draft`` for JPEG), enough to hash them and to
catch truncated or corrupt files; width, height and format come from the header.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DecodeError
from ..shards.media import open_image
from ..shards.members import DEFAULT_LIMITS, MAX_PIXELS, Limits, image_field
from ..shards.tar import TarReader, walk_samples
from ..shards.tar import read_sample as read_sample_at
from .annotations import ATTRIBUTE_AXES, parse_annotations

__all__ = [
    "GRAY_TOLERANCE",
    "DedupRow",
    "SampleFacts",
    "ShardResult",
    "ShardTask",
    "SplitStats",
    "examine",
    "image_facts",
    "read_sample",
    "scan_shard",
]

#: An RGB image counts as grayscale when no pixel of its 64x64 thumbnail has channels more
#: than this far apart (JPEG chroma noise stays below it).
GRAY_TOLERANCE = 6
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
MAX_LISTED = 10_000  # undecodable keys kept per split (all are counted)


def read_sample(
    path: Path | str, offset: int, key: str, limits: Limits = DEFAULT_LIMITS
) -> dict[str, bytes]:
    """The members of the one sample ``key`` whose first header is at ``offset`` (from the
    manifest index), read with the shard layer's tar reader and member policy."""
    with open(path, "rb") as f:
        f.seek(offset)
        tar = TarReader(f, offset, size=os.fstat(f.fileno()).st_size, limits=limits)
        members, problem = read_sample_at(tar, key, None, alone=True)
    if problem is not None:
        raise type(problem)(str(path), key, problem.reason, offset)
    return members


@dataclass
class ImageFacts:
    fmt: str | None = None
    width: int | None = None
    height: int | None = None
    grayscale: bool = False
    phash: int | None = None
    error: str | None = None


def image_facts(data: bytes, max_pixels: int = MAX_PIXELS) -> ImageFacts:
    """Header facts, a reduced-size decode, the grayscale test and the pHash of one image.
    An image above ``max_pixels`` is refused from its header, as the loader refuses it."""
    import numpy as np
    from PIL import Image

    from .phash import phash

    out = ImageFacts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = open_image(data, max_pixels)
            out.fmt, (out.width, out.height) = im.format, im.size
            mode = im.mode
            im.draft("RGB", (64, 64))
            rgb = im.convert("RGB")
        except DecodeError as exc:  # not an image, or a decompression bomb
            out.error = exc.reason
            return out
        except Exception as exc:  # PIL raises many types for bad files
            out.error = f"cannot decode: {type(exc).__name__}: {exc}"
            return out
    thumb = np.asarray(rgb.resize((64, 64), Image.Resampling.BILINEAR), dtype=np.int16)
    spread = int((thumb.max(axis=2) - thumb.min(axis=2)).max())
    out.grayscale = mode in _GRAY_MODES or spread <= GRAY_TOLERANCE
    grey = rgb.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    out.phash = phash(np.asarray(grey, dtype=np.float64))
    return out


@dataclass
class SampleFacts:
    key: str
    image: ImageFacts | None
    image_bytes: int
    content_hash: bytes | None
    label: str | None
    instances: list[str] | None
    attributes: dict[str, str]
    binary: dict[str, bool]
    problems: list[str]


def examine(
    key: str,
    members: Mapping[str, bytes],
    *,
    label: str | None = None,
    classes: list[str] | None = None,
    categories: Mapping[int, str] | None = None,
    attributes: tuple[str, ...] = tuple(ATTRIBUTE_AXES),
    max_pixels: int = MAX_PIXELS,
) -> SampleFacts:
    """Everything the audit needs from one sample."""
    ann = parse_annotations(members, classes=classes, categories=categories, attributes=attributes)
    ext = image_field(members)
    data = members[ext] if ext else None
    return SampleFacts(
        key=key,
        image=image_facts(data, max_pixels) if data is not None else None,
        image_bytes=len(data) if data is not None else 0,
        content_hash=hashlib.blake2b(data, digest_size=16).digest() if data is not None else None,
        label=label if label is not None else ann.label,
        instances=ann.instances,
        attributes=ann.attributes,
        binary=ann.binary,
        problems=ann.problems,
    )


def _size_bin(nbytes: int) -> int:
    """Log-spaced file-size bin: 8 bins per doubling."""
    return math.floor(math.log2(max(nbytes, 1)) * 8)


@dataclass
class SplitStats:
    """Mergeable counters of one split (or one shard of it)."""

    samples: int = 0
    images: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    unlabelled: int = 0
    instances: Counter[str] = field(default_factory=Counter)
    annotated_images: int = 0
    instances_per_image: Counter[int] = field(default_factory=Counter)
    widths: Counter[int] = field(default_factory=Counter)
    heights: Counter[int] = field(default_factory=Counter)
    aspects: Counter[float] = field(default_factory=Counter)  # width / height, 2 decimals
    size_bins: Counter[int] = field(default_factory=Counter)
    bytes_total: int = 0
    bytes_min: int | None = None
    bytes_max: int | None = None
    grayscale: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    no_image: list[str] = field(default_factory=list)
    undecodable: list[tuple[str, str]] = field(default_factory=list)
    undecodable_count: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # by the member policy
    refused_count: int = 0
    annotation_problems: list[tuple[str, str]] = field(default_factory=list)
    attributed: int = 0
    attributes: dict[str, Counter[str]] = field(default_factory=dict)
    intersections: dict[str, Counter[str]] = field(default_factory=dict)
    binary: dict[str, Counter[bool]] = field(default_factory=dict)

    def add(self, f: SampleFacts) -> None:
        self.samples += 1
        if f.label is not None:
            self.classes[f.label] += 1
        else:
            self.unlabelled += 1
        if f.instances is not None:
            self.annotated_images += 1
            self.instances.update(f.instances)
            self.instances_per_image[len(f.instances)] += 1
        for p in f.problems[:1]:
            if len(self.annotation_problems) < MAX_LISTED:
                self.annotation_problems.append((f.key, p))
        if f.image is None:
            if len(self.no_image) < MAX_LISTED:
                self.no_image.append(f.key)
        else:
            self.images += 1
            self.bytes_total += f.image_bytes
            n = f.image_bytes
            self.bytes_min = n if self.bytes_min is None else min(self.bytes_min, n)
            self.bytes_max = n if self.bytes_max is None else max(self.bytes_max, n)
            self.size_bins[_size_bin(f.image_bytes)] += 1
            im = f.image
            if im.fmt:
                self.formats[im.fmt] += 1
            if im.width and im.height:
                self.widths[im.width] += 1
                self.heights[im.height] += 1
                self.aspects[round(im.width / im.height, 2)] += 1
            if im.error:
                self.undecodable_count += 1
                if len(self.undecodable) < MAX_LISTED:
                    self.undecodable.append((f.key, im.error))
            elif im.grayscale:
                self.grayscale += 1
        if f.attributes or f.binary:
            self.attributed += 1
        for name, value in f.attributes.items():
            self.attributes.setdefault(name, Counter())[value] += 1
        names = sorted(f.attributes)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                cell = f"{f.attributes[a]} & {f.attributes[b]}"
                self.intersections.setdefault(f"{a} x {b}", Counter())[cell] += 1
        for name, flag in f.binary.items():
            self.binary.setdefault(name, Counter())[flag] += 1

    def refuse(self, key: str, reason: str) -> None:
        """A sample the shard layer's member policy refused (it has no facts)."""
        self.refused_count += 1
        if len(self.refused) < MAX_LISTED:
            self.refused.append((key, reason))

    def merge(self, other: SplitStats) -> None:
        for name in (
            "samples",
            "images",
            "unlabelled",
            "annotated_images",
            "bytes_total",
            "grayscale",
            "undecodable_count",
            "refused_count",
            "attributed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in (
            "classes",
            "instances",
            "instances_per_image",
            "widths",
            "heights",
            "aspects",
            "size_bins",
            "formats",
        ):
            getattr(self, name).update(getattr(other, name))
        for name in ("no_image", "undecodable", "refused", "annotation_problems"):
            mine = getattr(self, name)
            mine.extend(getattr(other, name)[: max(0, MAX_LISTED - len(mine))])
        if other.bytes_min is not None and other.bytes_max is not None:
            lo, hi = other.bytes_min, other.bytes_max
            self.bytes_min = lo if self.bytes_min is None else min(self.bytes_min, lo)
            self.bytes_max = hi if self.bytes_max is None else max(self.bytes_max, hi)
        for table_name in ("attributes", "intersections", "binary"):
            mine_t, theirs = getattr(self, table_name), getattr(other, table_name)
            for k, c in theirs.items():
                mine_t.setdefault(k, Counter()).update(c)


@dataclass(frozen=True)
class DedupRow:
    key: str
    shard: int  # index into the split's shard list
    offset: int
    content_hash: bytes | None
    phash: int | None


@dataclass(frozen=True)
class ShardTask:
    split: str
    index: int  # shard index within the split
    path: str
    keys: list[str]
    offsets: list[int]
    labels: list[str | None] | None
    classes: list[str] | None
    categories: dict[int, str]
    attributes: tuple[str, ...]
    limits: Limits = DEFAULT_LIMITS


@dataclass
class ShardResult:
    task: ShardTask
    stats: SplitStats
    rows: list[DedupRow]


def scan_shard(task: ShardTask, progress: Any = None) -> ShardResult:
    """Read one shard once with the shard layer's reader; ``progress(n)`` (optional) is called
    after every sample. A sample the member policy refuses is counted and listed as refused."""
    stats = SplitStats()
    rows: list[DedupRow] = []
    with open(task.path, "rb") as f:
        tar = TarReader(f, size=os.fstat(f.fileno()).st_size, limits=task.limits)
        for i, members, problem in walk_samples(tar, task.keys, task.offsets):
            key = task.keys[i]
            if problem is not None:
                stats.refuse(key, problem.reason)
                if progress is not None:
                    progress(1)
                continue
            label = task.labels[i] if task.labels is not None and i < len(task.labels) else None
            facts = examine(
                key,
                members,
                label=label,
                classes=task.classes,
                categories=task.categories,
                attributes=task.attributes,
                max_pixels=task.limits.max_pixels,
            )
            stats.add(facts)
            ok = facts.image is not None and facts.image.error is None
            rows.append(
                DedupRow(
                    key,
                    task.index,
                    task.offsets[i],
                    facts.content_hash if ok else None,
                    facts.image.phash if ok and facts.image else None,
                )
            )
            if progress is not None:
                progress(1)
    return ShardResult(task, stats, rows)
