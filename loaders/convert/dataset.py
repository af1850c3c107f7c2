"""``write_shards(ray_dataset, OUT)``: the WebDataset + manifest layout from a Ray Dataset.

For users whose records are already a ``ray.data.Dataset`` (one row per sample: a key column,
``__key__`` by default, and one column per member, named by its extension: ``jpg``, ``cls``,
``json``...). The same two steps as ``visiondata convert``, so the result does not depend on
how Ray splits the dataset into blocks or on which worker writes what:

1. plan: one pass reads every row's key and member bytes (not the bytes themselves); the keys
   are sorted and cut into shards by :func:`~.plan.plan_shards`, the converters' planner
   (``samples_per_shard`` or ``shard_size``), and each shard is named by its first key;
2. write: every row is tagged with its shard (a binary search in those first keys), the rows
   are grouped by shard (``groupby(...).map_groups``), and each group is sorted by key and
   written by the one shard writer on a Ray worker, which returns the shard's manifest entry.

The manifest is written last, once, atomically, by this process. Member values: bytes as
they are, text as UTF-8, whole numbers as decimal text (an integer ``cls`` column is also the
sample's label), lists and mappings as JSON; a null leaves the member out. ``OUT`` is a
folder every Ray worker sees at the same path, or a URL fsspec writes to (``s3://bucket/set``,
with ``storage_options``): then each worker writes its shard to a local temporary file and
uploads it whole, and the manifest is one PUT (see :mod:`.output`). A shard's rows are held in one worker's memory
while it is written: size shards to fit (``shard_size``). The dataset is read twice (plan,
write); ``materialize()`` it first if producing it is expensive and it fits the object store.
This module never imports ``ray``: it calls the dataset's own methods.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import socket
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import ConversionError
from ..shards.manifest import (
    MANIFEST_NAME,
    ConverterInfo,
    Manifest,
    ShardInfo,
    SplitInfo,
    library_version,
)
from ..shards.writer import KEY_PATTERN, ShardWriter
from .base import Item
from .output import Out, RemoteOut, make_out, out_locked, prepare, put_manifest, read_existing
from .plan import plan_shards
from .run import _SPLIT, DEFAULT_SHARD_SIZE, parse_size

__all__ = ["CONVERTER_NAME", "write_shards"]

#: the manifest's converter name for shard sets written from a Ray Dataset
CONVERTER_NAME = "ray-dataset"
_SHARD_COLUMN = "__visiondata_shard__"


# -- on the Ray workers (module-level functions: Ray sends them by reference) ---------------


def _key_sizes(batch: Any, key: str) -> dict[str, Any]:
    """A batch's keys and each row's member bytes (for shard sizing)."""
    import pyarrow.compute as pc

    sizes = None
    for name in batch.column_names:
        if name == key:
            continue
        col = batch.column(name)
        try:
            n = pc.fill_null(pc.binary_length(col), 0)
        except Exception:  # numbers, lists: a few bytes each once encoded
            n = pc.fill_null(pc.if_else(pc.is_null(col), 0, 8), 0)
        sizes = n if sizes is None else pc.add(sizes, n)
    keys = batch.column(key).to_pylist()
    return {"key": keys, "size": [0] * len(keys) if sizes is None else sizes.to_pylist()}


def _tag(batch: Any, key: str, firsts: list[str]) -> Any:
    """The batch with its shard index per row: the last shard whose first key is <= the key."""
    keys = batch.column(key).to_pylist()
    shard = [bisect.bisect_right(firsts, k) - 1 for k in keys]
    return batch.append_column(_SHARD_COLUMN, [shard])


def _member(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool):
        return str(int(value)).encode()
    if isinstance(value, int):
        return str(value).encode()
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _write_group(
    group: Any,
    key: str,
    label: str,
    out: str,
    split: str,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one shard (one group of rows) on a worker; return its manifest entry."""
    index = int(group.column(_SHARD_COLUMN)[0].as_py())
    rows = group.drop_columns([_SHARD_COLUMN]).sort_by(key).to_pylist()
    name = f"{split}-{index:06d}.tar"
    target = make_out(out, storage_options or None)
    if isinstance(target, RemoteOut):
        with tempfile.TemporaryDirectory(prefix="visiondata-shard-") as tmp:
            info, counts, exts = _write_rows(rows, key, label, Path(tmp) / name)
            target.upload(Path(tmp) / name, name, info.bytes)
    else:
        info, counts, exts = _write_rows(rows, key, label, target / name)
    return {
        "index": [index],
        "shard": [info.model_dump_json()],
        "exts": [json.dumps(sorted(exts))],
        "counts": [json.dumps({str(k): v for k, v in counts.items()})],
        "host": [socket.gethostname()],
    }


