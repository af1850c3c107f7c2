"""Resolve what the user points at into shards with sample counts and per-sample offsets.

A source is a manifest (path or URL), a directory or URL holding ``manifest.json``, a list of
shard URLs, a brace pattern (``train-{000000..000146}.tar``) or a glob (``shards/train-*.tar``,
local or on any fsspec file system). Shards without a manifest are indexed by reading them once
with the one tar reader (documented cost; ``visiondata shards index`` writes a manifest).

Sources cannot reach outside their set: a manifest's shard names must be relative paths inside
its *root*, the manifest's own folder, or its ``base`` when it has one. Absolute paths, ``..``,
URLs and empty components in a name are refused with
:class:`~visiondata.loaders.errors.UnsafeURLError` naming the entry, for local and remote
manifests alike. A ``base`` (written by ``visiondata shards index --output`` for shards it could
not write beside) must be on the manifest's own *origin*: for a remote manifest the same scheme
and host (the bucket for ``s3://``, the repository for ``hf://``), any path there; for a local
manifest a local path. A relative ``base`` is taken relative to the manifest's folder. So a
remote manifest cannot point at local files (``file:///``) or at another server. Everything
refused here is allowed with ``allow_external_shards=True`` (then absolute names and URLs are
taken as they are), except ``pipe:`` URLs and other shell commands, which are always refused.
"""

from __future__ import annotations

import glob as globlib
import math
import os
import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from ..errors import ManifestError, SourceError, TransientError, UnsafeURLError
from .manifest import MANIFEST_NAME, Manifest, parse_manifest
from .members import DEFAULT_LIMITS, Limits, is_gzip
from .remote import Counters, RemoteOptions, is_local, url_to_fs, with_retries

__all__ = [
    "MAX_PATTERN_NAMES",
    "ShardEntry",
    "Source",
    "check_url",
    "duplicate_positions",
    "expand_braces",
    "expand_pattern",
    "index_shard",
    "load_manifest",
    "manifest_url",
    "origin",
    "resolve_source",
    "shard_root",
    "shard_url",
]

_BRACE = re.compile(r"\{([^{}]*)\}")
_GLOB = re.compile(r"[*?\[]")
_GLOB_REMOTE = re.compile(r"[*\[]")  # '?' starts a URL's query string
_SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz")
#: a brace pattern or glob naming more shards than this is refused (before expanding it)
MAX_PATTERN_NAMES = 100_000


