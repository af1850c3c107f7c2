"""Writing one planned shard (in the driver's process or a worker), and the journal of
finished shards that lets an interrupted run resume.

A loader thread reads and checks the next items while the shard writer writes and hashes the
current one; at most ``READ_AHEAD`` loaded samples wait in memory. The journal
``OUT/.{split}.journal.jsonl`` gets one line per finished shard (its fingerprint, manifest
entry, skipped items, class counts and member extensions); a rerun keeps a journalled shard
whose fingerprint and sha256 still match. With OUT at a URL (:class:`~.output.RemoteOut`) a
shard is written to a local temporary file and then uploaded, and the journal is one object per
shard (:class:`Journal` hides which).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ItemError, SampleError
from ..shards.manifest import ShardInfo
from ..shards.writer import ShardWriter
from .base import Converter, Item
from .output import Out, RemoteOut
from .plan import ShardTask

__all__ = [
    "READ_AHEAD",
    "Journal",
    "Out",
    "ShardResult",
    "Tick",
    "append_journal",
    "engine_task",
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
    #: with OUT at a URL: the uploaded object's ETag (how a rerun knows it is unchanged)
    etag: str | None = None


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
    conv: Converter, task: ShardTask, out: Out, on_error: str, tick: Tick | None = None
) -> ShardResult:
    """Write one planned shard; bad items raise (``on_error="raise"``) or are recorded. With
    OUT at a URL the shard is written to a local temporary folder (the same bytes), then
    uploaded whole (an object store shows it complete or not at all)."""
    if not isinstance(out, RemoteOut):
        return _write_shard(conv, task, out, on_error, tick)
    with tempfile.TemporaryDirectory(prefix="visiondata-shard-") as tmp:
        res = _write_shard(conv, task, Path(tmp), on_error, tick)
        res.etag = out.upload(Path(tmp) / task.name, task.name, res.shard.bytes)
    return res


def _write_shard(
    conv: Converter, task: ShardTask, out: Path, on_error: str, tick: Tick | None
) -> ShardResult:
    writer = ShardWriter(out / task.name)
    skipped: list[tuple[str, str]] = []
    counts: Counter[int] = Counter()
    exts: set[str] = set()
    pending_n = pending_b = 0
    last = time.monotonic()
    try:
        for item, loaded in _loaded(conv, task.items):
            before = writer.bytes_written
            if not isinstance(loaded, ItemError):
                try:
                    writer.write(item.key, loaded, item.label)
                except SampleError as exc:
                    # the writer refused this sample only (a name too long for a tar, ...) and
                    # wrote none of it: that item's problem, named by its source
                    loaded = ItemError(
                        item.source, f"its sample key {item.key!r} cannot be written: {exc}"
                    )
            if isinstance(loaded, ItemError):
                if on_error == "raise":
                    raise loaded
                skipped.append((loaded.item, loaded.reason))
                pending_n += 1
                continue
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


def worker_task(task: ShardTask, out: Out, on_error: str) -> ShardResult:
    queue = _WORKER["queue"]
    return write_shard(_WORKER["conv"], task, out, on_error, lambda n, b: queue.put((n, b)))


def engine_task(shared: tuple[Converter, Out, str], task: ShardTask) -> ShardResult:
    """One planned shard as an engine's task (a Ray task): ``shared`` is sent once per run."""
    conv, out, on_error = shared
    return write_shard(conv, task, out, on_error)


def journal_path(out: Path, split: str) -> Path:
    return out / f".{split}.journal.jsonl"


def _parse_entry(text: str | bytes) -> ShardResult | None:
    try:
        d = json.loads(text)
        return ShardResult(
            d["index"],
            d["fingerprint"],
            ShardInfo.model_validate(d["shard"]),
            [tuple(p) for p in d["skipped"]],  # type: ignore[misc]
            {int(k): v for k, v in d["class_counts"].items()},
            d["exts"],
            d.get("etag"),
        )
    except (ValueError, KeyError, TypeError):
        return None  # a torn entry from a crash: that shard is simply rewritten


def _entry(res: ShardResult) -> str:
    d = {
        "index": res.index,
        "fingerprint": res.fingerprint,
        "shard": res.shard.model_dump(mode="json"),
        "skipped": res.skipped,
        "class_counts": {str(k): v for k, v in res.class_counts.items()},
        "exts": res.exts,
    }
    if res.etag is not None:
        d["etag"] = res.etag
    return json.dumps(d)


def read_journal(path: Path) -> dict[int, ShardResult]:
    done: dict[int, ShardResult] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        res = _parse_entry(line)
        if res is not None:
            done[res.index] = res
    return done


def append_journal(path: Path, res: ShardResult) -> None:
    line = _entry(res)
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


def reusable(out: Out, task: ShardTask, res: ShardResult) -> bool:
    """Whether the journalled shard ``res`` is the one ``task`` would write, intact on disk
    (at a URL: the same size and ETag as when it was uploaded; hashed where there is none)."""
    if res.fingerprint != task.fingerprint or res.shard.name != task.name:
        return False
    if isinstance(out, RemoteOut):
        from .output import etag_of

        found = out.info(task.name)
        if found is None or int(found.get("size", -1)) != res.shard.bytes:
            return False
        if res.etag is not None and etag_of(found) is not None:
            return etag_of(found) == res.etag
        return out.sha256(task.name) == res.shard.sha256
    path = out / task.name
    try:
        if path.stat().st_size != res.shard.bytes:
            return False
    except OSError:
        return False
    return _sha256_file(path) == res.shard.sha256


class Journal:
    """The finished shards of one split: ``OUT/.{split}.journal.jsonl`` (appended, fsynced) in a
    local OUT; one object per shard, ``OUT/.{split}.journal/{index:06d}.json``, at a URL (an
    object store cannot append; each PUT is atomic)."""

    def __init__(self, out: Out, split: str) -> None:
        self.out = out
        self.split = split

    @property
    def _folder(self) -> str:
        return f".{self.split}.journal"

    def read(self) -> dict[int, ShardResult]:
        out = self.out
        if not isinstance(out, RemoteOut):
            return read_journal(journal_path(out, self.split))
        done: dict[int, ShardResult] = {}
        for name in out.names(self._folder):
            res = _parse_entry(out.cat(f"{self._folder}/{name}") or b"")
            if res is not None and name == f"{res.index:06d}.json":
                done[res.index] = res
        return done

    def append(self, res: ShardResult) -> None:
        if isinstance(self.out, RemoteOut):
            self.out.pipe(f"{self._folder}/{res.index:06d}.json", _entry(res).encode())
        else:
            append_journal(journal_path(self.out, self.split), res)

    def restart(self, kept: dict[int, ShardResult]) -> None:
        """Keep only the entries of ``kept`` (a rerun's shards that are still good)."""
        if isinstance(self.out, RemoteOut):
            for name in self.out.names(self._folder):
                if not any(name == f"{i:06d}.json" for i in kept):
                    self.out.rm(f"{self._folder}/{name}")
            return
        path = journal_path(self.out, self.split)
        path.unlink(missing_ok=True)
        for res in kept.values():
            append_journal(path, res)

    def remove(self) -> None:
        if isinstance(self.out, RemoteOut):
            self.out.rm(self._folder, recursive=True)
        else:
            journal_path(self.out, self.split).unlink(missing_ok=True)
