"""Resolve what the user points at into shards with sample counts and per-sample offsets.

A source is a manifest (path or URL), a directory or URL holding ``manifest.json``, a list
of shard URLs, or a brace pattern (``train-{000000..000146}.tar``). Shards without a
manifest are indexed by reading them once (documented cost; write a manifest to avoid it).
``pipe:`` URLs and other shell commands are refused: the loaders never run a shell.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import SourceError, UnsafeURLError
from .manifest import MANIFEST_NAME, ManifestError, parse_manifest
from .remote import Counters, RemoteOptions, is_local, open_range, url_to_fs, with_retries
from .tar import BadHeader, TarStream, Truncated, split_name

__all__ = [
    "ShardEntry",
    "Source",
    "check_url",
    "expand_braces",
    "index_shard",
    "resolve_source",
]

_BRACE = re.compile(r"\{([^{}]*)\}")
_SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True, eq=False)
class ShardEntry:
    """One shard as the loader sees it (from a manifest, or indexed by reading it).

    The per-sample index is kept compact (about 8 bytes per sample for the offset plus the
    key's UTF-8 bytes in one fixed-width array), so it costs tens of bytes per sample, not
    the hundreds that Python lists of str and int would.
    """

    url: str
    name: str
    packed_keys: npt.NDArray[np.bytes_]
    offsets: npt.NDArray[np.int64]
    bytes: int | None = None
    sha256: str | None = None
    labels: npt.NDArray[np.int64] | None = None  # -1 where a sample has none

    @classmethod
    def build(
        cls,
        url: str,
        name: str,
        keys: Sequence[str],
        offsets: Sequence[int],
        bytes: int | None = None,
        sha256: str | None = None,
        labels: Sequence[int | None] | None = None,
    ) -> ShardEntry:
        return cls(
            url=url,
            name=name,
            packed_keys=np.array([k.encode("utf-8") for k in keys], dtype=np.bytes_),
            offsets=np.asarray(offsets, dtype=np.int64),
            bytes=bytes,
            sha256=sha256,
            labels=None
            if labels is None
            else np.array([-1 if x is None else x for x in labels], dtype=np.int64),
        )

    @property
    def num_samples(self) -> int:
        return len(self.offsets)

    def key(self, index: int) -> str:
        return bytes(self.packed_keys[index]).decode("utf-8")

    def offset(self, index: int) -> int:
        return int(self.offsets[index])

    @property
    def compressed(self) -> bool:
        return self.url.endswith((".gz", ".tgz"))


@dataclass(frozen=True)
class Source:
    """One dataset split: its shards plus what its manifest says about them."""

    where: str
    shards: tuple[ShardEntry, ...]
    fields: tuple[str, ...] | None = None
    classes: tuple[str, ...] | None = None
    card: str | None = None

    @property
    def num_samples(self) -> int:
        return sum(s.num_samples for s in self.shards)


def check_url(url: str) -> str:
    """Refuse shell-command URLs and protocols fsspec does not know."""
    import fsspec

    text = url.strip()
    if text.startswith("pipe:") or text.startswith("|") or text.endswith("|"):
        raise UnsafeURLError(
            f"{url!r}: 'pipe:' and other shell-command URLs are refused (visiondata never runs "
            "a shell); give a local path or an fsspec URL such as https://..., s3://..., gs://..."
        )
    if "://" in text:
        proto = text.split("://", 1)[0]
        known = set(fsspec.available_protocols())
        if proto not in known:
            raise SourceError(
                f"{url!r}: unknown protocol {proto!r} (fsspec knows: {', '.join(sorted(known))})"
            )
    return text


def expand_braces(pattern: str) -> list[str]:
    """``a-{000..002}.tar`` -> three names; ``{x,y}`` alternatives; several groups multiply."""
    groups = _BRACE.findall(pattern)
    if not groups:
        return [pattern]
    choices: list[list[str]] = []
    for g in groups:
        m = re.fullmatch(r"(\d+)\.\.(\d+)", g)
        if m:
            lo, hi = m.group(1), m.group(2)
            width = len(lo) if lo.startswith("0") or len(lo) == len(hi) else 0
            if int(hi) < int(lo):
                raise SourceError(f"{pattern!r}: range {{{g}}} runs backwards")
            choices.append([str(i).zfill(width) for i in range(int(lo), int(hi) + 1)])
        elif "," in g:
            choices.append(g.split(","))
        else:
            raise SourceError(f"{pattern!r}: cannot expand {{{g}}} (expected {{0..9}} or {{a,b}})")
    parts = _BRACE.split(pattern)
    out = []
    for combo in itertools.product(*choices):
        pieces = [parts[0]]
        for value, literal in zip(combo, parts[2::2], strict=True):
            pieces += [value, literal]
        out.append("".join(pieces))
    return out


def _join(base: str, name: str) -> str:
    if is_local(base):
        return str(Path(base) / name)
    return posixpath.join(base, name)


def _read_text(url: str, opts: RemoteOptions) -> str:
    try:
        if is_local(url):
            return Path(url.removeprefix("file://")).read_text(encoding="utf-8")
        fs, path = url_to_fs(url, opts.storage_options)
        data = with_retries(url, opts, Counters(), lambda: fs.cat_file(path))
        return bytes(data).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{url}: cannot read manifest: {exc}") from None


def _from_manifest(url: str, split: str, opts: RemoteOptions) -> Source:
    manifest = parse_manifest(_read_text(url, opts), url)
    info = manifest.split(split)
    base = str(Path(url).parent) if is_local(url) else posixpath.dirname(url)
    shards = tuple(
        ShardEntry.build(
            url=check_url(_join(base, s.name)),
            name=s.name,
            keys=s.keys,
            offsets=s.offsets,
            bytes=s.bytes,
            sha256=s.sha256,
            labels=s.labels,
        )
        for s in info.shards
    )
    return Source(
        where=f"{url} (split {split!r})",
        shards=shards,
        fields=tuple(manifest.fields),
        classes=None if manifest.classes is None else tuple(manifest.classes),
        card=manifest.card,
    )


def index_shard(url: str, opts: RemoteOptions) -> ShardEntry:
    """Read a shard once to list its samples. A truncated or damaged tail becomes one last
    sample whose reading reports the break, after every complete sample."""
    counters = Counters()
    stream = open_range(url, 0, None, opts, counters)
    if url.endswith((".gz", ".tgz")):
        import gzip

        stream = gzip.GzipFile(fileobj=stream)  # type: ignore[assignment]
    tar = TarStream(stream)
    keys: list[str] = []
    offsets: list[int] = []
    before = 0
    try:
        while True:
            before = tar.pos
            m = tar.next_member()
            if m is None:
                break
            key, _ = split_name(m.name)
            if not keys or keys[-1] != key:
                keys.append(key)
                offsets.append(m.offset)
    except (Truncated, BadHeader) as exc:
        broken = split_name(exc.name)[0] if isinstance(exc, Truncated) and exc.name else None
        if broken is None or not keys or keys[-1] != broken:
            # the break starts a sample of its own: reading it reports the break
            keys.append(broken or f"broken-at-byte-{before}")
            offsets.append(before)
    finally:
        stream.close()
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return ShardEntry.build(url=url, name=name, keys=keys, offsets=offsets)


def _shard_list(urls: Sequence[str], opts: RemoteOptions) -> Source:
    expanded = [u for url in urls for u in expand_braces(check_url(os.fspath(url)))]
    if not expanded:
        raise SourceError("the list of shard URLs is empty")
    for u in expanded:
        check_url(u)
    shards = tuple(index_shard(u, opts) for u in expanded)
    return Source(
        where=", ".join(expanded[:3]) + (" ..." if len(expanded) > 3 else ""), shards=shards
    )


def resolve_source(source: Any, split: str, opts: RemoteOptions) -> Source:
    """One :class:`Source` from a path, URL, brace pattern or list of shard URLs."""
    if isinstance(source, (list, tuple)):
        if not all(isinstance(s, (str, os.PathLike)) for s in source):
            raise SourceError(
                "a list source must hold shard paths or URLs (for weighted mixing pass "
                "(source, weight) pairs)"
            )
        return _shard_list([os.fspath(s) for s in source], opts)
    if not isinstance(source, (str, os.PathLike)):
        raise SourceError(
            f"source must be a path, URL, list of shard URLs or (source, weight) pairs, "
            f"got {type(source).__name__}"
        )
    text = check_url(os.fspath(source))
    if _BRACE.search(text) or text.endswith(_SHARD_SUFFIXES):
        return _shard_list([text], opts)
    if text.endswith(".json"):
        return _from_manifest(text, split, opts)
    if is_local(text) and not Path(text.removeprefix("file://")).exists():
        raise SourceError(f"{text}: no such file or directory")
    return _from_manifest(_join(text, MANIFEST_NAME), split, opts)