def duplicate_positions(keys: Sequence[str] | npt.NDArray[np.bytes_]) -> dict[int, int]:
    """``{index: first index}`` for every key that repeats an earlier key of the same shard."""
    arr = np.asarray(keys)
    if len(arr) < 2:
        return {}
    _, first, inverse = np.unique(arr, return_index=True, return_inverse=True)
    firsts = first[inverse.reshape(-1)]
    dup = np.nonzero(firsts != np.arange(len(arr)))[0]
    return {int(i): int(firsts[i]) for i in dup}


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
    duplicates: dict[int, int] = field(default_factory=dict)  # index -> earlier index, same key

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
        packed = np.array([k.encode("utf-8") for k in keys], dtype=np.bytes_)
        return cls(
            url=url,
            name=name,
            packed_keys=packed,
            offsets=np.asarray(offsets, dtype=np.int64),
            bytes=bytes,
            sha256=sha256,
            labels=None
            if labels is None
            else np.array([-1 if x is None else x for x in labels], dtype=np.int64),
            duplicates=duplicate_positions(packed),
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
        return is_gzip(self.url)


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


def _brace_choices(pattern: str) -> list[Sequence[str]]:
    choices: list[Sequence[str]] = []
    for g in _BRACE.findall(pattern):
        m = re.fullmatch(r"(\d+)\.\.(\d+)", g)
        if m:
            lo, hi = m.group(1), m.group(2)
            width = len(lo) if lo.startswith("0") or len(lo) == len(hi) else 0
            if int(hi) < int(lo):
                raise SourceError(f"{pattern!r}: range {{{g}}} runs backwards")
            choices.append(_Range(int(lo), int(hi) + 1, width))
        elif "," in g:
            choices.append(g.split(","))
        else:
            raise SourceError(f"{pattern!r}: cannot expand {{{g}}} (expected {{0..9}} or {{a,b}})")
    return choices


@dataclass(frozen=True)
class _Range(Sequence[str]):
    """``{lo..hi}`` as a lazy sequence of zero-padded names (never materialised)."""

    lo: int
    stop: int
    width: int

    def __len__(self) -> int:
        return self.stop - self.lo

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not 0 <= i < len(self):
            raise IndexError(i)
        return str(self.lo + i).zfill(self.width)


def expand_braces(pattern: str, limit: int = MAX_PATTERN_NAMES) -> Iterator[str]:
    """``a-{000..002}.tar`` -> three names; ``{x,y}`` alternatives; several groups multiply.
    Names are produced lazily; a pattern naming more than ``limit`` is refused up front."""
    choices = _brace_choices(pattern)
    if not choices:
        yield pattern
        return
    total = math.prod(len(c) for c in choices)
    if total > limit:
        raise SourceError(
            f"{pattern!r} names {total:,} shards, more than the limit of {limit:,} "
            "(write a manifest with 'visiondata shards index' for sets this large)"
        )
    parts = _BRACE.split(pattern)
    literals = parts[2::2]

    def product(level: int, prefix: str) -> Iterator[str]:
        if level == len(choices):
            yield prefix
            return
        for value in choices[level]:
            yield from product(level + 1, prefix + value + literals[level])

    yield from product(0, parts[0])


def _glob(pattern: str, opts: RemoteOptions) -> list[str]:
    if is_local(pattern):
        path = pattern.removeprefix("file://")
        names = sorted(p for p in globlib.glob(path) if os.path.isfile(p))
    else:
        fs, path = url_to_fs(pattern, opts.storage_options)
        found = with_retries(f"{pattern}: glob", opts, Counters(), lambda: fs.glob(path))
        names = sorted(fs.unstrip_protocol(p) for p in found)
    if len(names) > MAX_PATTERN_NAMES:
        raise SourceError(
            f"{pattern!r} matches {len(names):,} files, more than the limit of {MAX_PATTERN_NAMES:,}"
        )
    if not names:
        raise SourceError(f"{pattern!r} matches no file")
    return names


def _is_glob(name: str) -> bool:
    if is_local(name):
        return bool(_GLOB.search(name.removeprefix("file://")))
    return bool(_GLOB_REMOTE.search(name.split("://", 1)[1]))


def expand_pattern(pattern: str, opts: RemoteOptions) -> list[str]:
    """The shard URLs a brace pattern and/or glob names, in sorted order for globs."""
    out: list[str] = []
    for name in expand_braces(check_url(pattern)):
        if _is_glob(name):
            out += _glob(name, opts)
        else:
            out.append(name)
        if len(out) > MAX_PATTERN_NAMES:
            raise SourceError(f"{pattern!r} names more than {MAX_PATTERN_NAMES:,} shards")
    return out


def origin(url: str) -> tuple[str, str]:
    """Where a URL lives, for containment: ``("file", "")`` for local paths, the repository
    (``datasets/org/name``, revision dropped) for ``hf://``, else the scheme and host."""
    if is_local(url):
        return ("file", "")
    scheme, rest = url.split("://", 1)
    if scheme.lower() == "hf":
        parts = rest.split("/")
        n = 3 if parts[0] in ("datasets", "spaces", "models") else 2
        repo = "/".join(parts[:n]).split("@", 1)[0]
        return ("hf", repo)
    return (scheme.lower(), urlsplit(url).netloc.lower())


def _folder(manifest_url: str) -> str:
    if is_local(manifest_url):
        return str(Path(manifest_url.removeprefix("file://")).parent)
    return posixpath.dirname(manifest_url)


def shard_root(manifest_url: str, base: str | None, allow_external: bool = False) -> str:
    """The folder or URL that the shard names of the manifest at ``manifest_url`` are relative
    to: its own folder, or ``base`` resolved against it and checked to be on the manifest's
    origin (see the module docstring)."""
    folder = _folder(manifest_url)
    if base is None:
        return folder
    text = check_url(base.strip())
    if not text:
        raise UnsafeURLError(f"{manifest_url}: base is empty")
    if "://" not in text and not text.startswith(("/", "~")):  # relative to the manifest
        if is_local(manifest_url):
            return os.path.normpath(Path(folder) / text)
        scheme, rest = folder.split("://", 1)
        host, _, path = rest.partition("/")
        return f"{scheme}://{host}" + posixpath.normpath(posixpath.join("/" + path, text))
    if origin(text) != origin(manifest_url) and not allow_external:
        where = "a local path" if origin(text)[0] == "file" else f"on {origin(text)[1] or text}"
        raise UnsafeURLError(
            f"{manifest_url}: base {base!r} is {where}, not on the manifest's own "
            f"{'disk' if origin(manifest_url)[0] == 'file' else 'host'} "
            f"({'/'.join(x for x in origin(manifest_url) if x)}); a manifest may only name "
            "shards on its own origin (pass allow_external_shards=True to allow this)"
        )
    if is_local(text):
        return os.path.normpath(os.path.expanduser(text.removeprefix("file://")))
    return text.rstrip("/")


def shard_url(
    manifest_url: str,
    name: str,
    index: int,
    allow_external: bool = False,
    *,
    base: str | None = None,
    root: str | None = None,
) -> str:
    """The URL of shard ``name`` (entry ``index``) of the manifest at ``manifest_url``.

    The name must be a relative path inside the manifest's root (its folder, or ``base``; pass
    ``root`` from :func:`shard_root` to resolve it once); anything else is refused unless
    ``allow_external`` (then absolute paths and URLs are taken as they are)."""
    if root is None:
        root = shard_root(manifest_url, base, allow_external)
    parts = name.replace("\\", "/").split("/")
    why = None
    if "://" in name or name.startswith(("pipe:", "|")):
        why = "is a URL, not a file name relative to the manifest"
    elif name.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:[\\/]", name):
        why = "is an absolute path"
    elif ".." in parts:
        why = "climbs out of the manifest's folder with '..'"
    elif not name or any(p == "" for p in parts):
        why = "is empty or has an empty path component"
    if why is not None:
        if not allow_external:
            inside = "its own folder" if base is None and root == _folder(manifest_url) else root
            raise UnsafeURLError(
                f"{manifest_url}: shard entry {index} ({name!r}) {why}; a manifest may only name "
                f"shards inside {inside} (pass allow_external_shards=True to allow this)"
            )
        if "://" in name or name.startswith(("/", "~")):
            return check_url(os.path.expanduser(name))
    if is_local(root):
        return str(Path(root) / name)
    return check_url(posixpath.join(root, name))


def _read_text(url: str, opts: RemoteOptions) -> str:
    try:
        if is_local(url):
            data = Path(url.removeprefix("file://")).read_bytes()
        else:
            fs, path = url_to_fs(url, opts.storage_options)
            data = with_retries(
                url, opts, Counters(), lambda: fs.cat_file(path, **opts.call_kwargs(fs))
            )
    except FileNotFoundError:
        raise ManifestError(f"{url}: no such manifest") from None
    except IsADirectoryError:
        raise ManifestError(f"{url}: is a folder, expected a manifest.json file") from None
    except TransientError as exc:  # names the URL and what kept failing
        raise ManifestError(f"cannot read manifest: {exc}") from None
    except OSError as exc:
        raise ManifestError(
            f"{url}: cannot read manifest: {exc.strerror or type(exc).__name__}"
        ) from None
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        # never echo the bytes of a file that is not a manifest
        raise ManifestError(f"{url}: is not a manifest (not UTF-8 text)") from None


def manifest_url(source: str) -> str:
    """The manifest a source names: itself (``.json``), or ``manifest.json`` in the folder."""
    text = check_url(source)
    if text.endswith(".json"):
        return text
    if is_local(text):
        path = Path(text.removeprefix("file://"))
        if path.is_file():
            raise SourceError(
                f"{text}: is a file, expected a folder holding {MANIFEST_NAME}, a manifest "
                "(.json), or shards (.tar, .tar.gz, .tgz)"
            )
        if not path.exists():
            raise SourceError(f"{text}: no such file or directory")
        return str(path / MANIFEST_NAME)
    return posixpath.join(text.rstrip("/"), MANIFEST_NAME)


def load_manifest(source: str, opts: RemoteOptions) -> tuple[str, Manifest]:
    """``(manifest URL, Manifest)`` for a folder, URL or manifest file."""
    url = manifest_url(source)
    return url, parse_manifest(_read_text(url, opts), url)


def _from_manifest(url: str, split: str, opts: RemoteOptions, allow_external: bool) -> Source:
    manifest = parse_manifest(_read_text(url, opts), url)
    split = manifest.split_name(split)
    info = manifest.splits[split]
    root = shard_root(url, manifest.base, allow_external)
    shards = tuple(
        ShardEntry.build(
            url=shard_url(url, s.name, i, allow_external, root=root),
            name=s.name,
            keys=s.keys,
            offsets=s.offsets,
            bytes=s.bytes,
            sha256=s.sha256,
            labels=s.labels,
        )
        for i, s in enumerate(info.shards)
    )
    return Source(
        where=f"{url} (split {split!r})",
        shards=shards,
        fields=tuple(manifest.fields),
        classes=None if manifest.classes is None else tuple(manifest.classes),
        card=manifest.card,
    )


def index_shard(url: str, opts: RemoteOptions, limits: Limits = DEFAULT_LIMITS) -> ShardEntry:
    """Read a shard once, with the one tar reader, to list its samples (see :mod:`.index`). A
    refused member, a header that cannot be trusted, a truncated or corrupt tail each become a
    sample whose reading reports the problem, so neighbours are kept and nothing is dropped."""
    from .index import index_one

    found = index_one(url, opts, limits, sha256=False)
    size = found.bytes if not is_gzip(url) else None
    return ShardEntry.build(url, found.name, found.keys, found.offsets, bytes=size)


def _shard_list(urls: Sequence[str], opts: RemoteOptions, limits: Limits) -> Source:
    expanded = [u for url in urls for u in expand_pattern(os.fspath(url), opts)]
    if not expanded:
        raise SourceError("the list of shard URLs is empty")
    shards = tuple(index_shard(u, opts, limits) for u in expanded)
    return Source(
        where=", ".join(expanded[:3]) + (" ..." if len(expanded) > 3 else ""), shards=shards
    )


def resolve_source(
    source: Any,
    split: str,
    opts: RemoteOptions,
    *,
    allow_external: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Source:
    """One :class:`Source` from a path, URL, brace pattern, glob or list of shard URLs."""
    if isinstance(source, (list, tuple)):
        if not all(isinstance(s, (str, os.PathLike)) for s in source):
            raise SourceError(
                "a list source must hold shard paths or URLs (for weighted mixing pass "
                "(source, weight) pairs)"
            )
        return _shard_list([os.fspath(s) for s in source], opts, limits)
    if not isinstance(source, (str, os.PathLike)):
        raise SourceError(
            f"source must be a path, URL, glob, list of shard URLs or (source, weight) pairs, "
            f"got {type(source).__name__}"
        )
    text = check_url(os.fspath(source))
    if _BRACE.search(text) or _is_glob(text) or text.endswith(_SHARD_SUFFIXES):
        return _shard_list([text], opts, limits)
    return _from_manifest(manifest_url(text), split, opts, allow_external)
