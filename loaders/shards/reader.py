"""Read samples by (shard, index), keeping a few shards open and streaming forward.

A cursor per open shard reads sample after sample with the one tar reader
(:func:`~.tar.read_sample`); asking for a later sample nearby reads through, anything else
reopens the shard at the manifest's byte offset of that sample. A bad sample costs only
itself: a refused member leaves the reader in step, and a header it cannot trust is stepped
over by reading on to the next sample's offset from the manifest. Only a truncated shard or a
corrupt gzip stream loses the rest of a shard, and then every sample after the break is
reported, one by one. A cursor that read its shard from byte 0 to the end checks the size and
sha256 against the manifest (:class:`~visiondata.loaders.errors.ChecksumError`, always fatal).
A local shard is hashed once per process: once it matched, later reads (the next epoch) skip
the hash while its inode, size and mtime are those it had when the checked read opened it
(:func:`~.remote.is_verified`, the record the cache keeps for its files); a shard replaced,
rewritten or touched is hashed again. Remote shards read without a cache are hashed every time.

The shuffle buffer holds samples read ahead of their turn. From a local, uncompressed shard a
sample's larger members are kept as :class:`Span` (an open file, an offset and a size) rather
than as bytes: the streaming pass still reads and checks every byte, and :meth:`SampleReader.load`
reads the member again with ``pread`` when the sample is decoded, from the page cache it was
just read through. A worker's buffer of 1000 JPEGs then costs kilobytes instead of tens of
megabytes. The span keeps its own descriptor open, so a shard replaced by rename while its
samples wait is still read from the file that was checked; shards must not be rewritten in place.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import (
    BadMemberError,
    ChecksumError,
    TarFormatError,
    TruncatedShardError,
)
from .members import DEFAULT_LIMITS, Limits
from .remote import Counters, LocalRange, RemoteOptions, is_verified, mark_verified, open_range
from .sources import ShardEntry
from .tar import (
    BadHeader,
    CorruptStream,
    Entry,
    TarReader,
    Truncated,
    duplicate_key,
    read_sample,
)

__all__ = ["HashingReader", "SampleReader", "Span"]

_READ_THROUGH = 16  # samples; a bigger forward jump reopens at the offset instead
SPAN_MIN_BYTES = 4096  # smaller members (labels, metadata) are kept as bytes
_CAN_PREAD = hasattr(os, "pread")


class _OpenFile:
    """A duplicate of a cursor's descriptor, shared by the spans into its shard: it outlives the
    cursor and is closed with the last span. ``pread`` leaves the shared file offset alone."""

    __slots__ = ("fd", "path")

    def __init__(self, raw: LocalRange) -> None:
        self.path = raw.path
        self.fd = os.dup(raw.fileno())  # the same open file, so the same bytes the cursor checks

    def __del__(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


class Span:
    """``size`` bytes at ``offset`` of a local shard, read when the sample is decoded."""

    __slots__ = ("file", "offset", "size")

    def __init__(self, file: _OpenFile, offset: int, size: int) -> None:
        self.file, self.offset, self.size = file, offset, size

    def read(self) -> bytes:
        return os.pread(self.file.fd, self.size, self.offset)

    def __repr__(self) -> str:
        return f"Span({self.file.path!r}, offset={self.offset}, size={self.size})"


class HashingReader(io.RawIOBase):
    """A read-through stream that hashes (sha256) and counts what passes: the loader's cursor
    and ``visiondata shards verify`` both check a whole shard through it as they read it."""

    def __init__(self, raw: Any) -> None:
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
    def __init__(
        self,
        entry: ShardEntry,
        index: int,
        opts: RemoteOptions,
        c: Counters,
        spans: bool,
        limits: Limits,
        verify: bool = True,
        last: int | None = None,
    ) -> None:
        self.entry = entry
        self.next = index
        start = 0 if entry.compressed else entry.offset(index)
        raw = open_range(entry.url, start, None, opts, c, entry.sha256)
        #: (path, stat at open) of a local shard whose whole read is to be checked
        self.local: tuple[str, os.stat_result] | None = None
        hash_it = start == 0 and verify and entry.sha256 is not None
        #: the caller's last sample of a shard it reads only the start of: the rest of the
        #: file is read and hashed there (local shards only: a page-cache read, where a remote
        #: one would download what another worker or rank reads anyway)
        self.last = last if last is not None and last < entry.num_samples - 1 else None
        if self.last is not None and not isinstance(raw, LocalRange):
            hash_it = False
        if hash_it and isinstance(raw, LocalRange):
            st = os.fstat(raw.fileno())  # the file this cursor reads, not whatever the path is now
            if st.st_size == entry.bytes and is_verified(raw.path, st, entry.sha256 or ""):
                hash_it = False  # checked whole before in this process, and unchanged since
            else:
                self.local = (raw.path, st)
        self.hashing: HashingReader | None = HashingReader(raw) if hash_it else None
        stream: Any = self.hashing or raw
        self.raw = stream
        size = None
        if entry.compressed:
            stream = gzip.GzipFile(fileobj=stream)
        else:
            size = entry.bytes
        self.tar = TarReader(stream, start, size=size, limits=limits)
        if entry.compressed:
            # offsets of gzip shards count uncompressed bytes: read up to the sample
            self.tar.skip_to(entry.offset(index))
        self.broken: BadMemberError | None = None
        self.file: _OpenFile | None = None
        if spans and not entry.compressed and isinstance(raw, LocalRange):
            self.file = _OpenFile(raw)

    def close(self) -> None:
        self.raw.close()


class SampleReader:
    """Raw samples ``{ext: bytes}`` by shard and index, with bounded open shards.

    With ``spans=True`` the larger members of samples from local, uncompressed shards come
    back as :class:`Span`; :meth:`load` turns them into bytes.

    ``from_start`` maps each shard the caller reads from its first sample to the last sample
    it reads of it (None: every shard, read whole). A shard the caller enters mid-way (the
    part after a cut between workers or ranks, a resume) is not hashed: a hash of part of it
    can never be checked. A local shard read only from its start up to a cut is hashed whole:
    after its last sample the rest of the file is read through the hash, so the worker or rank
    that reads a cut shard's first part checks it for all of them. (Reading that rest costs a
    page-cache read; hashing the part before the cut and never checking it, as the loader did
    before, cost 33-34 MB per epoch on bench_peers' 216 MB of shards with 2 workers and
    checked nothing.) A remote shard cut between readers is not hashed: its rest would be
    downloaded twice; fill a cache (``cache_dir``) to check every shard.
    """

    def __init__(
        self,
        shards: Sequence[ShardEntry],
        opts: RemoteOptions,
        counters: Counters,
        *,
        verify: bool = True,
        max_open: int = 4,
        spans: bool = False,
        limits: Limits = DEFAULT_LIMITS,
        from_start: Mapping[int, int] | None = None,
    ) -> None:
        self.shards = shards
        self.from_start = from_start
        self.spans = spans and _CAN_PREAD
        self.large_bytes = 0  # members of SPAN_MIN_BYTES or more returned as bytes
        self.opts = opts
        self.counters = counters
        self.verify = verify
        self.max_open = max_open
        self.limits = limits
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
            self._drop(shard)
            cur = None
        if cur is None:
            entry = self.shards[shard]
            starts = self.from_start
            last = None if starts is None else starts.get(shard)
            verify = self.verify and (starts is None or last is not None)
            cur = _Cursor(
                entry, index, self.opts, self.counters, self.spans, self.limits, verify, last
            )
            self._open[shard] = cur
            while len(self._open) > self.max_open:
                _, old = self._open.popitem(last=False)
                old.close()
        self._open.move_to_end(shard)
        return cur

    def _drop(self, shard: int) -> None:
        cur = self._open.pop(shard, None)
        if cur is not None:
            cur.close()

    def read(self, shard: int, index: int) -> dict[str, bytes | Span]:
        """The members of sample ``index`` of ``shard``; raises the sample's
        :class:`~visiondata.loaders.errors.BadSampleError` when it is refused."""
        entry = self.shards[shard]
        cur = self._cursor(shard, index)
        if cur.broken is not None:
            if index >= cur.next:
                raise type(cur.broken)(entry.name, entry.key(index), cur.broken.reason)
            self._drop(shard)  # an earlier sample, before the break: read it afresh
            cur = self._cursor(shard, index)
        while cur.next < index:
            # a sample nobody asked for: its error belongs to whoever asks for it
            with contextlib.suppress(BadMemberError):
                self._read_next(shard, cur)
            if cur.broken is not None:
                raise type(cur.broken)(entry.name, entry.key(index), cur.broken.reason)
        return self._read_next(shard, cur)

    def load(self, shard: int, index: int, members: dict[str, bytes | Span]) -> dict[str, bytes]:
        """The sample's bytes: spans read back from their shard."""
        out: dict[str, bytes] = {}
        for ext, value in members.items():
            if isinstance(value, Span):
                data = value.read()
                if len(data) != value.size:
                    entry = self.shards[shard]
                    raise TruncatedShardError(
                        entry.name,
                        entry.key(index),
                        f"member .{ext} ({value.size} bytes at byte {value.offset}) reads back "
                        f"as {len(data)} bytes: the shard changed while the sample was buffered",
                    )
                value = data
            out[ext] = value
        return out

    def _keep(self, cur: _Cursor) -> Any:
        def keep(e: Entry) -> bytes | Span:
            data = e.data if e.data is not None else b""
            if len(data) < SPAN_MIN_BYTES:
                return data
            if cur.file is not None:
                return Span(cur.file, e.data_offset, len(data))
            self.large_bytes += 1
            return data

        return keep

    def _read_next(self, shard: int, cur: _Cursor) -> dict[str, bytes | Span]:
        entry = cur.entry
        i = cur.next
        key = entry.key(i)
        start = entry.offset(i)
        end = entry.offset(i + 1) if i + 1 < entry.num_samples else None
        cur.next = i + 1
        try:
            members, problem = read_sample(cur.tar, key, end, self._keep(cur))
        except (Truncated, CorruptStream) as exc:
            cur.next = i
            size = f" of {entry.bytes}" if entry.bytes is not None and not entry.compressed else ""
            cls = TruncatedShardError if isinstance(exc, Truncated) else TarFormatError
            what = "truncated" if isinstance(exc, Truncated) else "unreadable"
            cur.broken = cls(
                entry.name,
                key,
                f"shard is {what} at byte {exc.pos}{size} ({exc.reason}); every sample before "
                "the break was delivered",
                exc.pos,
            )
            raise cur.broken from None
        except BadHeader as exc:
            if end is not None and cur.tar.pos <= end:
                cur.tar.skip_to(end)  # in step again at the next sample, still hashing
            else:
                self._drop(shard)
            raise TarFormatError(entry.name, key, exc.reason, exc.pos) from None
        if problem is None and i in entry.duplicates:
            problem = duplicate_key(key, entry.offset(entry.duplicates[i]), start)
        if cur.next == entry.num_samples or (
            cur.last is not None and cur.hashing is not None and i >= cur.last
        ):
            self._finish(shard, cur)
        if problem is not None:
            raise type(problem)(entry.name, key, problem.reason, start)
        return members

    def _finish(self, shard: int, cur: _Cursor) -> None:
        """Last sample read (of the shard, or of the caller's part before a cut): check size
        and sha256 when the shard went through from byte 0, reading the rest of it first."""
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
            if cur.local is not None:
                mark_verified(cur.local[0], cur.local[1], entry.sha256)
        cur.close()