def _write_rows(
    rows: list[dict[str, Any]], key: str, label: str, path: Path
) -> tuple[ShardInfo, Counter[int], set[str]]:
    writer = ShardWriter(path)
    counts: Counter[int] = Counter()
    exts: set[str] = set()
    try:
        for row in rows:
            members = {c: m for c, v in row.items() if c != key and (m := _member(v)) is not None}
            lab = row.get(label)
            lab = lab if isinstance(lab, int) and not isinstance(lab, bool) else None
            writer.write(row[key], members, lab)
            exts.update(members)
            if lab is not None:
                counts[lab] += 1
        info = writer.close()
    except BaseException:
        writer.abort()
        raise
    return info, counts, exts


# -- on the driver -------------------------------------------------------------------------


def _plan(
    dataset: Any, key: str, split: str, size_limit: int | None, per_shard: int | None
) -> list[str]:
    """The first key of every shard, from one pass over keys and sizes."""
    pairs: list[tuple[str, int]] = []
    sizes = dataset.map_batches(_key_sizes, batch_format="pyarrow", fn_kwargs={"key": key})
    for batch in sizes.iter_batches(batch_format="pyarrow", batch_size=65536):
        pairs += zip(batch.column("key").to_pylist(), batch.column("size").to_pylist(), strict=True)
    if not pairs:
        raise ConversionError("the dataset has no rows: nothing to write")
    for k, _ in pairs:
        if not isinstance(k, str) or not KEY_PATTERN.match(k):
            raise ConversionError(
                f"sample key {k!r} is not valid (expected letters, digits, '_', '-' and "
                "'/'-separated parts; no dots)"
            )
    pairs.sort()
    for (a, _), (b, _) in itertools.pairwise(pairs):
        if a == b:
            raise ConversionError(
                f"duplicate sample key {a!r} in the dataset (keys must be unique)"
            )
    items = [Item(k, k, size=int(n or 0)) for k, n in pairs]
    tasks = plan_shards(items, split, size_limit, per_shard, salt="")
    return [t.items[0].key for t in tasks]


