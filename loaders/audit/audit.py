"""``visiondata audit``: stream a shard set once and compute its coverage and bias figures.

The shards of the chosen splits are read once, in parallel over worker processes (one shard
per task), each reduced by :func:`.scan.scan_shard` to counters and one small row per sample.
Memory therefore grows only with the number of *distinct* values counted and with those rows
(key, 16-byte content hash, 64-bit pHash: about 150 bytes a sample), never with image data.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._engine import Engine, get_engine
from ..shards.manifest import MANIFEST_NAME, Manifest, ManifestError, read_manifest
from .annotations import ATTRIBUTE_AXES
from .dedup import DedupResult, find_duplicates, items_from_rows
from .phash import DEFAULT_BANDS, DEFAULT_THRESHOLD, HashIndex
from .scan import DedupRow, ShardResult, ShardTask, SplitStats, scan_shard

__all__ = ["AuditOptions", "AuditResult", "run_audit", "tool_version"]


def tool_version() -> str:
    """``visiondata <version>``: the ``tool`` of every computed figure."""
    from importlib import metadata

    try:
        return f"visiondata {metadata.version('visiondata')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "visiondata unknown"


@dataclass(frozen=True)
class AuditOptions:
    splits: tuple[str, ...] | None = None  # None: every split of the manifest
    workers: int = 1
    threshold: int = DEFAULT_THRESHOLD
    bands: int = DEFAULT_BANDS
    reference: str = "train"
    attributes: tuple[str, ...] = tuple(ATTRIBUTE_AXES)
    progress: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if not 0 <= self.threshold < 64:
            raise ValueError(f"threshold must be in 0..63 bits, got {self.threshold}")
        if not 1 <= self.bands <= 16:
            raise ValueError(f"bands must be in 1..16, got {self.bands}")
        HashIndex(self.threshold, self.bands)  # raises if the index would be impractical

    def parameters(self) -> dict[str, Any]:
        return {
            "hash": "phash-64 (DCT 32x32 -> 8x8)",
            "near_threshold_bits": self.threshold,
            "index_bands": self.bands,
            "reference_split": self.reference,
        }


@dataclass
class AuditResult:
    source: str
    manifest_sha256: str
    manifest: Manifest
    options: AuditOptions
    tool: str
    date: str
    seconds: float
    stats: dict[str, SplitStats]
    rows: dict[str, list[DedupRow]]
    shard_paths: dict[str, list[Path]]
    dedup: DedupResult
    notes: list[str] = field(default_factory=list)

    @property
    def total_samples(self) -> int:
        return sum(s.samples for s in self.stats.values())


def _categories(manifest: Manifest) -> dict[int, str]:
    cats = manifest.converter.options.get("categories")
    out: dict[int, str] = {}
    if isinstance(cats, list):
        for c in cats:
            if (
                isinstance(c, dict)
                and isinstance(c.get("id"), int)
                and isinstance(c.get("name"), str)
            ):
                out[c["id"]] = c["name"]
    return out


def _tasks(
    root: Path, manifest: Manifest, splits: Sequence[str], opts: AuditOptions
) -> list[ShardTask]:
    cats = _categories(manifest)
    classes = manifest.classes
    tasks = []
    for split in splits:
        for i, shard in enumerate(manifest.split(split).shards):
            labels: list[str | None] | None = None
            if shard.labels is not None:
                labels = [
                    None
                    if lab is None
                    else (classes[lab] if classes and 0 <= lab < len(classes) else str(lab))
                    for lab in shard.labels
                ]
            tasks.append(
                ShardTask(
                    split=split,
                    index=i,
                    path=str(root / shard.name),
                    keys=list(shard.keys),
                    offsets=list(shard.offsets),
                    labels=labels,
                    classes=classes,
                    categories=cats,
                    attributes=opts.attributes,
                )
            )
    return tasks


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with the loaders extra
        return None
    return tqdm(total=total, unit="img", desc="audit", file=sys.stderr, dynamic_ncols=True)


def _scan_task(_shared: None, task: ShardTask) -> ShardResult:
    return scan_shard(task)


def _task_name(task: ShardTask) -> str:
    return f"split {task.split!r}: shard {Path(task.path).name}"


def run_audit(
    source: str | Path,
    options: AuditOptions | None = None,
    *,
    on_shard: Callable[[ShardResult], None] | None = None,
    engine: str | Engine = "local",
) -> AuditResult:
    """Audit the shard set in ``source`` (a folder with ``manifest.json``). ``engine="ray"``
    scans one shard per Ray task (``options.workers`` is then unused); the figures are the
    same, since the results are merged in shard order whatever order they finish in."""
    opts = options or AuditOptions()
    eng = get_engine(engine)
    root = Path(source)
    if root.name == MANIFEST_NAME:
        root = root.parent
    manifest = read_manifest(root)
    digest = hashlib.sha256((root / MANIFEST_NAME).read_bytes()).hexdigest()
    splits = list(opts.splits) if opts.splits else list(manifest.splits)
    for s in splits:
        manifest.split(s)  # raises ManifestError naming the known splits
    for s in splits:
        for shard in manifest.split(s).shards:
            if not (root / shard.name).is_file():
                raise ManifestError(f"{root / MANIFEST_NAME}: shard {shard.name} is missing")
    tasks = _tasks(root, manifest, splits, opts)
    total = sum(manifest.split(s).num_samples for s in splits)
    bar = _progress_bar(total, opts.progress)
    started = time.perf_counter()
    results: list[ShardResult | None] = [None] * len(tasks)
    try:
        if eng is not None:
            with eng:
                for i, res, _host in eng.map(_scan_task, tasks, describe=_task_name):
                    results[i] = res
                    if bar is not None:
                        bar.update(res.stats.samples)
                    if on_shard is not None:
                        on_shard(res)
        elif opts.workers == 1 or len(tasks) == 1:
            tick = bar.update if bar is not None else None
            for i, task in enumerate(tasks):
                results[i] = scan_shard(task, tick)
                if on_shard is not None:
                    on_shard(results[i])  # type: ignore[arg-type]
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            ctx = multiprocessing.get_context("spawn")  # no fork: callers may hold threads
            with ProcessPoolExecutor(min(opts.workers, len(tasks)), mp_context=ctx) as pool:
                futures = {pool.submit(scan_shard, t): i for i, t in enumerate(tasks)}
                for fut in as_completed(futures):
                    res = fut.result()
                    results[futures[fut]] = res
                    if bar is not None:
                        bar.update(res.stats.samples)
                    if on_shard is not None:
                        on_shard(res)
    finally:
        if bar is not None:
            bar.close()
    stats = {s: SplitStats() for s in splits}
    rows: dict[str, list[DedupRow]] = {s: [] for s in splits}
    for maybe in results:
        if maybe is None:  # pragma: no cover - a failed task raises before this
            raise RuntimeError("a shard was not scanned")
        res = maybe
        stats[res.task.split].merge(res.stats)
        rows[res.task.split].extend(res.rows)
    dedup = find_duplicates(
        items_from_rows(rows),
        threshold=opts.threshold,
        bands=opts.bands,
        reference=opts.reference,
    )
    notes = []
    for s in splits:
        expected = manifest.split(s).num_samples
        if stats[s].samples != expected:
            notes.append(
                f"split {s}: the manifest lists {expected} samples, the shards hold {stats[s].samples}"
            )
    return AuditResult(
        source=str(root),
        manifest_sha256=digest,
        manifest=manifest,
        options=opts,
        tool=tool_version(),
        date=_dt.date.today().isoformat(),
        seconds=time.perf_counter() - started,
        stats=stats,
        rows=rows,
        shard_paths={s: [root / sh.name for sh in manifest.split(s).shards] for s in splits},
        dedup=dedup,
        notes=notes,
    )
