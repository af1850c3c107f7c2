"""Index WebDataset tars that have no manifest: read each once with the one tar reader and
record every sample's key and byte offset, the shard's size and sha256, and the fields seen.

Used by the loader for shard lists, brace patterns and globs, and by ``visiondata shards
index`` (:func:`index_set`), which writes the manifest for a WebDataset shard set it did not
write: a local folder, a brace pattern or glob, or a remote folder (``s3://``, ``gs://``,
``hf://``, ...). Samples the member policy refuses stay in the index, each with its reason, so
the loader reports them by key instead of silently dropping them.

Where the manifest goes: beside the shards when they are in a local folder that can be written;
elsewhere (``output``) the manifest records the shards' folder or URL as its ``base``, and the
shard names are relative to it (see :mod:`.sources` for how a ``base`` is contained). A source
that cannot be written to is never written to.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._engine import Engine, get_engine
from ..errors import SourceError
from .manifest import (
    MANIFEST_NAME,
    ConverterInfo,
    Manifest,
    ShardInfo,
    SplitInfo,
    library_version,
    read_manifest,
    write_manifest,
)
from .members import DEFAULT_LIMITS, Limits, is_gzip
from .remote import Counters, RemoteOptions, is_local, open_range, url_to_fs, with_retries
from .tar import TarReader, scan_samples

__all__ = [
    "SHARD_SUFFIXES",
    "IndexResult",
    "IndexedShard",
    "build_manifest",
    "index_one",
    "index_set",
    "list_shards",
]

#: what counts as a shard in a folder
SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz")


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
    shards: Sequence[IndexedShard],
    split: str = "train",
    card: str | None = None,
    *,
    base: str | None = None,
    options: dict[str, Any] | None = None,
) -> Manifest:
    """A manifest of one split from indexed shards (names as they are: relative to the folder
    the manifest is written to, or to ``base``)."""
    total = sum(len(s.keys) for s in shards)
    seen: dict[str, int] = {}
    for s in shards:
        for ext, n in s.fields.items():
            seen[ext] = seen.get(ext, 0) + n
    fields = {ext: f"found in {seen[ext]:,} of {total:,} samples" for ext in sorted(seen)}
    infos = [s.info() for s in shards]
    return Manifest(
        base=base,
        card=card,
        converter=ConverterInfo(
            name="index", version=library_version(), options=dict(options or {})
        ),
        fields=fields,
        splits={split: SplitInfo(num_samples=sum(i.num_samples for i in infos), shards=infos)},
    )


# -- a whole set: `visiondata shards index` ----------------------------------------------------


def list_shards(source: str, opts: RemoteOptions) -> list[str]:
    """The shards ``source`` names: a folder's ``.tar``/``.tar.gz``/``.tgz`` files (sorted), or
    what a brace pattern, glob or shard URL expands to."""
    from .sources import check_url, expand_pattern

    text = check_url(source.rstrip("/") if "://" in source else source)
    if text.endswith(SHARD_SUFFIXES) or any(c in text for c in "{*["):
        return expand_pattern(text, opts)
    if is_local(text):
        folder = Path(text.removeprefix("file://"))
        if not folder.is_dir():
            raise SourceError(
                f"{source}: no such folder (expected a folder of shards or a pattern)"
            )
        found = sorted(str(p) for p in folder.iterdir() if p.name.endswith(SHARD_SUFFIXES))
    elif text.split("://", 1)[0].lower() in ("http", "https"):
        raise SourceError(
            f"{source}: an HTTP server cannot be asked for a folder listing; name the shards "
            "with a brace pattern such as .../train-{000000..000099}.tar"
        )
    else:
        fs, path = url_to_fs(text, opts.storage_options)
        names = with_retries(f"{text}: list", opts, Counters(), lambda: fs.ls(path, detail=False))
        found = sorted(fs.unstrip_protocol(n) for n in names if str(n).endswith(SHARD_SUFFIXES))
    if not found:
        raise SourceError(f"{source}: holds no shards ({', '.join(SHARD_SUFFIXES)})")
    return found


def _root_of(urls: Sequence[str]) -> str:
    """The deepest folder holding every one of ``urls`` (all local, or all on one host)."""
    if all(is_local(u) for u in urls):
        paths = [os.path.abspath(u.removeprefix("file://")) for u in urls]
        return os.path.commonpath([os.path.dirname(p) for p in paths])
    heads = {u.split("://", 1)[0] + "://" + u.split("://", 1)[1].split("/", 1)[0] for u in urls}
    if len(heads) != 1:
        raise SourceError(f"the shards are on {len(heads)} hosts; index each host's separately")
    head = heads.pop()
    paths = ["/" + u[len(head) :].lstrip("/") for u in urls]
    return head + posixpath.commonpath([posixpath.dirname(p) for p in paths]).rstrip("/")


def _relative(url: str, root: str) -> str:
    if is_local(url):
        return os.path.relpath(os.path.abspath(url.removeprefix("file://")), root)
    return url[len(root) :].lstrip("/")


def _output(
    source: str, root: str, output: str | os.PathLike[str] | None
) -> tuple[Path, str | None]:
    """Where the manifest goes, and the ``base`` it records (None: beside the shards)."""
    if output is None:
        if not is_local(root):
            raise SourceError(
                f"{source}: is remote, and the manifest is not written into a source; give "
                "an output folder (--output DIR)"
            )
        if not os.access(root, os.W_OK):
            raise SourceError(f"{root}: cannot be written to; give an output folder (--output DIR)")
        return Path(root), None
    out = Path(output)
    if is_local(root) and out.resolve() == Path(root).resolve():
        return out, None
    return out, root


@dataclass
class IndexResult:
    """What :func:`index_set` wrote."""

    path: Path
    split: str
    manifest: Manifest
    shards: list[IndexedShard]
    seconds: float

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    @property
    def problems(self) -> list[tuple[str, str, int, str]]:
        """(shard, key, byte offset, reason) of every sample the member policy refuses."""
        return [(s.name, k, o, r) for s in self.shards for k, o, r in s.problems]

    def summary(self) -> str:
        n = sum(len(s.keys) for s in self.shards)
        rate = self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0
        return (
            f"split {self.split!r}: {n:,} samples in {len(self.shards)} shard(s), "
            f"{self.bytes / 1e6:.1f} MB indexed in {self.seconds:.1f} s ({rate:.0f} MB/s)"
            + (f", {len(self.problems)} refused sample(s)" if self.problems else "")
            + f" -> {self.path}"
            + (
                f"\nthe shards are on another origin than the manifest ({self.manifest.base}): "
                "load it with allow_external_shards=True (--allow-external-shards)"
                if self.manifest.base is not None and not is_local(self.manifest.base)
                else ""
            )
        )


def _merged(existing: Manifest | None, new: Manifest, split: str, where: Path) -> Manifest:
    """``new``'s split added to what ``where`` already holds (another split, same base)."""
    if existing is None:
        return new
    if existing.converter.name != "index":
        raise SourceError(
            f"{where} holds a manifest written by the {existing.converter.name!r} converter; "
            "write the index elsewhere (--output DIR)"
        )
    if existing.base != new.base:
        raise SourceError(
            f"{where} indexes shards under {existing.base or 'its own folder'}, not "
            f"{new.base or 'its own folder'}; write this index elsewhere (--output DIR)"
        )
    fields = dict(existing.fields)
    fields.update(new.fields)
    splits = {**existing.splits, split: new.splits[split]}
    return new.model_copy(
        update={"fields": dict(sorted(fields.items())), "splits": dict(sorted(splits.items()))}
    )


