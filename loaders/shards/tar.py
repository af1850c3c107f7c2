"""A streaming tar reader: members one by one from any ``read(n)`` stream, no seeking.

It reads the USTAR/GNU/pax subset that WebDataset shards use (regular files, GNU long
names, pax ``path``), checks every header's checksum, and tells a clean end (two zero
blocks, or the end of the stream on a member boundary) from a truncation (the stream ends
inside a header or a member's data), which it reports as :class:`Truncated` with the byte
position, so callers can deliver every complete sample before the break.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "BLOCK",
    "BadHeader",
    "Member",
    "Readable",
    "TarStream",
    "Truncated",
    "iter_samples",
    "split_name",
]

BLOCK = 512
_NAME = re.compile(r"^((?:.*/|)[^./]+)[.]([^/]*)$")


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class Truncated(Exception):
    """The stream ended inside a header or a member (at absolute byte ``pos``)."""

    def __init__(self, pos: int, what: str, name: str | None = None) -> None:
        self.pos = pos
        self.name = name
        super().__init__(f"stream ends at byte {pos} inside {what}")


class BadHeader(Exception):
    """Bytes at ``pos`` are not a valid tar header."""

    def __init__(self, pos: int, why: str) -> None:
        self.pos = pos
        super().__init__(f"no valid tar header at byte {pos}: {why}")


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes
    offset: int  # absolute offset of its (first) header
    data_offset: int = -1  # absolute offset of its data


def split_name(name: str) -> tuple[str, str]:
    """WebDataset's split of a member name: key up to the first dot of the file name."""
    m = _NAME.match(name)
    if not m:
        return name, ""
    return m.group(1), m.group(2)


def _octal(field: bytes, pos: int) -> int:
    if field and field[0] & 0x80:  # GNU base-256
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise BadHeader(pos, f"numeric field {field!r} is not octal") from None


def _pax_path(data: bytes) -> str | None:
    path = None
    rest = data
    while rest:
        length_text, _, _ = rest.partition(b" ")
        try:
            length = int(length_text)
        except ValueError:
            break
        record, rest = rest[:length], rest[length:]
        _, _, kv = record.rstrip(b"\n").partition(b" ")
        k, _, v = kv.partition(b"=")
        if k == b"path":
            path = v.decode("utf-8")
        if length <= 0:
            break
    return path


class TarStream:
    """Members of a tar read sequentially from ``stream``; ``offset`` is where it starts."""

    def __init__(self, stream: Readable, offset: int = 0) -> None:
        self.stream = stream
        self.pos = offset
        self.ended = False

    def _raw(self, n: int) -> bytes:
        try:
            return self.stream.read(n)
        except EOFError:  # gzip: compressed stream ended early
            return b""

    def _read(self, n: int, what: str, name: str | None = None) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < n:
            chunk = self._raw(n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        data = b"".join(parts)
        if len(data) < n:
            raise Truncated(self.pos + len(data), what, name)
        self.pos += n
        return data

    def next_member(self) -> Member | None:
        """The next regular file, or None at a clean end of the archive."""
        long_name: str | None = None
        while True:
            start = self.pos
            first = self._raw(BLOCK)
            if not first:
                self.ended = True
                return None  # end of stream on a member boundary
            hdr = first
            while len(hdr) < BLOCK:
                more = self._raw(BLOCK - len(hdr))
                if not more:
                    raise Truncated(start + len(hdr), "a tar header")
                hdr += more
            self.pos += BLOCK
            if hdr == bytes(BLOCK):
                self.ended = True
                return None
            stored = _octal(hdr[148:156], start)
            actual = sum(hdr[:148]) + 8 * 32 + sum(hdr[156:])
            if stored != actual:
                raise BadHeader(start, "header checksum does not match")
            size = _octal(hdr[124:136], start)
            kind = hdr[156:157]
            name = hdr[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
            if hdr[257:262] == b"ustar":
                prefix = hdr[345:500].split(b"\0", 1)[0].decode("utf-8", "replace")
                if prefix:
                    name = prefix + "/" + name
            padded = -(-size // BLOCK) * BLOCK
            data_offset = self.pos
            data = self._read(padded, f"member {name!r}", name)[:size]
            if kind == b"L":
                long_name = data.split(b"\0", 1)[0].decode("utf-8", "replace")
                continue
            if kind == b"x":
                long_name = _pax_path(data) or long_name
                continue
            if kind not in (b"0", b"\0", b"7"):
                long_name = None
                continue  # directories, links, global pax headers: not sample members
            return Member(long_name or name, data, start, data_offset)


def iter_samples(tar: TarStream) -> Iterator[tuple[str, dict[str, bytes], int]]:
    """Group consecutive members by key: ``(key, {ext: bytes}, offset)``.

    Raises :class:`Truncated` after yielding every sample completed before the break.
    """
    key: str | None = None
    members: dict[str, bytes] = {}
    offset = 0
    while True:
        m = tar.next_member()
        if m is None:
            break
        k, ext = split_name(m.name)
        if k != key:
            if key is not None:
                yield key, members, offset
            key, members, offset = k, {}, m.offset
        members[ext] = m.data
    if key is not None:
        yield key, members, offset
