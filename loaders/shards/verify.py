"""``visiondata shards verify`` and ``info``: check a shard set against its manifest, and
summarise it. No torch here.

``verify`` re-reads every shard with the one tar reader and the loader's member policy
(:func:`~.tar.read_sample`): size and sha256, each sample's key and byte offset, every member
refused by the policy (links, unsafe names, members over ``max_member_bytes``, duplicates,
headers it cannot trust), and each member's bytes (JSON parses, ``cls`` fits int64, images'
headers and the pixel limit; ``deep`` decodes every image and opens every video). Each
problem is a :class:`Finding` naming the shard, the sample and the byte offset, with the same
reason the loader gives when it skips that sample. Errors make the command exit 1; warnings
(the same key in two shards of a split, pickle members the loader refuses unless opted in) are
reported and leave the exit code alone.
"""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._engine import Engine, get_engine
from ..errors import DecodeError, ManifestError, SourceError
from .checks import check_member
from .manifest import MANIFEST_NAME, Manifest, read_manifest
from .members import DEFAULT_LIMITS, Limits, kind_of
from .reader import HashingReader
from .remote import Counters, RemoteOptions, is_local, open_range
from .sources import ShardEntry, load_manifest, shard_url
from .tar import TarReader, walk_samples

__all__ = ["Finding", "VerifyReport", "info", "verify", "verify_shard"]

_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_\-]+)-\d{6}\.tar(\.partial)?$")


@dataclass(frozen=True)
class Finding:
    """One problem found: where (split, shard, sample key, byte offset), what, how bad."""

    message: str
    kind: str  # missing | size | sha256 | member | content | keys | offsets | count | duplicate-key | unlisted | journal | manifest | pickle
    severity: str = "error"  # error | warning
    split: str | None = None
    shard: str | None = None
    key: str | None = None
    offset: int | None = None

    def __str__(self) -> str:
        where = []
        if self.split is not None:
            where.append(f"split {self.split!r}")
        if self.shard is not None:
            where.append(self.shard)
        if self.key is not None:
            at = f" at byte {self.offset}" if self.offset is not None else ""
            where.append(f"sample {self.key!r}{at}")
        head = ": ".join(where)
        tag = "warning: " if self.severity == "warning" else ""
        return f"{tag}{head}: {self.message}" if head else f"{tag}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VerifyReport:
    """What ``verify`` found, with the totals it read."""

    source: str
    findings: list[Finding] = field(default_factory=list)
    shards: int = 0
    samples: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "shards": self.shards,
            "samples": self.samples,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "errors": len(self.errors),
            "warnings": len(self.findings) - len(self.errors),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class _Task:
    split: str
    entry: ShardEntry
    deep: bool
    limits: Limits
    opts: RemoteOptions


def verify_shard(
    entry: ShardEntry,
    split: str | None = None,
    *,
    deep: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    opts: RemoteOptions | None = None,
) -> tuple[list[Finding], int]:
    """Every problem with one shard, and the bytes read."""
    opts = opts or RemoteOptions()
    out: list[Finding] = []

    def add(
        message: str,
        kind: str,
        key: str | None = None,
        offset: int | None = None,
        severity: str = "error",
    ) -> None:
        out.append(Finding(message, kind, severity, split, entry.name, key, offset))

    try:
        raw = open_range(entry.url, 0, None, opts, Counters())
    except FileNotFoundError:
        add("missing (the manifest lists it, the file is not there)", "missing")
        return out, 0
    except OSError as exc:
        add(f"cannot be read: {exc.strerror or exc}", "missing")
        return out, 0
    hashing = HashingReader(raw)
    stream: Any = gzip.GzipFile(fileobj=hashing) if entry.compressed else hashing
    size = None if entry.compressed else entry.bytes
    tar = TarReader(stream, size=size, limits=limits)
    keys = [entry.key(i) for i in range(entry.num_samples)]
    lost: list[str] = []
    try:
        offsets = entry.offsets.tolist()
        for i, members, problem in walk_samples(tar, keys, offsets, entry.duplicates):
            if problem is not None:
                if problem.reason.startswith("lost: "):
                    lost.append(keys[i])
                else:
                    add(problem.reason, "member", keys[i], entry.offset(i))
                continue
            for ext, data in members.items():
                found = _content_problem(ext, data, deep, limits)
                if found is not None:
                    message, kind = found
                    severity = "warning" if kind == "pickle" else "error"
                    add(message, kind, keys[i], entry.offset(i), severity)
    except OSError as exc:
        add(f"cannot be read: {exc.strerror or exc}", "missing")
        return out, hashing.count
    if lost:
        shown = ", ".join(lost[:5]) + (" ..." if len(lost) > 5 else "")
        add(f"{len(lost)} sample(s) after the break cannot be read: {shown}", "member")
    try:
        while hashing.read(1 << 20):
            pass
    except OSError:
        pass
    if entry.bytes is not None and hashing.count != entry.bytes:
        add(f"{hashing.count} bytes on disk, the manifest says {entry.bytes}", "size")
    elif entry.sha256 is not None and hashing.sha.hexdigest() != entry.sha256:
        add(
            f"sha256 {hashing.sha.hexdigest()} does not match the manifest's {entry.sha256}",
            "sha256",
        )
    return out, hashing.count