def _index_task(shared: tuple[RemoteOptions, Limits], url: str) -> IndexedShard:
    return index_one(url, shared[0], shared[1])


def _index_on(
    eng: Engine,
    urls: list[str],
    names: list[str],
    shared: tuple[RemoteOptions, Limits],
    progress: Callable[[IndexedShard, int, int], None] | None,
) -> list[IndexedShard]:
    """Every shard indexed by an engine's tasks, back in the order of ``urls``."""
    found: list[IndexedShard | None] = [None] * len(urls)
    with eng:
        for n, (i, shard, _host) in enumerate(
            eng.map(_index_task, urls, shared=shared, describe=lambda u: f"shard {u}"), 1
        ):
            shard.name = names[i]
            found[i] = shard
            if progress is not None:
                progress(shard, n, len(urls))
    return [s for s in found if s is not None]


def index_set(
    source: str,
    output: str | os.PathLike[str] | None = None,
    *,
    split: str = "train",
    card: str | None = None,
    workers: int = 1,
    limits: Limits = DEFAULT_LIMITS,
    opts: RemoteOptions | None = None,
    progress: Callable[[IndexedShard, int, int], None] | None = None,
    engine: str | Engine = "local",
) -> IndexResult:
    """Index every shard ``source`` names (``workers`` at a time) and write or extend the
    manifest (see the module docstring for where it goes). ``progress(shard, done, total)`` is
    called as each shard is indexed, in order. ``engine="ray"`` reads one shard per Ray task
    (every worker must reach the shards: a shared folder, or a URL); the manifest is the same."""
    opts = opts or RemoteOptions()
    eng = get_engine(engine)
    t0 = time.monotonic()
    if output is None and not is_local(os.fspath(source)):
        _output(os.fspath(source), os.fspath(source), None)  # refuses before any request
    urls = list_shards(os.fspath(source), opts)
    root = _root_of(urls)
    out, base = _output(os.fspath(source), root, output)
    names = [_relative(u, root) for u in urls]
    if eng is not None:
        shards = _index_on(eng, urls, names, (opts, limits), progress)
    else:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(index_one, u, opts, limits) for u in urls]
            shards = []
            for fut, name in zip(futures, names, strict=True):
                shard = fut.result()
                shard.name = name
                shards.append(shard)
                if progress is not None:
                    progress(shard, len(shards), len(urls))
    manifest = build_manifest(shards, split, card, base=base, options={"source": os.fspath(source)})
    existing = read_manifest(out) if (out / MANIFEST_NAME).is_file() else None
    manifest = _merged(existing, manifest, split, out)
    path = write_manifest(manifest, out)
    return IndexResult(path, split, manifest, shards, time.monotonic() - t0)
