"""The one tar reader: members one by one from any ``read(n)`` stream, with byte offsets, and
the member policy that decides what a sample may hold.

Everything that reads a shard (the loader, ``shards verify``, ``shards index``, the audit) goes
through :class:`TarReader` and :func:`read_sample`, so they cannot disagree about what a shard
holds. It reads what WebDataset shards are made of (USTAR, GNU and pax headers, GNU long
names, pax ``path`` and ``size`` records as POSIX says, global pax headers) and never trusts a
header further than it can check it:

- a header whose checksum does not match, or whose numeric fields are not numbers, raises
  :class:`BadHeader` (the reader is then out of step: callers resynchronise at the next
  sample's offset from the manifest, or :meth:`TarReader.resync` scans for the next header);
- a size field that would run past the end of the sample (or of the file) raises
  :class:`BadHeader` too, before anything is read;
- the stream ending inside a header or a member raises :class:`Truncated`; a corrupt gzip
  stream raises :class:`CorruptStream` (nothing after it can be read);
- members that are well-formed but not allowed (links, devices, fifos, directories; names that
  are absolute, hold ``..``, are empty or only an extension; members over ``max_member_bytes``;
  absurd pax records) come back as an :class:`Entry` with a ``problem``: their bytes are skipped
  and the reader stays in step, so only their own sample is lost.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import (
    BadMemberError,
    DuplicateMemberError,
    MemberTooLargeError,
    TarFormatError,
    TruncatedShardError,
    UnsafeMemberError,
)
from .members import DEFAULT_LIMITS, Limits, name_problem, split_name

__all__ = [
    "BLOCK",
    "BadHeader",
    "CorruptStream",
    "Entry",
    "Overrun",
    "Readable",
    "SampleRecord",
    "TarBreak",
    "TarReader",
    "Truncated",
    "duplicate_key",
    "read_sample",
    "scan_samples",
    "walk_samples",
]

BLOCK = 512
_POSIX_MAGIC = b"ustar\x0000"
_REGULAR = (b"0", b"\0", b"7")
_OTHER_KINDS = {
    b"1": "hard link",
    b"2": "symbolic link",
    b"3": "character device",
    b"4": "block device",
    b"5": "directory",
    b"6": "fifo",
    b"S": "GNU sparse file",
    b"V": "volume label",
    b"M": "multi-volume continuation",
}
_CHUNK = 1 << 20


class Readable(Protocol):
    """What the reader reads from: it always says how many bytes it wants."""

    def read(self, n: int, /) -> bytes: ...


class TarBreak(Exception):
    """The reader cannot go on from here: ``pos`` is the absolute byte where it stopped."""

    def __init__(
        self, pos: int, reason: str, name: str | None = None, start: int | None = None
    ) -> None:
        self.pos = pos
        self.reason = reason
        self.name = name
        self.start = pos if start is None else start  # where the member's headers begin
        super().__init__(reason)


class BadHeader(TarBreak):
    """Bytes at ``pos`` are not a header the reader can trust (checksum, numbers, a size
    field that runs past the end)."""


class Truncated(TarBreak):
    """The stream ended inside a header or a member."""


class Overrun(Truncated):
    """A header's size field runs past the end of the file: the shard is truncated, or the
    size field lies (a later header may still be found by :meth:`TarReader.resync`)."""


class CorruptStream(TarBreak):
    """The compressed stream is corrupt: nothing after ``pos`` can be read."""


@dataclass(frozen=True)
class Entry:
    """One member as found. ``data`` is set for regular members the policy allows; otherwise
    ``problem`` says why the member (and so its sample) is refused."""

    name: str
    offset: int  # its first header (pax and GNU long-name headers included)
    data_offset: int
    size: int
    kind: str  # "file", or what else it is ("symbolic link", "directory", ...)
    data: bytes | None = None
    problem: BadMemberError | None = None


def _number(field: bytes, pos: int, what: str) -> int:
    if field and field[0] == 0x80:  # GNU base-256, positive
        return int.from_bytes(field[1:], "big")
    if field and field[0] == 0xFF:
        raise BadHeader(pos, f"the {what} field at byte {pos} is a negative base-256 number")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise BadHeader(
            pos, f"the {what} field at byte {pos} is not an octal number ({text[:12]!r})"
        ) from None


def _checksum_ok(hdr: bytes, pos: int) -> bool:
    try:
        stored = _number(hdr[148:156], pos, "checksum")
    except BadHeader:
        return False
    unsigned = sum(hdr[:148]) + 8 * 32 + sum(hdr[156:])
    if stored == unsigned:
        return True
    signed = sum(b - 256 if b > 127 else b for b in hdr[:148] + hdr[156:]) + 8 * 32
    return stored == signed  # some old tars sum signed bytes; tarfile accepts both


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_pax(data: bytes, limit: int) -> dict[str, str]:
    """The records of a pax extended header (``"%d %s=%s\\n"`` each), checked strictly;
    raises ``ValueError`` naming the first record that is not one."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos:].strip(b"\0") == b"":
            break  # NUL padding after the last record
        space = data.find(b" ", pos, pos + 21)
        if space < 0 or not data[pos:space].isdigit():
            raise ValueError(f"record at offset {pos} does not start with its length")
        length = int(data[pos:space])
        if length > limit or length <= space - pos + 3 or pos + length > len(data):
            raise ValueError(f"record at offset {pos} declares an absurd length {length}")
        record = data[space + 1 : pos + length]
        if not record.endswith(b"\n") or b"=" not in record:
            raise ValueError(f"record at offset {pos} is not 'key=value\\n'")
        key, _, value = record[:-1].partition(b"=")
        k, v = _text(key), _text(value)
        if k is None or v is None:
            raise ValueError(f"record at offset {pos} is not UTF-8")
        records[k] = v
        pos += length
    return records


