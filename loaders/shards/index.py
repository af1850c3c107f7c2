"""Index WebDataset tars that have no manifest: read each once with the one tar reader and
record every sample's key and byte offset, the shard's size and sha256, and the fields seen.

Used by the loader for shard lists, brace patterns and globs, and by ``visiondata shards
index``. Samples the member policy refuses stay in the index, each with its reason, so the
loader reports them by key instead of silently dropping them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .manifest import ConverterInfo, Manifest, ShardInfo, SplitInfo
from .members import DEFAULT_LIMITS, Limits, is_gzip
from .remote import Counters, RemoteOptions, is_local, open_range
from .tar import TarReader, scan_samples

__all__ = ["IndexedShard", "build_manifest", "index_one"]


@dataclass
class IndexedShard:
    """What one read of a shard found."""

    url: str
    name: str
    keys: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    bytes: int = 0
    sha256: str | None = None
    fields: dict[str, int] = field(default_factory=dict)  # extension -> samples holding it
    problems: list[tuple[str, int, str]] = field(default_factory=list)  # (key, offset, reason)

    def info(self) -> ShardInfo:
        assert self.sha256 is not None
        return ShardInfo(
            name=self.name,
            num_samples=len(self.keys),
            bytes=self.bytes,
            sha256=self.sha256,
            keys=self.keys,
            offsets=self.offsets,
        )


class _Counting(io.RawIOBase):
    def __init__(self, raw: Any, hashing: bool) -> None:
        self.raw, self.count = raw, 0
        self.sha = hashlib.sha256() if hashing else None

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1, /) -> bytes:
        data = self.raw.read(n) or b""
        if self.sha is not None:
            self.sha.update(data)
        self.count += len(data)
        return data

    def close(self) -> None:
        self.raw.close()
        super().close()


def index_one(
    url: str,
    opts: RemoteOptions | None = None,
    limits: Limits = DEFAULT_LIMITS,
    *,
    sha256: bool = True,
) -> IndexedShard:
    """Read the shard at ``url`` once and index it."""
    opts = opts or RemoteOptions()
    raw = _Counting(open_range(url, 0, None, opts, Counters()), sha256)
    stream: Any = raw
    size = None
    if is_gzip(url):
        stream = gzip.GzipFile(fileobj=raw)
    elif is_local(url):
        size = os.path.getsize(url.removeprefix("file://"))
    out = IndexedShard(url, url.rstrip("/").rsplit("/", 1)[-1])
    try:
        for record in scan_samples(TarReader(stream, size=size, limits=limits)):
            out.keys.append(record.key)
            out.offsets.append(record.offset)
            for ext in record.fields:
                out.fields[ext] = out.fields.get(ext, 0) + 1
            if record.problem is not None:
                out.problems.append((record.key, record.offset, record.problem))
        while raw.read(1 << 20):  # the rest (end-of-archive padding) counts and hashes too
            pass
    finally:
        raw.close()
    out.bytes = raw.count
    out.sha256 = raw.sha.hexdigest() if raw.sha is not None else None
    return out


def build_manifest(
    shards: Sequence[IndexedShard], split: str = "train", card: str | None = None
) -> Manifest:
    """A manifest of one split from indexed shards (names as they are, relative to the folder
    the manifest is written to)."""
    fields: dict[str, str] = {}
    for s in shards:
        for ext in sorted(s.fields):
            fields.setdefault(ext, "as found in the shards")
    infos = [s.info() for s in shards]
    return Manifest(
        card=card,
        converter=ConverterInfo(name="index", version="1", options={}),
        fields=fields,
        splits={split: SplitInfo(num_samples=sum(i.num_samples for i in infos), shards=infos)},
    )
