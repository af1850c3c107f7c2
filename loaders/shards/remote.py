"""Bytes from anywhere fsspec reaches, streamed in ranges, with timeouts, retries and a cache.

:func:`open_range` returns a stream of bytes ``[start, end)`` of a local file or URL. Remote
bytes come in chunks of ``chunk_bytes``, each one ranged request; a request that fails
(dropped connection, timeout, 5xx) is retried with exponential backoff from the byte offset
where that chunk starts, so nothing is lost or repeated; each retry asks for half as much as
the one before (down to 16 KiB), so a link that keeps dropping still lets the reads progress.

Every wait is bounded. ``connect_timeout`` and ``read_timeout`` go to the HTTP and S3 clients
(aiohttp's ``sock_connect``/``sock_read``, botocore's ``connect_timeout``/``read_timeout``),
and each request to an asynchronous fsspec file system (HTTP, S3, GCS, Azure, ...) must also
finish within ``connect_timeout + read_timeout`` seconds in all, or it is cancelled. A failed
request is retried at most ``retries`` times and for at most ``retry_timeout`` seconds in
all; then :class:`~visiondata.loaders.errors.TransientError` names the URL and the range. The
size probe (HEAD, or fsspec's GET fallback) is retried like any other read. Local paths use
plain file reads.

With ``cache_dir``, a remote shard is fetched whole into the cache (checked against the
manifest's sha256 when it has one) and read from there; the cache is kept under
``cache_bytes`` by evicting the least recently used shards. A cached copy is checked against
the manifest's sha256 again when it is used (once per process while its size, mtime and inode
are unchanged, :func:`is_verified`); a damaged copy is deleted and fetched again. The same
record spares the reader re-hashing a local shard it has already checked whole.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from visiondata.registry.errors import VisionDataWarning

from ..errors import ChecksumError, SourceError, TransientError

__all__ = [
    "CacheRepairedWarning",
    "Counters",
    "RangeStream",
    "RemoteOptions",
    "is_local",
    "is_transient",
    "open_range",
    "url_to_fs",
    "with_retries",
]

# The smallest request a retry shrinks to (see RangeStream._fetch).
_MIN_RETRY_BYTES = 16 * 1024
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
_TRANSIENT_MODULES = ("aiohttp", "botocore", "urllib3", "requests", "http.client", "asyncio")


class CacheRepairedWarning(VisionDataWarning):
    """A cached shard no longer matched the manifest's sha256; it was deleted and fetched again."""


@dataclass
class RemoteOptions:
    retries: int = 5
    backoff: float = 0.25
    max_backoff: float = 8.0
    chunk_bytes: int = 4 << 20
    storage_options: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None
    cache_bytes: int | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    retry_timeout: float = 30.0

    def fs_options(self, url: str) -> dict[str, Any]:
        """The storage options for ``url``: the user's, plus the timeouts for HTTP and S3 where
        the user did not set them."""
        opts = dict(self.storage_options)
        proto = url.split("://", 1)[0].lower() if "://" in url else "file"
        if proto in ("http", "https"):
            import aiohttp

            client = dict(opts.get("client_kwargs") or {})
            client.setdefault(
                "timeout",
                aiohttp.ClientTimeout(
                    total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
                ),
            )
            opts["client_kwargs"] = client
        elif proto in ("s3", "s3a"):
            config = dict(opts.get("config_kwargs") or {})
            config.setdefault("connect_timeout", self.connect_timeout)
            config.setdefault("read_timeout", self.read_timeout)
            opts["config_kwargs"] = config
        return opts

    def call_kwargs(self, fs: Any) -> dict[str, Any]:
        """Keyword arguments that bound one call to ``fs``: fsspec's asynchronous file systems
        take ``timeout=`` (seconds in all, the call is cancelled after it)."""
        from fsspec.asyn import AsyncFileSystem

        if isinstance(fs, AsyncFileSystem) and not fs.asynchronous:
            return {"timeout": self.connect_timeout + self.read_timeout}
        return {}


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


def with_retries(
    what: str | Callable[[], str],
    opts: RemoteOptions,
    counters: Counters,
    fn: Any,
    on_retry: Callable[[], None] | None = None,
) -> Any:
    """``fn()``, retried on transient errors at most ``opts.retries`` times and for at most
    ``opts.retry_timeout`` seconds in all; then :class:`TransientError` naming ``what`` (a
    string, or a function giving the one for the last attempt). ``on_retry`` runs before each
    retry."""
    attempt = 0
    t0 = time.monotonic()
    while True:
        try:
            counters.requests += 1
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            elapsed = time.monotonic() - t0
            delay = min(opts.max_backoff, opts.backoff * 2**attempt) * (0.5 + random.random() / 2)
            if attempt >= opts.retries or elapsed + delay > opts.retry_timeout:
                why = (
                    f"after {attempt} retries"
                    if attempt >= opts.retries
                    else f"after {elapsed:.1f} s and {attempt} retries (retry_timeout={opts.retry_timeout:g} s)"
                )
                detail = str(exc) or (
                    "no answer within the timeout" if isinstance(exc, TimeoutError) else ""
                )
                raise TransientError(
                    f"{what() if callable(what) else what}: still failing {why}: "
                    f"{type(exc).__name__}" + (f": {detail}" if detail else "")
                ) from exc
            time.sleep(delay)
            attempt += 1
            counters.retries += 1
            if on_retry is not None:
                on_retry()


