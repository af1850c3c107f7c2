"""Read samples by (shard, index), keeping a few shards open and streaming forward.

A cursor per open shard reads sample after sample; asking for a later sample nearby reads
through, anything else reopens the shard at the manifest's byte offset of that sample. A
cursor that read its shard from byte 0 to the end checks the size and sha256 against the
manifest (:class:`~.errors.ChecksumError`, always fatal). When a shard ends early, every
sample before the break is returned and the break is reported as
:class:`~.errors.TruncatedShardError` for each sample after it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from .errors import ChecksumError, TarFormatError, TruncatedShardError
from .remote import Counters, RemoteOptions, open_range
from .sources import ShardEntry
from .tarstream import BadHeader, TarStream, Truncated, split_name

__all__ = ["SampleReader"]

_READ_THROUGH = 16  # samples; a bigger forward jump reopens at the offset instead


class _Hashing(io.RawIOBase):
    def __init__(self, raw: io.RawIOBase) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1, /) -> bytes:
        data = self.raw.read(n) or b""
        self.sha.update(data)
        self.count += len(data)
        return data

    def close(self) -> None:
        self.raw.close()
        super().close()


class _Cursor:
    def __init__(self, entry: ShardEntry, index: int, opts: RemoteOptions, c: Counters) -> None:
        self.entry = entry
        self.next = index
        start = 0 if entry.compressed else entry.offset(index)
        raw = open_range(entry.url, start, None, opts, c, entry.sha256)
        self.hashing: _Hashing | None = _Hashing(raw) if start == 0 else None
        stream: Any = self.hashing or raw
        self.raw = stream
        if entry.compressed:
            stream = gzip.GzipFile(fileobj=stream)
            skip = entry.offset(index)
            while skip > 0:
                got = stream.read(min(skip, 1 << 20))
                if not got:
                    break
                skip -= len(got)
            start = entry.offset(index)
        self.tar = TarStream(stream, start)
        self.broken: TruncatedShardError | None = None

    def close(self) -> None:
        self.raw.close()


class SampleReader:
    """Raw samples ``{ext: bytes}`` by shard and index, with bounded open shards."""

    def __init__(
        self,
        shards: Sequence[ShardEntry],
        opts: RemoteOptions,
        counters: Counters,
        *,
        verify: bool = True,
        max_open: int = 4,
    ) -> None:
        self.shards = shards
        self.opts = opts
        self.counters = counters
        self.verify = verify
        self.max_open = max_open
        self._open: OrderedDict[int, _Cursor] = OrderedDict()

    def close(self) -> None:
        for cur in self._open.values():
            cur.close()
        self._open.clear()

    def _cursor(self, shard: int, index: int) -> _Cursor:
        cur = self._open.get(shard)
        if (
            cur is not None
            and cur.broken is None
            and not cur.next <= index <= cur.next + _READ_THROUGH
        ):
            cur.close()
            cur = None
        if cur is None:
            cur = _Cursor(self.shards[shard], index, self.opts, self.counters)
            self._open[shard] = cur
            while len(self._open) > self.max_open:
                _, old = self._open.popitem(last=False)
                old.close()
        self._open.move_to_end(shard)
        return cur

    def read(self, shard: int, index: int) -> dict[str, bytes]:
        entry = self.shards[shard]
        cur = self._cursor(shard, index)
        if cur.broken is not None:
            if index >= cur.next:
                raise TruncatedShardError(entry.name, entry.key(index), cur.broken.reason)
            cur.close()
            del self._open[shard]
            cur = self._cursor(shard, index)
        while cur.next < index:
            self._read_next(shard, cur)
        return self._read_next(shard, cur)

    def _read_next(self, shard: int, cur: _Cursor) -> dict[str, bytes]:
        entry = cur.entry
        i = cur.next
        key = entry.key(i)
        end = entry.offset(i + 1) if i + 1 < entry.num_samples else None
        members: dict[str, bytes] = {}
        try:
            while end is None or cur.tar.pos < end:
                m = cur.tar.next_member()
                if m is None:
                    break
                k, ext = split_name(m.name)
                if k != key:
                    raise TarFormatError(
                        entry.name,
                        key,
                        f"tar member {m.name!r} at byte {m.offset} does not "
                        "belong to this sample (the manifest's keys or offsets do not match)",
                    )
                members[ext] = m.data
        except Truncated as exc:
            size = f" of {entry.bytes}" if entry.bytes is not None else ""
            cur.broken = TruncatedShardError(
                entry.name,
                key,
                f"shard is truncated at byte {exc.pos}{size}; every sample "
                "before the break was delivered",
            )
            cur.next = i
            raise cur.broken from None
        except BadHeader as exc:
            self._open.pop(shard, None)
            cur.close()
            raise TarFormatError(entry.name, key, str(exc)) from None
        if end is not None and cur.tar.pos != end:
            self._open.pop(shard, None)
            cur.close()
            raise TarFormatError(
                entry.name,
                key,
                f"sample ends at byte {cur.tar.pos}, the manifest says the next starts at {end}",
            )
        if not members:
            cur.broken = TruncatedShardError(
                entry.name, key, f"shard ends at byte {cur.tar.pos} before this sample"
            )
            raise cur.broken
        cur.next = i + 1
        if cur.next == entry.num_samples:
            self._finish(shard, cur)
        return members

    def _finish(self, shard: int, cur: _Cursor) -> None:
        """Last sample read: check size and sha256 when the whole shard went through."""
        self._open.pop(shard, None)
        entry = cur.entry
        if self.verify and cur.hashing is not None and entry.sha256 is not None:
            while cur.hashing.read(1 << 20):
                pass
            digest = cur.hashing.sha.hexdigest()
            if cur.hashing.count != entry.bytes or digest != entry.sha256:
                cur.close()
                raise ChecksumError(
                    f"{entry.url}: {cur.hashing.count} bytes with sha256 {digest}; the manifest "
                    f"says {entry.bytes} bytes with sha256 {entry.sha256}"
                )
        cur.close()