def _content_problem(ext: str, data: bytes, deep: bool, limits: Limits) -> tuple[str, str] | None:
    """``(message, kind)`` when a member's bytes are not what its extension says."""
    kind = kind_of(ext)
    if kind in ("pickle", "torch"):
        return (
            f"member .{ext} needs {kind} to decode (runs code): the loader refuses it unless "
            "allow_pickle names it",
            "pickle",
        )
    try:
        check_member(ext, data, deep, limits)
    except DecodeError as exc:
        return f"member .{ext}: {exc.reason}", "content"
    return None


def _run(task: _Task) -> tuple[list[Finding], int, int]:
    findings, read = verify_shard(
        task.entry, task.split, deep=task.deep, limits=task.limits, opts=task.opts
    )
    return findings, read, task.entry.num_samples


def _engine_run(_shared: None, task: _Task) -> tuple[list[Finding], int, int]:
    return _run(task)


def _task_name(task: _Task) -> str:
    return f"split {task.split!r}: shard {task.entry.name}"


def _on_engine(
    eng: Engine, tasks: list[_Task], progress: Callable[[int, int, int], None] | None
) -> list[tuple[list[Finding], int, int]]:
    """Every task's result, in task order (so the report is the local engine's), with
    ``progress`` called as each task finishes, in whatever order they do."""
    out: list[tuple[list[Finding], int, int] | None] = [None] * len(tasks)
    read = 0
    with eng:
        for n, (i, res, _host) in enumerate(eng.map(_engine_run, tasks, describe=_task_name), 1):
            out[i] = res
            read += res[1]
            if progress is not None:
                progress(n, len(tasks), read)
    return [r for r in out if r is not None]


def _cross_shard_duplicates(split: str, entries: Iterable[ShardEntry]) -> list[Finding]:
    """The same key in two shards of one split: a warning naming both places."""
    seen: dict[bytes, tuple[str, int]] = {}
    out: list[Finding] = []
    for e in entries:
        for i, k in enumerate(e.packed_keys.tolist()):
            if k in seen and seen[k][0] != e.name:
                shard, off = seen[k]
                out.append(
                    Finding(
                        f"the same key is also in {shard} at byte {off}: both samples are delivered",
                        "duplicate-key",
                        "warning",
                        split,
                        e.name,
                        k.decode("utf-8"),
                        e.offset(i),
                    )
                )
            else:
                seen.setdefault(k, (e.name, e.offset(i)))
    return out