class RangeStream(io.RawIOBase):
    """Bytes ``[start, end)`` of a remote file, fetched chunk by chunk with retries."""

    def __init__(
        self, url: str, start: int, end: int, opts: RemoteOptions, counters: Counters
    ) -> None:
        self.url = url
        self.fs, self.path = url_to_fs(url, opts.fs_options(url))
        self._call = opts.call_kwargs(self.fs)
        self.pos = start
        self.end = end
        self.opts = opts
        self.counters = counters
        self._want = opts.chunk_bytes  # bytes to ask for next (halved on each retry)
        self._buf = b""
        self._at = 0  # read position in _buf (slicing the rest off each time would be O(n^2))

    def readable(self) -> bool:
        return True

    def _fetch(self) -> bytes:
        # fsspec's cat_file is all or nothing: a request cut off midway loses what it got. So
        # each retry asks for half as much as the one before (down to _MIN_RETRY_BYTES), and a
        # link that drops every N bytes still lets the retries make progress; the request size
        # grows back, doubling, with each chunk that arrives whole. (Found by the loopback
        # proxy test: two workers behind one link cut every 90 KB could lose the same 64 KiB
        # request six times in a row.)
        def stop() -> int:
            return min(self.end, self.pos + self._want)

        def shrink() -> None:
            self._want = max(min(_MIN_RETRY_BYTES, self.opts.chunk_bytes), self._want // 2)

        def where() -> str:
            return f"{self.url} bytes {self.pos}-{stop() - 1}"

        data: bytes = with_retries(
            where,
            self.opts,
            self.counters,
            lambda: self.fs.cat_file(self.path, start=self.pos, end=stop(), **self._call),
            on_retry=shrink,
        )
        want = stop() - self.pos
        if len(data) > want:
            raise SourceError(
                f"{where()}: the server sent {len(data)} bytes for a {want}-byte range "
                "(it ignores Range requests; serve the shards from one that honours them)"
            )
        self.pos += len(data)
        self.counters.bytes_read += len(data)
        if len(data) < want:  # the file is shorter than expected: an early end
            self.end = self.pos
        self._want = min(self.opts.chunk_bytes, self._want * 2)
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
    fs, path = url_to_fs(url, opts.fs_options(url))
    call = opts.call_kwargs(fs)
    size = with_retries(f"{url}: size", opts, counters, lambda: fs.size(path, **call))
    if size is None:
        raise SourceError(f"{url}: the server does not say how large the file is")
    return int(size)


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


#: local file -> (inode, size, mtime_ns, sha256) when its sha256 was last checked against a
#: manifest in this process: cache files (on every fill and first use) and local shards (when
#: a cursor read one whole). Keyed by path; a file replaced, grown or touched is checked again.
_VERIFIED: dict[str, tuple[int, int, int, str]] = {}


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def is_verified(path: str, st: os.stat_result, sha256: str) -> bool:
    """Whether ``path``, as ``st`` describes it now, already matched ``sha256`` in this process."""
    return _VERIFIED.get(path) == (*_signature(st), sha256)


def mark_verified(path: str, st: os.stat_result, sha256: str) -> None:
    """Record that ``path`` (as ``st`` described it when it was opened) matched ``sha256``."""
    _VERIFIED[path] = (*_signature(st), sha256)


def verified_files() -> dict[str, tuple[int, int, int, str]]:
    """A copy of this process's record of checked files (for handing to other processes)."""
    return dict(_VERIFIED)


def add_verified(files: dict[str, tuple[int, int, int, str]]) -> None:
    """Take in another process's record (:func:`verified_files`); each entry still applies only
    while the file's inode, size and mtime are the recorded ones."""
    _VERIFIED.update(files)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _cached_ok(target: Path, sha256: str) -> bool:
    st = target.stat()
    if is_verified(str(target), st, sha256):
        return True
    if _file_sha256(target) != sha256:
        return False
    mark_verified(str(target), st, sha256)
    return True


def cached_copy(url: str, opts: RemoteOptions, counters: Counters, sha256: str | None) -> Path:
    """A verified local copy of ``url`` in the cache, fetched if missing or damaged."""
    assert opts.cache_dir is not None
    cache = Path(opts.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    name = sha256 or hashlib.sha256(url.encode()).hexdigest()
    target = cache / f"{name}.shard"
    if target.exists():
        if sha256 is None or _cached_ok(target, sha256):
            st = target.stat()  # LRU by access time; mtime stays, so the check above holds
            os.utime(target, ns=(time.time_ns(), st.st_mtime_ns))
            return target
        warnings.warn(
            f"{url}: the cached copy {target} no longer matches the manifest's sha256 {sha256}; "
            "it was deleted and is fetched again",
            CacheRepairedWarning,
            stacklevel=2,
        )
        target.unlink(missing_ok=True)
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
                f"{url} (cache file {target}): the fetched bytes have sha256 {digest.hexdigest()}, "
                f"the manifest says {sha256}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    if sha256 is not None:
        mark_verified(str(target), target.stat(), sha256)
    _evict(cache, opts.cache_bytes, keep=target)
    return target


def _evict(cache: Path, limit: int | None, keep: Path) -> None:
    if limit is None:
        return
    files = sorted(cache.glob("*.shard"), key=lambda p: p.stat().st_atime)
    total = sum(p.stat().st_size for p in files)
    for p in files:
        if total <= limit:
            break
        if p == keep:
            continue
        total -= p.stat().st_size
        p.unlink(missing_ok=True)
