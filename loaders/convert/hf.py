"""``hf``: a Hugging Face dataset saved locally — a ``save_to_disk`` folder (``Dataset`` or
``DatasetDict``) or local data files (``.parquet``, ``.jsonl``/``.json``, ``.csv``, or a folder
of them).

Members: each ``Image`` column as ``{column}.{jpg|png|...}`` holding its encoded bytes
unchanged (never decoded and re-encoded unless ``max_size`` asks); the first ``ClassLabel``
column as ``cls`` (its names become ``classes``); every other column in ``json``. Key: the
row index, zero-padded to 8 digits. Order: the dataset's order.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConversionError, ItemError, MissingExtraError
from .base import Converter, Item, Report, check_image, read_file, safe_join

__all__ = ["HFConverter"]

_DATA_FILES = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}


def _member_name(column: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", column.lower()) or "_"


class HFConverter(Converter):
    name = "hf"
    default_split = None
    fields: ClassVar[dict[str, str]] = {
        "cls": "class index (decimal text) from the first ClassLabel column, into classes",
        "json": "the row's other columns (JSON-able values)",
    }

    @classmethod
    def infer_split(cls, src: Path) -> str:
        if (src / "dataset_dict.json").is_file():
            splits = json.loads((src / "dataset_dict.json").read_text())["splits"]
            if len(splits) == 1:
                return str(splits[0])
            raise ConversionError(
                f"give the split to convert (--split); {src} has: {', '.join(splits)}"
            )
        return "train"

    def _dataset(self) -> Any:
        cache = self.__dict__.setdefault("_cache", {})
        if "ds" in cache:
            return cache["ds"]
        try:
            import datasets  # type: ignore[import-untyped]
        except ImportError:
            raise MissingExtraError("datasets", "hf", "convert hf") from None
        src, split = self.root, self.options.split
        if (src / "dataset_dict.json").is_file() or (src / "state.json").is_file():
            ds = datasets.load_from_disk(str(src))
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise ConversionError(f"{src}: no split {split!r} (have: {', '.join(ds)})")
                ds = ds[split]
        else:
            files = (
                [src]
                if src.is_file()
                else sorted(p for p in src.rglob("*") if p.suffix in _DATA_FILES)
            )
            kinds = {_DATA_FILES.get(p.suffix) for p in files}
            if not files or None in kinds or len(kinds) != 1:
                raise ConversionError(
                    f"{src}: expected a save_to_disk folder or data files of one kind "
                    f"({', '.join(_DATA_FILES)}), found {sorted(p.name for p in files)[:5]}"
                )
            ds = datasets.load_dataset(
                kinds.pop(), data_files=[str(p) for p in files], split="train"
            )
        image_cols = [c for c, f in ds.features.items() if isinstance(f, datasets.Image)]
        for c in image_cols:
            ds = ds.cast_column(c, datasets.Image(decode=False))
        label_cols = [c for c, f in ds.features.items() if isinstance(f, datasets.ClassLabel)]
        cache.update(ds=ds, images=image_cols, label=label_cols[0] if label_cols else None)
        return ds

    def scan(self, report: Report) -> Iterator[Item]:
        ds = self._dataset()
        cache = self.__dict__["_cache"]
        label_col = cache["label"]
        if label_col is not None:
            self.classes = list(ds.features[label_col].names)
        fingerprint = getattr(ds, "_fingerprint", "")
        images = cache["images"]
        for start in range(0, len(ds), 1000):
            batch = ds[start : start + 1000]
            n = len(next(iter(batch.values()))) if batch else 0
            for j in range(n):
                i = start + j
                size = 0
                for c in images:
                    v = batch[c][j]
                    size += len(v["bytes"]) if v and v.get("bytes") else 0
                label = batch[label_col][j] if label_col else None
                if label is not None and label < 0:
                    label = None  # -1: no label (e.g. a test split)
                yield Item(
                    key=f"{i:08d}",
                    source=f"row {i}",
                    label=label,
                    class_ids=(label,) if label is not None else (),
                    size=size + 256,
                    stamp=f"{fingerprint}:{i}",
                    data=i,
                )

    def load(self, item: Item) -> dict[str, bytes]:
        ds = self._dataset()
        cache = self.__dict__["_cache"]
        row = ds[item.data]
        members: dict[str, bytes] = {}
        attrs: dict[str, Any] = {}
        for col, value in row.items():
            if col in cache["images"]:
                if value is None:
                    continue
                data = value.get("bytes")
                if data is None and value.get("path"):
                    data = read_file(safe_join(self.root, value["path"], item.source), item.source)
                if data is None:
                    raise ItemError(item.source, f"image column {col!r} has neither bytes nor path")
                ext, data = check_image(
                    data,
                    f"{item.source} column {col!r}",
                    self.options.verify,
                    self.options.max_size,
                )
                members[f"{_member_name(col)}.{ext or 'bin'}"] = data
            elif col == cache["label"]:
                if item.label is not None:
                    members["cls"] = str(item.label).encode()
            else:
                attrs[col] = value
        if attrs:
            try:
                members["json"] = json.dumps(
                    attrs, ensure_ascii=False, separators=(",", ":"), default=_jsonable
                ).encode()
            except TypeError as exc:
                raise ItemError(item.source, f"column value is not JSON-able ({exc})") from None
        return members


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"sha256": hashlib.sha256(value).hexdigest(), "bytes": len(value)}
    raise TypeError(f"{type(value).__name__} is not JSON-able")