def verify(
    source: str | Path,
    *,
    deep: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    workers: int = 1,
    progress: Callable[[int, int, int], None] | None = None,
    opts: RemoteOptions | None = None,
    allow_external_shards: bool = False,
    engine: str | Engine = "local",
) -> VerifyReport:
    """Check the shard set at ``source`` (a folder or URL holding ``manifest.json``, or the
    manifest itself). ``progress(shards_done, shards_total, bytes_read)`` is called after each
    shard. ``engine="ray"`` verifies one shard per Ray task (``workers`` is then unused); the
    report is the same."""
    opts = opts or RemoteOptions()
    eng = get_engine(engine)
    t0 = time.monotonic()
    try:
        url, manifest = load_manifest(str(source), opts)
    except ManifestError as exc:
        return VerifyReport(str(source), [Finding(str(exc), "manifest")])
    report = VerifyReport(url)
    tasks: list[_Task] = []
    for split, split_info in manifest.splits.items():
        entries = []
        for i, s in enumerate(split_info.shards):
            try:
                shard = shard_url(url, s.name, i, allow_external_shards, base=manifest.base)
            except SourceError as exc:  # UnsafeURLError: an entry outside the set
                report.findings.append(Finding(str(exc), "manifest", split=split, shard=s.name))
                continue
            entries.append(
                ShardEntry.build(shard, s.name, s.keys, s.offsets, s.bytes, s.sha256, s.labels)
            )
        tasks += [_Task(split, e, deep, limits, opts) for e in entries]
        report.findings += _cross_shard_duplicates(split, entries)
        report.findings += _class_count_findings(manifest, split)
    done = 0
    results: Iterable[tuple[list[Finding], int, int]]
    if eng is not None:
        pool = None
        results = _on_engine(eng, tasks, progress)
        progress = None  # called already, as the tasks finished
    elif workers > 1 and len(tasks) > 1:
        import multiprocessing

        # spawned, as the converters' and the audit's: a forked child would inherit the
        # caller's threads' locks and run the finalisers of its uncollected garbage
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )
        results = pool.map(_run, tasks)
    else:
        pool = None
        results = map(_run, tasks)
    try:
        for findings, read, samples in results:
            report.findings += findings
            report.bytes += read
            report.samples += samples
            report.shards += 1
            done += 1
            if progress is not None:
                progress(done, len(tasks), report.bytes)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if is_local(url):
        names = [p.name for p in Path(url).parent.iterdir()]
        report.findings += _folder_findings(names, manifest)
    elif manifest.base is None and url.split("://", 1)[0].lower() in _LISTABLE:
        report.findings += _remote_folder_findings(url.rsplit("/", 1)[0], manifest, opts)
    report.seconds = time.monotonic() - t0
    return report


def _class_count_findings(manifest: Manifest, split: str) -> list[Finding]:
    info = manifest.splits[split]
    if info.class_counts is None or manifest.classes is None:
        return []
    bad = [k for k in info.class_counts if not k.isdigit() or int(k) >= len(manifest.classes)]
    if not bad:
        return []
    return [Finding(f"class_counts names unknown class indices {bad}", "manifest", split=split)]


#: object stores whose listing is exact (an HTTP "listing" is a parsed HTML page: not checked)
_LISTABLE = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")


def _remote_folder_findings(folder: str, manifest: Manifest, opts: RemoteOptions) -> list[Finding]:
    """:func:`_folder_findings` for a set in an object store (``convert`` to ``s3://``)."""
    from .remote import url_to_fs

    try:
        fs, path = url_to_fs(folder, opts.fs_options(folder))
        fs.invalidate_cache(path)  # a listing cached earlier in this process may be stale
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)]
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return [
            Finding(
                f"{folder}: cannot list it to look for leftovers ({why})", "unlisted", "warning"
            )
        ]
    return _folder_findings(names, manifest)


def _folder_findings(names: list[str], manifest: Manifest) -> list[Finding]:
    """An interrupted conversion's journal (a local ``.{split}.journal.jsonl``, or the
    ``.{split}.journal/`` objects of one into an object store) and shard files the manifest
    does not list."""
    listed = {s.name for info in manifest.splits.values() for s in info.shards}
    out = []
    for name in sorted(names):
        journal = re.fullmatch(r"\.([A-Za-z0-9_\-]+)\.journal(\.jsonl)?", name)
        if journal:
            out.append(
                Finding(
                    f"an interrupted conversion of split {journal.group(1)!r}; run it again to "
                    "finish",
                    "journal",
                    shard=name,
                )
            )
        elif _SHARD.match(name) and name not in listed:
            out.append(Finding(f"shard file is not in {MANIFEST_NAME}", "unlisted", shard=name))
    return out


def info(out: str | Path) -> dict[str, Any]:
    """A JSON-able summary of the shard set: counts, sizes, classes, skipped items."""
    manifest: Manifest = read_manifest(out)
    classes = manifest.classes
    splits = {}
    for name, s in manifest.splits.items():
        counts = None
        if s.class_counts is not None:
            counts = {
                (classes[int(k)] if classes and k.isdigit() and int(k) < len(classes) else k): v
                for k, v in s.class_counts.items()
            }
        splits[name] = {
            "samples": s.num_samples,
            "shards": len(s.shards),
            "bytes": sum(sh.bytes for sh in s.shards),
            "skipped": len(s.skipped),
            "class_counts": counts,
        }
    return {
        "card": manifest.card,
        "converter": {"name": manifest.converter.name, "version": manifest.converter.version},
        "fields": manifest.fields,
        "classes": classes,
        "splits": splits,
    }