def write_shards(
    dataset: Any,
    out: str | os.PathLike[str],
    *,
    split: str = "train",
    samples_per_shard: int | None = None,
    shard_size: str | int | None = None,
    card: str | None = None,
    classes: list[str] | None = None,
    fields: dict[str, str] | None = None,
    key: str = "__key__",
    label: str = "cls",
    storage_options: dict[str, Any] | None = None,
) -> Manifest:
    """Write ``dataset`` (a ``ray.data.Dataset`` of records) as WebDataset shards
    ``out/{split}-NNNNNN.tar`` and add ``split`` to ``out/manifest.json``; return the manifest.

    Shards are cut from the sorted keys, ``samples_per_shard`` each or by ``shard_size``
    (default 1 GB). ``classes`` names the label indices, ``fields`` says what each member is
    (the manifest's ``fields``), ``card`` records the dataset card id. ``out`` may be a URL
    fsspec writes to (``s3://bucket/set``); ``storage_options`` go to its file system."""
    if not _SPLIT.match(split):
        raise ConversionError(
            f"split name {split!r} is not valid (expected letters, digits, '_' and '-')"
        )
    if shard_size is not None and samples_per_shard is not None:
        raise ConversionError("give either shard_size or samples_per_shard, not both")
    if samples_per_shard is not None and samples_per_shard < 1:
        raise ConversionError(f"samples_per_shard must be >= 1, got {samples_per_shard!r}")
    size_limit = None if samples_per_shard else parse_size(shard_size or DEFAULT_SHARD_SIZE)
    if key not in dataset.columns():
        raise ConversionError(
            f"the dataset has no key column {key!r} (columns: {dataset.columns()})"
        )
    out_path = make_out(out, storage_options)
    prepare(out_path)
    with out_locked(out_path, split, f"split {split!r}"):
        firsts = _plan(dataset, key, split, size_limit, samples_per_shard)
        written = (
            dataset.map_batches(
                _tag, batch_format="pyarrow", fn_kwargs={"key": key, "firsts": firsts}
            )
            .groupby(_SHARD_COLUMN)
            .map_groups(
                _write_group,
                batch_format="pyarrow",
                fn_kwargs={
                    "key": key,
                    "label": label,
                    "out": str(out_path),
                    "split": split,
                    "storage_options": storage_options or {},
                },
            )
            .take_all()
        )
        info, exts = _split_info(written, len(firsts), classes)
        with out_locked(out_path, "manifest", MANIFEST_NAME, wait=60.0):
            manifest = _merged(
                out_path,
                split,
                info,
                exts,
                card,
                classes,
                fields or {},
                {"samples_per_shard": samples_per_shard, "shard_size": size_limit},
            )
            put_manifest(manifest, out_path)
    return manifest


def _split_info(
    rows: list[dict[str, Any]], expected: int, classes: list[str] | None
) -> tuple[SplitInfo, set[str]]:
    by_index = {int(r["index"]): r for r in rows}
    if sorted(by_index) != list(range(expected)):
        missing = sorted(set(range(expected)) - set(by_index))
        raise ConversionError(f"shards {missing[:10]} were not written (expected {expected})")
    shards = [ShardInfo.model_validate_json(by_index[i]["shard"]) for i in range(expected)]
    exts: set[str] = set()
    counts: Counter[str] = Counter()
    for r in by_index.values():
        exts.update(json.loads(r["exts"]))
        counts.update(json.loads(r["counts"]))
    class_counts = None
    if classes is not None:
        class_counts = {str(i): counts.get(str(i), 0) for i in range(len(classes))}
    elif counts:
        class_counts = dict(sorted(counts.items(), key=lambda kv: int(kv[0])))
    total = sum(s.num_samples for s in shards)
    return SplitInfo(num_samples=total, shards=shards, class_counts=class_counts), exts


def _merged(
    out: Out,
    split: str,
    info: SplitInfo,
    exts: set[str],
    card: str | None,
    classes: list[str] | None,
    fields: dict[str, str],
    options: dict[str, Any],
) -> Manifest:
    existing = read_existing(out)
    if existing is not None and existing.converter.name != CONVERTER_NAME:
        raise ConversionError(
            f"{out} holds shards from the {existing.converter.name!r} converter; cannot add a "
            "split written from a Ray Dataset to it (choose another OUT)"
        )
    all_fields = dict(existing.fields) if existing else {}
    all_fields.update({e: fields.get(e, f".{e} member, as written by the dataset") for e in exts})
    splits = dict(existing.splits) if existing else {}
    splits[split] = info
    split_opts = dict(existing.converter.options.get("splits", {})) if existing else {}
    split_opts[split] = options
    return Manifest(
        card=card or (existing.card if existing else None),
        converter=ConverterInfo(
            name=CONVERTER_NAME,
            version=library_version(),
            options={"splits": dict(sorted(split_opts.items()))},
        ),
        fields=dict(sorted(all_fields.items())),
        classes=classes if classes is not None else (existing.classes if existing else None),
        splits=dict(sorted(splits.items())),
    )
