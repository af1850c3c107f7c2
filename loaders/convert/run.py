"""The conversion driver: scan, plan shards, write them (in parallel, resumably), then write
the manifest last and atomically. Every converter goes through here.

Shards are planned up front from the scanned items (by estimated bytes or by sample count), so
their contents do not depend on ``workers`` and a rerun writes byte-identical files. Each
finished shard is appended to ``OUT/.{split}.journal.jsonl`` with a fingerprint of its planned
items; an interrupted run started again keeps every journalled shard whose fingerprint and
sha256 still match and writes only the rest. The journal is removed once the manifest is in
place. Memory holds the item list (paths and labels, no bytes) and one sample at a time.

``engine="ray"`` hands the same planned shards to Ray tasks (one per shard, see
:mod:`visiondata.loaders._engine`); this process still scans, plans, keeps the journal and
writes the manifest, so the files are the same bytes as with the local engine. SRC must be a
folder every Ray worker sees at the same path (a shared file system); so must OUT, unless it is
a URL.

OUT may be a URL fsspec writes to (``s3://bucket/set``, with ``storage_options``), with either
engine: each shard is written to a local temporary file and uploaded whole, the journal is one
object per shard, the manifest one PUT of the same bytes, and a lock object made with a
conditional write guards the split (see :mod:`.output`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import multiprocessing
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._engine import Engine, get_engine, local_host
from ..errors import ConversionError
from ..shards.manifest import (
    MANIFEST_NAME,
    ConverterInfo,
    Manifest,
    SkippedItem,
    SplitInfo,
)
from ..shards.splits import official_split
from .base import VERIFY_LEVELS, Converter, Item, Options
from .output import (
    Out,
    make_out,
    out_locked,
    prepare,
    put_manifest,
    read_existing,
    remove_stale,
)
from .plan import ShardTask, plan_shards
from .write import (
    Journal,
    ShardResult,
    Tick,
    engine_task,
    init_worker,
    reusable,
    worker_task,
    write_shard,
)

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "FORMATS",
    "ON_ERROR",
    "ConvertResult",
    "convert",
    "get_converter",
    "parse_size",
]

#: format name -> (module:class, one-line description). The CLI's choices come from here.
FORMATS: dict[str, tuple[str, str]] = {
    "imagefolder": (
        "imagefolder:ImageFolderConverter",
        "class/image folders (ImageNet train, Caltech)",
    ),
    "coco": ("coco:CocoConverter", "COCO images + instances/keypoints/captions JSON"),
    "voc": ("voc:VocConverter", "Pascal VOC: JPEGImages + Annotations XML (+ segmentation PNGs)"),
    "cityscapes": ("cityscapes:CityscapesConverter", "Cityscapes leftImg8bit + gtFine"),
    "video": (
        "video:VideoConverter",
        "class/clip.{mp4,avi,webm} files and class/clip/ frame folders",
    ),
    "hf": (
        "hf:HFConverter",
        "a Hugging Face dataset saved locally, or local parquet/json/csv files",
    ),
    "list": ("listfile:ListConverter", "a CSV or JSONL file of paths and labels/attributes"),
}

ON_ERROR = {
    "raise": "stop at the first bad item, naming it; no manifest is written",
    "skip": "skip bad items and record each, with its reason, in the manifest and the summary",
}

DEFAULT_SHARD_SIZE = 1_000_000_000
_SPLIT = re.compile(r"^[A-Za-z0-9_\-]+$")
_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(value: str | int) -> int:
    """``"1GB"``, ``"512MiB"``, ``"100k"`` or an int -> bytes."""
    if isinstance(value, int):
        n = value
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", value)
        if not m or m.group(2).lower() not in _UNITS:
            raise ConversionError(
                f"shard size {value!r} is not a size (expected e.g. 1GB, 512MB, 64MiB or a byte count)"
            )
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise ConversionError(f"shard size must be positive, got {value!r}")
    return n


def get_converter(fmt: str) -> type[Converter]:
    if fmt not in FORMATS:
        raise ConversionError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    module, cls = FORMATS[fmt][0].split(":")
    conv: type[Converter] = getattr(importlib.import_module(f"{__package__}.{module}"), cls)
    return conv


@dataclass
class ConvertResult:
    """What a conversion did; ``summary()`` is what the CLI prints."""

    #: OUT: a local folder, or a :class:`~.output.RemoteOut` (``str()`` is its URL)
    out: Out
    split: str
    manifest: Manifest
    written_shards: int
    kept_shards: int
    skipped: list[SkippedItem] = field(default_factory=list)
    seconds: float = 0.0
    #: the engine that wrote the shards, and for each host the shards it wrote
    engine: str = "local"
    hosts: dict[str, int] = field(default_factory=dict)
    #: skipped item -> the host that found it bad (items found while scanning: this one)
    item_hosts: dict[str, str] = field(default_factory=dict)

    @property
    def split_info(self) -> SplitInfo:
        return self.manifest.splits[self.split]

    def summary(self) -> str:
        info = self.split_info
        size = sum(s.bytes for s in info.shards)
        lines = [
            f"split {self.split!r}"
            + (f" ({info.source_split} in the source)" if info.source_split else "")
            + f": {info.num_samples:,} samples in {len(info.shards)} shard(s), "
            f"{_human(size)}, {self.written_shards} written, {self.kept_shards} kept from an earlier run "
            f"({self.seconds:.1f} s) -> {self.out / MANIFEST_NAME}"
        ]
        if self.engine != "local":
            lines.append(
                f"engine {self.engine}: "
                + (
                    ", ".join(f"{n} shard(s) on {h}" for h, n in sorted(self.hosts.items()))
                    or "no shards written"
                )
            )
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} item(s):")
            lines += [f"  {s.item}: {s.reason}{self._on(s.item)}" for s in self.skipped]
        return "\n".join(lines)

    def _on(self, item: str) -> str:
        if self.engine == "local" or item not in self.item_hosts:
            return ""
        return f" (on {self.item_hosts[item]})"


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


# -- the driver ---------------------------------------------------------------------------


def _check_options(
    fmt: str,
    split: str | None,
    on_error: str,
    verify: str,
    workers: int,
    shard_size: str | int | None,
    samples_per_shard: int | None,
    max_size: int | None,
) -> tuple[int | None, int | None]:
    if fmt not in FORMATS:
        raise ConversionError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    if on_error not in ON_ERROR:
        raise ConversionError(
            f"on_error={on_error!r} is not valid (expected one of: {', '.join(ON_ERROR)})"
        )
    if verify not in VERIFY_LEVELS:
        raise ConversionError(
            f"verify={verify!r} is not valid (expected one of: {', '.join(VERIFY_LEVELS)})"
        )
    if split is not None and not _SPLIT.match(split):
        raise ConversionError(
            f"split name {split!r} is not valid (expected letters, digits, '_' and '-')"
        )
    if not isinstance(workers, int) or workers < 1:
        raise ConversionError(f"workers must be an integer >= 1, got {workers!r}")
    if max_size is not None and max_size < 1:
        raise ConversionError(f"max_size must be >= 1 pixel, got {max_size!r}")
    if shard_size is not None and samples_per_shard is not None:
        raise ConversionError("give either shard_size or samples_per_shard, not both")
    if samples_per_shard is not None:
        if samples_per_shard < 1:
            raise ConversionError(f"samples_per_shard must be >= 1, got {samples_per_shard!r}")
        return None, samples_per_shard
    return parse_size(shard_size if shard_size is not None else DEFAULT_SHARD_SIZE), None


def _check_card(card: str) -> str:
    from visiondata.registry import store  # type: ignore[import-not-found]

    return str(store.get_card(card).id)


def _scan(conv: Converter, on_error: str) -> tuple[list[Item], list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    items: list[Item] = []
    seen: dict[str, str] = {}

    def report(item: str, reason: str) -> None:
        problems.append((item, reason))

    for item in conv.scan(report):
        if item.key in seen:
            report(
                item.source,
                f"duplicate sample key {item.key!r} (already made from {seen[item.key]})",
            )
            continue
        seen[item.key] = item.source
        items.append(item)
    if problems and on_error == "raise":
        head = f"{len(problems)} bad item(s) in {conv.src} (to skip and record them: --on-error skip, or on_error='skip'):"
        raise ConversionError("\n".join([head, *(f"  {i}: {r}" for i, r in problems)]), problems)
    return items, problems


def convert(
    format: str,
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    split: str | None = None,
    card: str | None = None,
    shard_size: str | int | None = None,
    samples_per_shard: int | None = None,
    workers: int = 1,
    on_error: str = "raise",
    verify: str = "header",
    max_size: int | None = None,
    progress: bool = False,
    engine: str | Engine = "local",
    address: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> ConvertResult:
    """Convert the dataset at ``src`` (in layout ``format``) into WebDataset shards
    ``out/{split}-NNNNNN.tar`` and add the split to ``out/manifest.json``.

    ``shard_size`` (bytes or ``"1GB"``; default 1 GB) or ``samples_per_shard`` sizes shards.
    ``on_error`` is one of :data:`ON_ERROR`; ``verify`` one of ``header|decode|none``;
    ``max_size`` re-encodes images larger than that many pixels on the longest side.
    ``engine`` is ``"local"`` (``workers`` processes here) or ``"ray"`` (tasks on the Ray
    cluster at ``address``; ``workers`` then caps the tasks at once, or a
    :class:`~visiondata.loaders._engine._ray.RayEngine` built with its options).
    ``out`` may be a URL fsspec writes to (``s3://bucket/set``); ``storage_options`` go to
    its file system (``endpoint_url``, ``key``, ``secret``...).
    """
    t0 = time.monotonic()
    size_limit, per_shard = _check_options(
        format, split, on_error, verify, workers, shard_size, samples_per_shard, max_size
    )
    if not Path(src).exists():  # before connecting to a cluster
        raise ConversionError(f"SRC {Path(src)} does not exist")
    out_at = make_out(out, storage_options)
    if not isinstance(out_at, Path):
        read_existing(out_at)  # reach OUT (endpoint, bucket, credentials) before any cluster
    eng = get_engine(engine, address=address)
    with contextlib.nullcontext() if eng is None else eng:
        result = _convert(
            format,
            Path(src),
            out_at,
            split,
            card,
            (workers, on_error, verify, max_size, progress, size_limit, per_shard),
            eng,
        )
    result.seconds = time.monotonic() - t0
    return result


def _convert(
    format: str,
    src_path: Path,
    out_path: Out,
    split: str | None,
    card: str | None,
    run: tuple[int, str, str, int | None, bool, int | None, int | None],
    eng: Engine | None,
) -> ConvertResult:
    workers, on_error, verify, max_size, progress, size_limit, per_shard = run
    if not src_path.exists():
        raise ConversionError(f"SRC {src_path} does not exist")
    conv_cls = get_converter(format)
    if max_size is not None and not conv_cls.resizable:
        raise ConversionError(
            f"max_size is not supported for {format!r}: its annotations are in pixel coordinates "
            "of the original images"
        )
    source_split = split or conv_cls.default_split
    if source_split is None:
        source_split = conv_cls.infer_split(src_path)
    split_name = official_split(source_split)  # val2017 -> validation, as the cards name it
    card_id = _check_card(card) if card is not None else None

    existing = read_existing(out_path)
    if existing is not None:
        if existing.converter.name != conv_cls.name:
            raise ConversionError(
                f"{out_path} holds shards from the {existing.converter.name!r} converter; "
                f"cannot add a {conv_cls.name!r} split to it (choose another OUT)"
            )
        if card_id is not None and existing.card not in (None, card_id):
            raise ConversionError(f"{out_path} belongs to card {existing.card!r}, not {card_id!r}")

    conv = conv_cls(src_path, Options(split=source_split, verify=verify, max_size=max_size))
    conv.use_classes(existing.classes if existing else None)
    items, problems = _scan(conv, on_error)
    if (
        existing is not None
        and existing.classes is not None
        and conv.classes is not None
        and existing.classes != conv.classes
    ):
        raise ConversionError(
            f"split {split_name!r} has classes {conv.classes[:5]}... which differ from the "
            f"{len(existing.classes)} classes already in {out_path / MANIFEST_NAME}; "
            "convert it into another OUT"
        )

    prepare(out_path)
    hosts: dict[str, int] = {}
    item_hosts = {item: local_host() for item, _ in problems}
    with out_locked(out_path, split_name, f"split {split_name!r}"):
        manifest, done, kept, skipped = _write_split(
            conv,
            items,
            problems,
            out_path,
            split_name,
            card_id,
            (workers, on_error, progress, eng, hosts, item_hosts),
            (verify, max_size, size_limit, per_shard),
        )
    return ConvertResult(
        out_path,
        split_name,
        manifest,
        done,
        kept,
        skipped,
        engine="local" if eng is None else eng.name,
        hosts=hosts,
        item_hosts=item_hosts,
    )


def _write_split(
    conv: Converter,
    items: list[Item],
    problems: list[tuple[str, str]],
    out_path: Out,
    split_name: str,
    card_id: str | None,
    running: tuple[int, str, bool, Engine | None, dict[str, int], dict[str, str]],
    sizing: tuple[str, int | None, int | None, int | None],
) -> tuple[Manifest, int, int, list[SkippedItem]]:
    """Plan, write (resuming from the journal) and record one split, under its lock."""
    workers, on_error, progress, eng, hosts, item_hosts = running
    verify, max_size, size_limit, per_shard = sizing
    salt = json.dumps([conv.name, _version(), verify, max_size, split_name])
    tasks = plan_shards(items, split_name, size_limit, per_shard, salt)
    journal = Journal(out_path, split_name)
    previous = journal.read()
    results: dict[int, ShardResult] = {}
    for task in tasks:
        res = previous.get(task.index)
        if res is not None and reusable(out_path, task, res):
            results[task.index] = res
    kept = len(results)
    journal.restart(results)  # only what is kept
    todo = [t for t in tasks if t.index not in results]

    bar = _progress_bar(
        progress,
        len(items),
        sum(r.shard.num_samples + len(r.skipped) for r in results.values()),
        f"{conv.name} {split_name}",
    )
    try:
        if eng is not None:
            shared = (conv, out_path, on_error)
            for _i, res, host in eng.map(
                engine_task, todo, shared=shared, describe=_shard_name, concurrency=_cap(workers)
            ):
                results[res.index] = res
                journal.append(res)
                hosts[host] = hosts.get(host, 0) + 1
                item_hosts.update((item, host) for item, _ in res.skipped)
                if bar is not None:
                    _bar_tick(bar)(res.shard.num_samples + len(res.skipped), res.shard.bytes)  # type: ignore[misc]
        elif workers == 1 or len(todo) <= 1:
            for task in todo:
                res = write_shard(conv, task, out_path, on_error, _bar_tick(bar))
                results[task.index] = res
                journal.append(res)
        else:
            _run_parallel(conv, todo, out_path, on_error, workers, bar, journal, results)
    finally:
        if bar is not None:
            bar.close()

    # -- assemble and write the manifest last ---------------------------------------
    info, exts = _split_info(conv, tasks, results, problems)
    if conv.options.split != split_name:  # the source's own name for it (val2017)
        info = info.model_copy(update={"source_split": conv.options.split})
    split_options = {
        "verify": verify,
        "max_size": max_size,
        "on_error": on_error,
        "shard_size": size_limit,
        "samples_per_shard": per_shard,
    }
    # merge into the manifest as it is now (another split may have been added meanwhile)
    with out_locked(out_path, "manifest", MANIFEST_NAME, wait=60.0):
        latest = read_existing(out_path)
        manifest = _merged(latest, conv, split_name, info, exts, split_options, card_id)
        put_manifest(manifest, out_path)
    journal.remove()
    remove_stale(out_path, split_name, {t.name for t in tasks})
    return manifest, len(todo), kept, info.skipped


def _shard_name(task: ShardTask) -> str:
    return f"shard {task.name}"


def _cap(workers: int) -> int | None:
    """``workers`` caps the engine's tasks at once when given (1, the default, means: as many
    as the cluster's CPUs hold)."""
    return None if workers == 1 else workers


def _split_info(
    conv: Converter,
    tasks: list[ShardTask],
    results: dict[int, ShardResult],
    problems: list[tuple[str, str]],
) -> tuple[SplitInfo, set[str]]:
    """The split's manifest entry from the shard results, and the member extensions used."""
    shards = [results[t.index].shard for t in tasks]
    skipped = [SkippedItem(item=i, reason=r) for i, r in problems]
    exts: set[str] = set()
    counts: Counter[int] = Counter()
    for t in tasks:
        r = results[t.index]
        skipped += [SkippedItem(item=i, reason=rs) for i, rs in r.skipped]
        exts.update(r.exts)
        counts.update(r.class_counts)
    class_counts = (
        {str(i): counts.get(i, 0) for i in range(len(conv.classes))}
        if conv.classes is not None
        else None
    )
    info = SplitInfo(
        num_samples=sum(s.num_samples for s in shards),
        shards=shards,
        class_counts=class_counts,
        skipped=skipped,
    )
    return info, exts


def _merged(
    existing: Manifest | None,
    conv: Converter,
    split: str,
    info: SplitInfo,
    exts: set[str],
    split_options: dict[str, Any],
    card_id: str | None,
) -> Manifest:
    """``existing`` (or a new manifest) with ``split`` added or replaced; other splits kept."""
    if existing is not None:
        fields = dict(existing.fields)
        options = dict(existing.converter.options)
        splits = dict(existing.splits)
        classes = existing.classes if existing.classes is not None else conv.classes
        card = card_id or existing.card
    else:
        fields, options, splits, classes, card = {}, {}, {}, conv.classes, card_id
    fields.update({conv.field_key(e): conv.describe(e) for e in sorted(exts)})
    options.update(conv.info)
    split_opts = dict(options.get("splits", {}))
    split_opts[split] = split_options
    options["splits"] = dict(sorted(split_opts.items()))
    splits[split] = info
    return Manifest(
        card=card,
        converter=ConverterInfo(name=conv.name, version=_version(), options=options),
        fields=dict(sorted(fields.items())),
        classes=classes,
        splits=dict(sorted(splits.items())),
    )


def _run_parallel(
    conv: Converter,
    todo: list[ShardTask],
    out: Out,
    on_error: str,
    workers: int,
    bar: Any,
    journal: Journal,
    results: dict[int, ShardResult],
) -> None:
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe with threads; spawn is portable
    queue = ctx.Queue()
    error: BaseException | None = None
    try:
        with ProcessPoolExecutor(
            max_workers=min(workers, len(todo)),
            mp_context=ctx,
            initializer=_init_worker_ignoring_sigint,
            initargs=(conv, queue),
        ) as ex:
            waiting: Iterator[ShardTask] = iter(todo)
            pending: set[Future[ShardResult]] = set()

            def submit(n: int) -> None:
                with _sigint_held():  # a worker may be started here
                    for task in _take(waiting, n):
                        pending.add(ex.submit(worker_task, task, out, on_error))

            submit(2 * workers)  # bounded: never more than 2 shards queued per worker
            while pending:
                try:
                    done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                except (
                    KeyboardInterrupt
                ):  # Ctrl-C: run nothing more; finished shards are journalled
                    for p in pending:
                        p.cancel()
                    raise
                _drain(queue, bar)
                for fut in done:
                    pending.discard(fut)
                    try:
                        res = fut.result()
                    except BaseException as exc:
                        if error is None:
                            error = exc
                            for p in pending:
                                p.cancel()
                        continue
                    results[res.index] = res
                    journal.append(res)
                if error is None:
                    submit(len(done))
                else:
                    pending = {p for p in pending if not p.cancelled()}
        _drain(queue, bar)
    finally:
        queue.close()
        queue.join_thread()
    if error is not None:
        raise error


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C back while worker processes may start: they inherit the blocked SIGINT, so
    one that arrives while a worker is still importing prints no traceback there; this process
    gets it as soon as the block ends."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _init_worker_ignoring_sigint(conv: Converter, queue: Any) -> None:
    """Workers leave Ctrl-C to the parent (which stops the pool), so a terminal's SIGINT to the
    whole process group prints no traceback from each worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    init_worker(conv, queue)


def _take(it: Iterator[ShardTask], n: int) -> Iterable[ShardTask]:
    for _ in range(n):
        try:
            yield next(it)
        except StopIteration:
            return


def _drain(queue: Any, bar: Any) -> None:
    import queue as queue_mod

    tick = _bar_tick(bar)
    while True:
        try:
            n, b = queue.get_nowait()
        except queue_mod.Empty:
            return
        if tick is not None:
            tick(n, b)


def _progress_bar(enabled: bool, total: int, initial: int, desc: str) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover
        from ..errors import MissingExtraError

        raise MissingExtraError("tqdm", "loaders", "the converters") from None
    bar = tqdm(total=total, initial=initial, desc=desc, unit="sample", dynamic_ncols=True)
    bar.bytes_done = 0
    return bar


def _bar_tick(bar: Any) -> Tick | None:
    if bar is None:
        return None

    def tick(n: int, b: int) -> None:
        bar.bytes_done += b
        bar.set_postfix_str(_human(bar.bytes_done), refresh=False)
        bar.update(n)

    return tick


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("visiondata")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"
