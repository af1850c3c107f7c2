"""``list``: a CSV or JSONL file of paths and labels/attributes, for any other layout.

SRC is the list file; paths are relative to its folder and must stay inside it. Columns:
``path`` (required), ``label`` (optional: a class name, or an integer index), ``key``
(optional: the sample key; default the path without its extension), and any others, which go
into the ``json`` member. Members: the file's bytes unchanged (images are checked; videos
are checked with PyAV), ``cls`` when there is a label, ``json`` when there are attributes.
String labels become ``classes`` sorted by name; integer labels are kept as given.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConversionError, ItemError
from ..shards.writer import SampleError, check_key
from .base import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Converter,
    Item,
    Report,
    check_image,
    check_video,
    choose_classes,
    make_key,
    read_file,
    safe_join,
    source_ext,
    stamp,
    stat_file,
)

__all__ = ["ListConverter"]


class ListConverter(Converter):
    name = "list"
    fields: ClassVar[dict[str, str]] = {
        "cls": "class index (decimal text): into the manifest's classes for named labels, else as given",
        "json": "the list row's other columns, as given",
    }

    def __init__(self, src: Path, options: Any) -> None:
        super().__init__(src, options)
        if not src.is_file():
            raise ConversionError(f"{src}: the list format takes a .csv or .jsonl file as SRC")
        self.list_file = self.root
        self.root = self.root.parent
        self._existing: list[str] | None = None

    def use_classes(self, existing: list[str] | None) -> None:
        self._existing = existing

    def _rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        name = self.list_file.name
        text = self.list_file.read_text(encoding="utf-8-sig")
        suffix = self.list_file.suffix.lower()
        if suffix == ".csv":
            reader = csv.DictReader(io.StringIO(text))
            if reader.fieldnames is None or "path" not in reader.fieldnames:
                raise ConversionError(
                    f"{name}: the CSV header has no 'path' column (have: {reader.fieldnames})"
                )
            for row in reader:
                yield f"{name}:{reader.line_num}", dict(row)
        elif suffix in (".jsonl", ".ndjson"):
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ConversionError(f"{name}:{n}: not valid JSON ({exc})") from None
                if not isinstance(row, dict):
                    raise ConversionError(f"{name}:{n}: expected a JSON object per line")
                yield f"{name}:{n}", row
        else:
            raise ConversionError(
                f"{name}: unexpected list file type {suffix!r} (expected .csv or .jsonl)"
            )

    def scan(self, report: Report) -> Iterator[Item]:
        rows = list(self._rows())
        labels = [r.get("label") for _, r in rows if r.get("label") not in (None, "")]
        named = any(isinstance(v, str) and not v.lstrip("-").isdigit() for v in labels)
        if named:
            self.classes = choose_classes(sorted({str(v) for v in labels}), self._existing)
        index = {n: i for i, n in enumerate(self.classes or [])}
        for where, row in rows:
            rel = row.get("path")
            if not isinstance(rel, str) or not rel:
                report(where, "row has no path")
                continue
            src = f"{where} ({rel})"
            try:
                path = safe_join(self.root, rel, src)
                st = stat_file(path, src, "names a missing file")
            except ItemError as exc:
                report(exc.item, exc.reason)
                continue
            ext = source_ext(rel)
            if (ext not in IMAGE_EXTENSIONS and ext not in VIDEO_EXTENSIONS) or not path.is_file():
                report(
                    src,
                    f"unexpected file type {Path(rel).suffix or '(no extension)'!r} (expected an image or a video file)",
                )
                continue
            raw = row.get("label")
            label: int | None = None
            if raw not in (None, ""):
                label = index[str(raw)] if named else int(raw)  # type: ignore[arg-type]
            key = str(row.get("key") or make_key(rel))
            try:
                check_key(key)
            except SampleError as exc:
                report(src, str(exc))
                continue
            attrs = {k: v for k, v in row.items() if k not in ("path", "label", "key")}
            blob = (
                json.dumps(attrs, ensure_ascii=False, separators=(",", ":")).encode()
                if attrs
                else b""
            )
            yield Item(
                key=key,
                source=src,
                label=label,
                class_ids=(label,) if label is not None and named else (),
                size=st.st_size + len(blob),
                stamp=f"{stamp(st)}:{hashlib.sha1(blob).hexdigest()}",
                data=(path.relative_to(self.root).as_posix(), blob),
            )

    def load(self, item: Item) -> dict[str, bytes]:
        rel, blob = item.data
        data = read_file(self.root / rel, item.source)
        ext = source_ext(rel)
        if ext in VIDEO_EXTENSIONS:
            check_video(data, item.source, self.options.verify)
        else:
            got, data = check_image(data, item.source, self.options.verify, self.options.max_size)
            ext = got or ext
        members = {ext: data}
        if item.label is not None:
            members["cls"] = str(item.label).encode()
        if blob:
            members["json"] = blob
        return members
