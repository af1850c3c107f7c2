"""Bytes from anywhere fsspec reaches, streamed in ranges, with retries and an optional cache.

:func:`open_range` returns a stream of bytes ``[start, end)`` of a local file or URL. Remote
bytes come in chunks of ``chunk_bytes``, each one ranged request; a request that fails
(dropped connection, timeout, 5xx) is retried with exponential backoff from the byte offset
where that chunk starts, so nothing is lost or repeated. Local paths use plain file reads.

With ``cache_dir``, a remote shard is fetched whole into the cache (checked against the
manifest's sha256 when it has one) and read from there; the cache is kept under
``cache_bytes`` by evicting the least recently used shards.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import ChecksumError, SourceError, TransientError

__all__ = [
    "Counters",
    "RangeStream",
    "RemoteOptions",
    "is_local",
    "is_transient",
    "open_range",
    "url_to_fs",
    "with_retries",
]

_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
_TRANSIENT_MODULES = ("aiohttp", "botocore", "urllib3", "requests", "http.client", "asyncio")


@dataclass
class RemoteOptions:
    retries: int = 5
    backoff: float = 0.25
    max_backoff: float = 8.0
    chunk_bytes: int = 4 << 20
    storage_options: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None
    cache_bytes: int | None = None


@dataclass
class Counters:
    """Running totals of one process, shipped to the main process with each batch."""

    bytes_read: int = 0
    retries: int = 0
    requests: int = 0


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def _local_path(url: str) -> str:
    return url[len("file://") :] if url.startswith("file://") else url


def url_to_fs(url: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **storage_options)
    return fs, path


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, (OSError, TimeoutError, ConnectionError)):
        return True
    mod = type(exc).__module__
    return mod.startswith(_TRANSIENT_MODULES)


def with_retries(what: str, opts: RemoteOptions, counters: Counters, fn: Any) -> Any:
    attempt = 0
    while True:
        try:
            counters.requests += 1
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt >= opts.retries:
                raise TransientError(
                    f"{what}: still failing after {opts.retries} retries: {type(exc).__name__}: {exc}"
                ) from exc
            delay = min(opts.max_backoff, opts.backoff * 2**attempt)
            time.sleep(delay * (0.5 + random.random() / 2))
            attempt += 1
            counters.retries += 1


class RangeStream(io.RawIOBase):
    """Bytes ``[start, end)`` of a remote file, fetched chunk by chunk with retries."""

    def __init__(
        self, url: str, start: int, end: int, opts: RemoteOptions, counters: Counters
    ) -> None:
        self.url = url
        self.fs, self.path = url_to_fs(url, opts.storage_options)
        self.pos = start
        self.end = end
        self.opts = opts
        self.counters = counters
        self._buf = b""
        self._at = 0  # read position in _buf (slicing the rest off each time would be O(n^2))

    def readable(self) -> bool:
        return True

    def _fetch(self) -> bytes:
        stop = min(self.end, self.pos + self.opts.chunk_bytes)
        where = f"{self.url} bytes {self.pos}-{stop - 1}"
        data: bytes = with_retries(
            where,
            self.opts,
            self.counters,
            lambda: self.fs.cat_file(self.path, start=self.pos, end=stop),
        )
        want = stop - self.pos
        if len(data) > want:
            raise SourceError(
                f"{where}: the server sent {len(data)} bytes for a {stop - self.pos}-byte range "
                "(it ignores Range requests; serve the shards from one that honours them)"
            )
        self.pos += len(data)
        self.counters.bytes_read += len(data)
        if len(data) < want:  # the file is shorter than expected: an early end
            self.end = self.pos
        return data

    def read(self, n: int = -1, /) -> bytes:
        if self._at >= len(self._buf):
            if self.pos >= self.end:
                return b""
            self._buf, self._at = self._fetch(), 0
        if n < 0:
            n = len(self._buf) - self._at
        out = self._buf[self._at : self._at + n]
        self._at += len(out)
        return out


class LocalRange(io.RawIOBase):
    """Bytes ``[start, end)`` of a local file."""

    def __init__(self, path: str, start: int, end: int | None, counters: Counters) -> None:
        self.path = path
        self.f: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.f.seek(start)
        self.left = None if end is None else end - start
        self.counters = counters

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1, /) -> bytes:
        if self.left is not None:
            n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        if self.left is not None:
            self.left -= len(data)
        self.counters.bytes_read += len(data)
        return data

    def fileno(self) -> int:
        return self.f.fileno()

    def close(self) -> None:
        self.f.close()
        super().close()


def remote_size(url: str, opts: RemoteOptions, counters: Counters) -> int:
    fs, path = url_to_fs(url, opts.storage_options)
    return int(with_retries(f"{url}: size", opts, counters, lambda: fs.size(path)))


def open_range(
    url: str,
    start: int,
    end: int | None,
    opts: RemoteOptions,
    counters: Counters,
    sha256: str | None = None,
) -> io.RawIOBase:
    """Bytes ``[start, end)`` of ``url`` (``end=None``: to the end of the file)."""
    if is_local(url):
        return LocalRange(_local_path(url), start, end, counters)
    if opts.cache_dir:
        local = cached_copy(url, opts, counters, sha256)
        return LocalRange(str(local), start, end, counters)
    size = remote_size(url, opts, counters)
    return RangeStream(url, start, size if end is None else min(end, size), opts, counters)


def cached_copy(url: str, opts: RemoteOptions, counters: Counters, sha256: str | None) -> Path:
    """A verified local copy of ``url`` in the cache, fetched if missing."""
    assert opts.cache_dir is not None
    cache = Path(opts.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    name = sha256 or hashlib.sha256(url.encode()).hexdigest()
    target = cache / f"{name}.shard"
    if target.exists():
        os.utime(target)
        return target
    tmp = cache / f".{name}.{os.getpid()}.partial"
    digest = hashlib.sha256()
    size = remote_size(url, opts, counters)
    stream = RangeStream(url, 0, size, opts, counters)
    try:
        with open(tmp, "wb") as f:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ChecksumError(
                f"{url}: sha256 is {digest.hexdigest()}, the manifest says {sha256}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _evict(cache, opts.cache_bytes, keep=target)
    return target


def _evict(cache: Path, limit: int | None, keep: Path) -> None:
    if limit is None:
        return
    files = sorted(cache.glob("*.shard"), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in files)
    for p in files:
        if total <= limit:
            break
        if p == keep:
            continue
        total -= p.stat().st_size
        p.unlink(missing_ok=True)
