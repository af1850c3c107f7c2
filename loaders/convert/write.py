"""Writing one planned shard (in the driver's process or a worker), and the journal of
finished shards that lets an interrupted run resume.

A loader thread reads and checks the next items while the shard writer writes and hashes the
current one; at most ``READ_AHEAD`` loaded samples wait in memory. The journal
``OUT/.{split}.journal.jsonl`` gets one line per finished shard (its fingerprint, manifest
entry, skipped items, class counts and member extensions); a rerun keeps a journalled shard
whose fingerprint and sha256 still match.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ItemError
from ..shards.manifest import ShardInfo
from ..shards.writer import ShardWriter
from .base import Converter, Item
from .plan import ShardTask

__all__ = [
    "READ_AHEAD",
    "ShardResult",
    "Tick",
    "append_journal",
    "journal_path",
    "read_journal",
    "reusable",
    "write_shard",
]


@dataclass
class ShardResult:
    index: int
    fingerprint: str
    shard: ShardInfo
    skipped: list[tuple[str, str]]
    class_counts: dict[int, int]
    exts: list[str]


Tick = Callable[[int, int], None]


#: Items read ahead of the writer by one loader thread (bounds memory to this many samples).
READ_AHEAD = 8


def _loaded(
    conv: Converter, items: Iterable[Item]
) -> Iterator[tuple[Item, dict[str, bytes] | ItemError]]:
    """``(item, members or the ItemError)`` in item order, loaded by one thread ahead of the
    caller, so reading and checking the next files overlaps writing and hashing this one
    (file I/O, sha256 and image decoding release the GIL)."""

    def load(item: Item) -> dict[str, bytes] | ItemError:
        try:
            return conv.load(item)
        except ItemError as exc:
            return exc

    from concurrent.futures import ThreadPoolExecutor

    window: deque[tuple[Item, Future[dict[str, bytes] | ItemError]]] = deque()
    it = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="visiondata-load") as pool:
        try:
            for item in it:
                window.append((item, pool.submit(load, item)))
                if len(window) >= READ_AHEAD:
                    head, fut = window.popleft()
                    yield head, fut.result()
            while window:
                head, fut = window.popleft()
                yield head, fut.result()
        finally:
            for _, fut in window:
                fut.cancel()


def write_shard(
    conv: Converter, task: ShardTask, out: Path, on_error: str, tick: Tick | None = None
) -> ShardResult:
    """Write one planned shard; bad items raise (``on_error="raise"``) or are recorded."""
    writer = ShardWriter(out / task.name)
    skipped: list[tuple[str, str]] = []
    counts: Counter[int] = Counter()
    exts: set[str] = set()
    pending_n = pending_b = 0
    last = time.monotonic()
    try:
        for item, loaded in _loaded(conv, task.items):
            if isinstance(loaded, ItemError):
                if on_error == "raise":
                    raise loaded
                skipped.append((loaded.item, loaded.reason))
                pending_n += 1
                continue
            before = writer.bytes_written
            writer.write(item.key, loaded, item.label)
            counts.update(set(item.class_ids))
            exts.update(loaded)
            pending_n += 1
            pending_b += writer.bytes_written - before
            now = time.monotonic()
            if tick is not None and now - last > 0.1:
                tick(pending_n, pending_b)
                pending_n = pending_b = 0
                last = now
        before = writer.bytes_written
        info = writer.close()
    except BaseException:
        writer.abort()
        raise
    if tick is not None:
        tick(pending_n, pending_b + info.bytes - before)
    return ShardResult(task.index, task.fingerprint, info, skipped, dict(counts), sorted(exts))


_WORKER: dict[str, Any] = {}


def init_worker(conv: Converter, queue: Any) -> None:
    _WORKER["conv"] = conv
    _WORKER["queue"] = queue


def worker_task(task: ShardTask, out: Path, on_error: str) -> ShardResult:
    queue = _WORKER["queue"]
    return write_shard(_WORKER["conv"], task, out, on_error, lambda n, b: queue.put((n, b)))


def journal_path(out: Path, split: str) -> Path:
    return out / f".{split}.journal.jsonl"


def read_journal(path: Path) -> dict[int, ShardResult]:
    done: dict[int, ShardResult] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line)
            res = ShardResult(
                d["index"],
                d["fingerprint"],
                ShardInfo.model_validate(d["shard"]),
                [tuple(p) for p in d["skipped"]],  # type: ignore[misc]
                {int(k): v for k, v in d["class_counts"].items()},
                d["exts"],
            )
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line from a crash: that shard is simply rewritten
        done[res.index] = res
    return done


def append_journal(path: Path, res: ShardResult) -> None:
    line = json.dumps(
        {
            "index": res.index,
            "fingerprint": res.fingerprint,
            "shard": res.shard.model_dump(mode="json"),
            "skipped": res.skipped,
            "class_counts": {str(k): v for k, v in res.class_counts.items()},
            "exts": res.exts,
        }
    )
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def reusable(out: Path, task: ShardTask, res: ShardResult) -> bool:
    """Whether the journalled shard ``res`` is the one ``task`` would write, intact on disk."""
    if res.fingerprint != task.fingerprint or res.shard.name != task.name:
        return False
    path = out / task.name
    try:
        if path.stat().st_size != res.shard.bytes:
            return False
    except OSError:
        return False
    return _sha256_file(path) == res.shard.sha256
