"""What commands print: tables, ``--format table|json|csv``, human sizes and progress bars."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

__all__ = [
    "cell",
    "emit",
    "human_size",
    "print_json",
    "progress",
    "progress_bar",
    "progress_enabled",
    "render",
    "text_table",
]

T = TypeVar("T")


def human_size(n: float) -> str:
    """Bytes in decimal units: ``'512 B'``, ``'1.5 kB'``, ``'3.2 GB'``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            break
        n /= 1000
    return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"


def cell(value: Any) -> str:
    """One value as table text: NULL empty, floats in 6 significant digits, lists joined."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as left-aligned columns under a header (columns of numbers right-aligned)."""
    text = [[cell(v) for v in r] for r in rows]
    numeric = [
        all(_is_number(r[i]) for r in rows if r[i] is not None)
        and any(r[i] is not None for r in rows)
        for i in range(len(header))
    ]
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(header)]

    def line(values: Sequence[str], align: bool = True) -> str:
        parts = [
            v.rjust(w) if align and num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header, align=False), *(line(r) for r in text)])


def _csv_cell(value: Any) -> str:
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)  # full precision, unlike the table view
    return cell(value)


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """Rows under ``columns`` as ``table``, ``json`` (a list of objects) or ``csv`` text."""
    if fmt == "json":
        records = [dict(zip(columns, r, strict=True)) for r in rows]
        return json.dumps(records, indent=2, default=str, ensure_ascii=False)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(v) for v in r] for r in rows)
        return buf.getvalue().rstrip("\n")
    if fmt != "table":
        raise ValueError(f"format {fmt!r}: expected table, json or csv")
    return text_table(columns, rows)


def emit(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    """Print :func:`render`'s text."""
    print(render(columns, rows, fmt))


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON (dates and paths as strings, non-ASCII kept)."""
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def progress_enabled(wanted: bool = True) -> bool:
    """Whether to draw a progress bar: ``wanted``, stderr is a terminal and tqdm (part of the
    loaders extra) is installed. Without tqdm there is simply no bar."""
    if not wanted or not sys.stderr.isatty():
        return False
    import importlib.util

    return importlib.util.find_spec("tqdm") is not None


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool = True
) -> Iterator[T]:
    """``items``, with a tqdm bar on stderr when ``enabled``, stderr is a terminal and tqdm is
    installed (it comes with the loaders extra); otherwise the items as they are."""
    if not enabled or not sys.stderr.isatty():
        yield from items
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield from items
        return
    yield from tqdm(items, total=total, desc=desc, dynamic_ncols=True, leave=False)


def progress_bar(total: int, desc: str = "", unit: str = "it", enabled: bool = True) -> Any:
    """A tqdm bar (``update(n)``, ``close()``) or None: the same rule as :func:`progress`."""
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)