class TarReader:
    """Members of a tar read forward from ``stream``; ``offset`` is where the stream starts in
    the file and ``size`` the file's length when known (a size field running past it is
    refused before anything is read). ``name`` labels nothing but messages."""

    def __init__(
        self,
        stream: Readable,
        offset: int = 0,
        *,
        size: int | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.stream = stream
        self.pos = offset
        self.size = size
        self.limits = limits
        self._pushed: bytes | None = None  # one block read ahead by resync()
        self._global: dict[str, str] = {}

    # -- raw bytes --------------------------------------------------------------------
    def _raw(self, n: int, at: int, name: str | None = None, start: int | None = None) -> bytes:
        """Up to ``n`` bytes from the stream, which is at byte ``at``; a corrupt stream is a
        :class:`CorruptStream` there, in the member ``name`` (headers from ``start``)."""
        try:
            return self.stream.read(n)
        except EOFError:  # gzip: the compressed stream ended early
            return b""
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise CorruptStream(
                at, f"the gzip stream is corrupt near uncompressed byte {at} ({exc})", name, start
            ) from None

    def _read(self, n: int, what: str, name: str | None = None, start: int | None = None) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < n:
            chunk = self._raw(n - got, self.pos + got, name, start)
            if not chunk:
                raise Truncated(
                    self.pos + got,
                    f"the stream ends at byte {self.pos + got} inside {what}",
                    name,
                    start,
                )
            parts.append(chunk)
            got += len(chunk)
        self.pos += n
        return b"".join(parts)

    def skip(self, n: int, what: str, name: str | None = None, start: int | None = None) -> None:
        """Read past ``n`` bytes without keeping them (a hashing stream still sees them)."""
        while n > 0:
            chunk = self._raw(min(n, _CHUNK), self.pos, name, start)
            if not chunk:
                raise Truncated(
                    self.pos, f"the stream ends at byte {self.pos} inside {what}", name, start
                )
            n -= len(chunk)
            self.pos += len(chunk)

    def skip_to(self, pos: int) -> None:
        """Move forward to ``pos`` (the next sample's offset) by reading."""
        if self._pushed is not None:
            self._pushed = None
            self.pos += BLOCK
        self.skip(pos - self.pos, f"the bytes before byte {pos}")  # nothing if already past

    def _block(self) -> bytes | None:
        if self._pushed is not None:
            block, self._pushed = self._pushed, None
            self.pos += BLOCK
            return block
        first = self._raw(BLOCK, self.pos)
        if not first:
            return None
        parts, got = [first], len(first)
        while got < BLOCK:
            more = self._raw(BLOCK - got, self.pos + got, None, self.pos)
            if not more:
                raise Truncated(
                    self.pos + got,
                    f"the stream ends at byte {self.pos + got} inside a tar header",
                    None,
                    self.pos,
                )
            parts.append(more)
            got += len(more)
        self.pos += BLOCK
        return b"".join(parts)

    # -- members ----------------------------------------------------------------------
    def next(self, end: int | None = None) -> Entry | None:
        """The next member, or ``None`` at a clean end of the archive (two zero blocks, or the
        stream ending on a member boundary). ``end`` bounds where the current sample ends."""
        bound = end if end is not None else self.size
        start = self.pos
        long_name: str | None = None
        local: dict[str, str] = {}
        pax_problem: str | None = None
        while True:
            hpos = self.pos
            try:
                hdr = self._block()
            except (Truncated, CorruptStream) as exc:
                exc.start = start  # the member's first header
                raise
            if hdr is None or hdr == bytes(BLOCK):
                return None  # the stream ended on a member boundary, or a zero block
            if not _checksum_ok(hdr, hpos):
                raise BadHeader(
                    hpos, f"no valid tar header at byte {hpos}: the header checksum does not match"
                )
            flag = hdr[156:157]
            size = _number(hdr[124:136], hpos, "size")
            raw_name = hdr[:100].split(b"\0", 1)[0]
            if hdr[257:265] == _POSIX_MAGIC:
                prefix = hdr[345:500].split(b"\0", 1)[0]
                if prefix:
                    raw_name = prefix + b"/" + raw_name
            if flag in (b"x", b"g", b"L", b"K"):
                if size > self.limits.max_header_bytes:
                    raise BadHeader(
                        hpos,
                        f"the extended header at byte {hpos} declares {size:,} bytes, above the limit of {self.limits.max_header_bytes:,}",
                    )
                self._check_bound(hpos, size, bound, None, start)
                data = self._read(_padded(size), "an extended header", None, start)[:size]
                if flag == b"K":
                    continue  # a GNU long link target: the link member that follows is refused
                if flag == b"L":
                    long_name = _text(data.split(b"\0", 1)[0])
                    if long_name is None:
                        pax_problem = "has a GNU long name that is not UTF-8"
                    continue
                try:
                    records = parse_pax(data, self.limits.max_header_bytes)
                except ValueError as exc:
                    pax_problem = f"has a pax header at byte {hpos} that is not valid: {exc}"
                    continue
                (self._global if flag == b"g" else local).update(records)
                continue
            pax = {**self._global, **local}
            if "size" in pax:
                if not pax["size"].isdigit():
                    pax_problem = f"has a pax size record {pax['size'][:20]!r} that is not a number"
                else:
                    size = int(pax["size"])
            name = pax.get("path") or long_name or _text(raw_name)
            kind = (
                "file"
                if flag in _REGULAR
                else _OTHER_KINDS.get(flag, f"member of unknown type {flag!r}")
            )
            if kind == "file" and flag != b"7" and name is not None and name.endswith("/"):
                kind = "directory"  # old tars mark directories by a trailing slash
            if any(k.startswith("GNU.sparse") for k in pax):
                kind = "GNU sparse file"
            shown = name if name is not None else raw_name.decode("utf-8", "replace")
            self._check_bound(hpos, size, bound, shown, start)
            data_offset = self.pos
            problem = self._problem(shown, name, kind, size, start, pax_problem)
            if problem is not None:
                self.skip(_padded(size), f"member {shown!r}", shown, start)
                return Entry(shown, start, data_offset, size, kind, None, problem)
            data = self._read(_padded(size), f"member {shown!r}", shown, start)[:size]
            return Entry(shown, start, data_offset, size, kind, data, None)

    def _check_bound(
        self, hpos: int, size: int, bound: int | None, name: str | None, start: int
    ) -> None:
        if bound is None or self.pos + _padded(size) <= bound:
            return
        if bound == self.size:
            raise Overrun(
                bound,
                f"the header at byte {hpos} declares {size:,} bytes of data, but the file ends at "
                f"byte {bound}",
                name,
                start,
            )
        raise BadHeader(
            hpos,
            f"the header at byte {hpos} declares {size:,} bytes of data, which would run past "
            f"byte {bound} where this sample ends",
        )

    def _problem(
        self,
        shown: str,
        name: str | None,
        kind: str,
        size: int,
        start: int,
        pax_problem: str | None,
    ) -> BadMemberError | None:
        what = f"member {shown!r} at byte {start}"
        if pax_problem is not None:
            return TarFormatError(f"{what} {pax_problem}")
        if kind != "file":
            return UnsafeMemberError(f"{what} is a {kind}, not a regular file")
        if name is None:
            return UnsafeMemberError(f"{what} has a name that is not UTF-8")
        why = name_problem(name)
        if why is not None:
            return UnsafeMemberError(f"{what} {why}")
        if size > self.limits.max_member_bytes:
            return MemberTooLargeError(
                f"{what} is {size:,} bytes, above max_member_bytes={self.limits.max_member_bytes:,}"
            )
        return None

    def resync(self) -> bool:
        """After a :class:`BadHeader`, scan forward block by block for the next header whose
        checksum holds; ``True`` with the reader positioned at it, ``False`` at the end."""
        while True:
            hpos = self.pos
            try:
                block = self._block()
            except Truncated:
                return False
            if block is None:
                return False
            if block != bytes(BLOCK) and _checksum_ok(block, hpos) and block[:1] != b"\0":
                self._pushed = block
                self.pos -= BLOCK
                return True


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


Keep = Callable[[Entry], Any]


def read_sample(
    tar: TarReader,
    key: str,
    end: int | None,
    keep: Keep | None = None,
    *,
    alone: bool = False,
) -> tuple[dict[str, Any], BadMemberError | None]:
    """The members of the sample ``key`` that starts at ``tar.pos`` and ends at ``end`` (the
    next sample's offset; ``None`` for the last one, which ends with the archive). With
    ``alone`` and no ``end`` (one sample read on its own), a member of another key ends the
    sample instead of being a problem; the reader is then past it.

    Returns ``(members, problem)``: ``problem`` is the first reason the sample is refused, or
    ``None``. Either way the reader is left at ``end`` (in step for the next sample). A break
    the reader cannot step over (:class:`TarBreak`) propagates. ``keep(entry)`` turns a good
    member into what is stored (default: its bytes)."""
    members: dict[str, Any] = {}
    seen: dict[str, int] = {}
    problem: BadMemberError | None = None
    first = tar.pos
    while end is None or tar.pos < end:
        entry = tar.next(end)
        if entry is None:
            break
        k, ext = split_name(entry.name)
        if alone and end is None and k != key and seen:
            break
        if problem is None:
            if entry.problem is not None:
                problem = entry.problem
            elif k != key:
                problem = TarFormatError(
                    f"member {entry.name!r} at byte {entry.offset} does not belong to this sample "
                    "(the manifest's keys or offsets do not match the tar)"
                )
            elif ext in seen:
                problem = DuplicateMemberError(
                    f"member {entry.name!r} appears twice in the sample (bytes {seen[ext]} and {entry.offset})"
                )
        seen.setdefault(ext, entry.offset)
        if problem is None:
            members[ext] = keep(entry) if keep is not None else entry.data
    if not seen and problem is None:
        problem = TarFormatError(f"no member at byte {first}: the archive ends before this sample")
    return members, problem


@dataclass
class SampleRecord:
    """A sample found by :func:`scan_samples`: its key, its offset, its members' extensions
    and sizes, and why it is refused (``problem``) if it is."""

    key: str
    offset: int
    fields: dict[str, int]
    problem: str | None = None
    error: type[BadMemberError] | None = None


def scan_samples(tar: TarReader) -> Iterator[SampleRecord]:
    """Every sample of a shard read front to back without a manifest (``shards index``, and
    the loader for shard lists): consecutive members with one key form a sample. Refused
    members, unreadable headers (after which the scan resynchronises at the next header) and a
    truncated or corrupt tail each become a sample of their own or mark the sample they fall
    in, so every byte range is accounted for and nothing is dropped silently."""
    current: SampleRecord | None = None
    while True:
        try:
            entry = tar.next()
        except TarBreak as exc:
            done, records = _after_break(tar, exc, current)
            yield from records
            current = None
            if done:
                return
            continue
        if entry is None:
            if current is not None:
                yield current
            return
        k, ext = split_name(entry.name)
        if entry.problem is not None and name_problem(entry.name) is not None:
            k = f"bad-name-at-byte-{entry.offset}"  # never record a hostile name as a key
        if current is None or k != current.key:
            if current is not None:
                yield current
            current = SampleRecord(k, entry.offset, {})
        if current.problem is None:
            if entry.problem is not None:
                current.problem, current.error = str(entry.problem), type(entry.problem)
            elif ext in current.fields:
                current.problem = (
                    f"member {entry.name!r} appears twice in the sample (byte {entry.offset})"
                )
                current.error = DuplicateMemberError
        current.fields.setdefault(ext, entry.size)


def _after_break(
    tar: TarReader, exc: TarBreak, current: SampleRecord | None
) -> tuple[bool, list[SampleRecord]]:
    """The records a break ends and whether the scan is over. The break marks the sample whose
    member it hit (``current`` when the member is one of its own, else a record of its own at
    the member's first header). After a header that cannot be trusted, or a size field that
    runs past the end of the file, the scan looks for the next header: found, only this range
    is lost; not found, the tail is (a truncated shard)."""
    out: list[SampleRecord] = []
    key = split_name(exc.name)[0] if exc.name and name_problem(exc.name) is None else None
    if current is not None and (key is None or key != current.key):
        out.append(current)
        current = None
    if current is None:
        kind = "bad-header" if isinstance(exc, (BadHeader, Overrun)) else "broken"
        current = SampleRecord(key or f"{kind}-at-byte-{exc.start}", exc.start, {})
    out.append(current)
    current.problem = exc.reason
    current.error = None if isinstance(exc, Truncated) else TarFormatError
    if not isinstance(exc, (BadHeader, Overrun)):
        return True, out
    current.error = TarFormatError  # a lying size field, unless nothing follows (below)
    try:
        found = tar.resync()
    except CorruptStream as corrupt:
        current.problem = f"{exc.reason}; then {corrupt.reason}"
        return True, out
    if not found and isinstance(exc, Overrun):
        current.error = None  # no later header: the shard is truncated
    return not found, out


def walk_samples(
    tar: TarReader,
    keys: Sequence[str],
    offsets: Sequence[int],
    duplicates: Mapping[int, int] | None = None,
) -> Iterator[tuple[int, dict[str, Any], BadMemberError | None]]:
    """Every sample a manifest lists, front to back: ``(index, members, problem)``, with the
    same rules as the loader's reader. A header that cannot be trusted costs its sample only
    (the walk steps on to the next sample's offset); after a truncation or a corrupt gzip
    stream each remaining sample comes back with a :class:`TruncatedShardError`."""
    n = len(offsets)
    for i in range(n):
        start = int(offsets[i])
        end = int(offsets[i + 1]) if i + 1 < n else None
        try:
            tar.skip_to(start)
            members, problem = read_sample(tar, keys[i], end)
        except BadHeader as exc:
            yield i, {}, TarFormatError(exc.reason, None, None, exc.pos)
            if end is None:
                return
            continue  # the break was before ``end`` (offsets sit on blocks): the walk goes on
        except (Truncated, CorruptStream) as exc:
            cls = TruncatedShardError if isinstance(exc, Truncated) else TarFormatError
            yield i, {}, cls(exc.reason, None, None, exc.pos)
            for j in range(i + 1, n):
                yield (
                    j,
                    {},
                    cls(f"lost: the shard cannot be read past byte {exc.pos}", None, None, exc.pos),
                )
            return
        if problem is None and duplicates and i in duplicates:
            problem = duplicate_key(keys[i], int(offsets[duplicates[i]]), start)
        yield i, members, problem


def duplicate_key(key: str, first: int, again: int) -> DuplicateMemberError:
    """The error of a sample whose key an earlier sample of the same shard already has."""
    return DuplicateMemberError(
        f"key {key!r} appears twice in the shard (samples at bytes {first} and {again}); the "
        "first one is kept"
    )
