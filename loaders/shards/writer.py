"""One shard writer for every converter: deterministic WebDataset tars with an index.

Members of a sample are written as ``{key}.{ext}`` in sorted extension order, with normalized
metadata (mtime 0, uid/gid 0, no user names, mode 0444, USTAR), so writing the same samples
twice gives byte-identical files. While writing, it records each sample's key, the byte
offset of its first header and the running sha256, and returns them as a manifest
:class:`~visiondata.loaders.shards.manifest.ShardInfo`. No torch here.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
from collections.abc import Mapping
from pathlib import Path

from ..errors import SampleError
from .manifest import ShardInfo

__all__ = ["KEY_PATTERN", "SampleError", "ShardWriter", "check_key"]

#: Sample keys: no dots (WebDataset splits the key from the extension at the first dot of the
#: file name), no leading slash, no '..' component.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")
_EXT_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


def check_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise SampleError(
            f"sample key {key!r} is not valid (expected letters, digits, '_', '-' and '/'-separated parts; no dots)"
        )
    return key


_BLOCK = 512
_RECORD = 20 * _BLOCK  # tar pads the archive to whole 10 KiB records, as tarfile does
_ZERO = bytes(_RECORD + 2 * _BLOCK)


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


# The fixed part of every member header (mode 0444, uid/gid 0, mtime 0, regular file, USTAR,
# no user or group names), byte for byte what tarfile writes for such a TarInfo.
_HEAD_MODE_TO_SIZE = _octal(0o444, 8) + _octal(0, 8) + _octal(0, 8)
_HEAD_MTIME = _octal(0, 12)
_HEAD_TAIL = b"0" + bytes(100) + b"ustar\x0000" + bytes(32 + 32 + 8 + 8 + 155 + 12)
_FIXED_SUM = sum(_HEAD_MODE_TO_SIZE) + sum(_HEAD_MTIME) + sum(_HEAD_TAIL) + 8 * 0x20


def _split_long(name: str) -> tuple[bytes, bytes]:
    """USTAR's split of a long name into (prefix, name) at a '/': the first split where the
    prefix fits 155 bytes and the rest 100 (the split tarfile makes, so bytes are unchanged)."""
    parts = name.split("/")
    for i in range(1, len(parts)):
        prefix, rest = "/".join(parts[:i]).encode(), "/".join(parts[i:]).encode()
        if len(prefix) <= 155 and len(rest) <= 100:
            return prefix, rest
    raise SampleError(
        f"member name {name!r} is too long for a USTAR tar (at most 100 bytes after the last"
        " '/' and 155 before it)"
    )


def _header(name: str, size: int) -> bytes:
    """A USTAR header for a regular file, built directly (the hot path of every converter);
    names over 100 bytes use USTAR's prefix field."""
    raw = name.encode("utf-8")
    prefix = b""
    if len(raw) > 100:
        prefix, raw = _split_long(name)
    name_field = raw + bytes(100 - len(raw))
    size_field = _octal(size, 12)
    tail = _HEAD_TAIL
    if prefix:
        at = len(_HEAD_TAIL) - 12 - 155  # the prefix field, before the 12 bytes of padding
        tail = _HEAD_TAIL[:at] + prefix + bytes(155 - len(prefix)) + _HEAD_TAIL[at + 155 :]
    chksum = _FIXED_SUM + sum(raw) + sum(size_field) + sum(prefix)
    return b"".join(
        (name_field, _HEAD_MODE_TO_SIZE, size_field, _HEAD_MTIME, b"%06o\0 " % chksum, tail)
    )


class _Hasher:
    """sha256 on a helper thread: hashlib releases the GIL, so hashing overlaps the writes."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self._queue: queue.SimpleQueue[bytes | memoryview | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="shard-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self.sha.update(chunk)

    def update(self, chunk: bytes | memoryview) -> None:
        self._queue.put(chunk)

    def hexdigest(self) -> str:
        self._queue.put(None)
        self._thread.join()
        return self.sha.hexdigest()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class ShardWriter:
    """Write samples into one tar file; ``close()`` returns its :class:`ShardInfo`.

    Written to ``path + '.partial'`` and renamed on close, so a crash leaves no file that looks
    complete. Shards are not fsynced one by one: the manifest (written last, fsynced and renamed
    atomically) records each shard's sha256, so a shard torn by a crash fails its checksum on
    resume or ``visiondata shards verify`` and is rewritten.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._file = open(self._partial, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._hash = _Hasher()
        self._pos = 0
        self.keys: list[str] = []
        self.offsets: list[int] = []
        self.labels: list[int | None] = []
        self._seen: set[str] = set()
        self._closed = False

    @property
    def num_samples(self) -> int:
        return len(self.keys)

    @property
    def bytes_written(self) -> int:
        return self._pos

    def _emit(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        while view:
            n = self._file.write(view)
            if n is None:  # pragma: no cover - only for non-blocking files
                continue
            view = view[n:]
        self._hash.update(chunk)
        self._pos += len(chunk)

    def write(self, key: str, members: Mapping[str, bytes], label: int | None = None) -> None:
        """Append one sample: ``members`` maps extension (``jpg``, ``cls``, ``json``) to bytes."""
        check_key(key)
        if key in self._seen:
            raise SampleError(f"duplicate sample key {key!r} in shard {self.path.name}")
        if not members:
            raise SampleError(f"sample {key!r} has no members")
        for ext in members:
            if not _EXT_PATTERN.match(ext):
                raise SampleError(
                    f"sample {key!r}: member extension {ext!r} is not lowercase [a-z0-9_.]"
                )
        # every header first: a name _split_long refuses must leave no bytes and no index entry
        exts = sorted(members)
        headers = [_header(f"{key}.{ext}", len(members[ext])) for ext in exts]
        self._seen.add(key)
        self.keys.append(key)
        self.offsets.append(self._pos)
        self.labels.append(label)
        for ext, head in zip(exts, headers, strict=True):
            data = members[ext]
            size = len(data)
            self._emit(head)
            if size:
                self._emit(data)
            pad = -size % _BLOCK
            if pad:
                self._emit(_ZERO[:pad])

    def close(self) -> ShardInfo:
        if self._closed:
            raise RuntimeError(f"shard {self.path} is already closed")
        self._closed = True
        end = self._pos + 2 * _BLOCK  # two zero blocks end the archive...
        self._emit(_ZERO[: 2 * _BLOCK + (-end % _RECORD)])  # ...padded to a whole record
        self._file.close()
        os.replace(self._partial, self.path)
        has_labels = any(label is not None for label in self.labels)
        return ShardInfo(
            name=self.path.name,
            num_samples=len(self.keys),
            bytes=self._pos,
            sha256=self._hash.hexdigest(),
            keys=self.keys,
            offsets=self.offsets,
            labels=self.labels if has_labels else None,
        )

    def abort(self) -> None:
        """Discard the partial file."""
        if not self._closed:
            self._closed = True
            self._file.close()
        self._hash.stop()
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.abort()
