"""``visiondata cards query | export-tables | stats | export | import-hf``.

These commands join the ``cards`` group through :func:`register_into`. Their heavy imports
(duckdb, pyarrow, the exporters) happen inside the handlers, so ``visiondata cards list`` never
pays for them.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import tables
from ..errors import UsageError

if TYPE_CHECKING:
    from ..schema import Card, Verification

__all__ = [
    "EXPORTERS",
    "STATS_QUERIES",
    "cell",
    "register_into",
    "stats",
    "text_table",
    "unverified",
]

#: Export formats of ``cards export --to``: module (under .export) and its one-line description.
EXPORTERS: Mapping[str, tuple[str, str]] = {
    "croissant": ("croissant", "Croissant 1.0 JSON-LD with Responsible-AI properties"),
    "hf": ("hf", "Hugging Face dataset card (README.md with YAML header)"),
    "datasheet": ("datasheet", "Markdown datasheet (Datasheets for Datasets)"),
}

#: The sections of ``cards stats``, each one query over the catalogue tables.
STATS_QUERIES: Mapping[str, str] = {
    "catalogue": """
        WITH numbers AS (
            SELECT verification_status, locator FROM figures
            UNION ALL SELECT verification_status, locator FROM transfers)
        SELECT (SELECT count(*) FROM cards) AS cards,
               (SELECT count(*) FROM figures) AS figures,
               (SELECT count(*) FROM transfers) AS transfers,
               round(count(*) FILTER (WHERE verification_status = 'verified')
                     / greatest(count(*), 1), 3) AS verified_share,
               round(count(*) FILTER (WHERE verification_status = 'secondary')
                     / greatest(count(*), 1), 3) AS secondary_share,
               round(count(*) FILTER (WHERE verification_status = 'unverified')
                     / greatest(count(*), 1), 3) AS unverified_share,
               round(count(*) FILTER (WHERE verification_status = 'disputed')
                     / greatest(count(*), 1), 3) AS disputed_share,
               round(count(*) FILTER (WHERE locator IS NOT NULL)
                     / greatest(count(*), 1), 3) AS located_share,
               (SELECT count(*) FROM cards WHERE num_figures = 0) AS cards_without_figures
        FROM numbers""",
    "numbers by verification": """
        SELECT what, status AS verification_status, count(*) AS n,
               round(count(*) / sum(count(*)) OVER (PARTITION BY what), 3) AS share
        FROM (SELECT 'figures' AS what, verification_status AS status FROM figures
              UNION ALL SELECT 'transfers', verification_status FROM transfers
              UNION ALL SELECT 'splits', coalesce(verification_status, '(none)') FROM splits
              UNION ALL SELECT 'folds', coalesce(verification_status, '(none)') FROM folds)
        GROUP BY what, status ORDER BY what, n DESC, status""",
    "splits by count kind": """
        SELECT count_kind, count(*) AS splits, count(DISTINCT card_id) AS cards FROM splits
        GROUP BY count_kind ORDER BY splits DESC, count_kind""",
    "cards by task": """
        SELECT task, count(*) AS cards FROM (SELECT unnest(tasks) AS task FROM cards)
        GROUP BY task ORDER BY cards DESC, task""",
    "cards by modality": """
        SELECT modality, count(*) AS cards FROM (SELECT unnest(modalities) AS modality FROM cards)
        GROUP BY modality ORDER BY cards DESC, modality""",
    "figures by axis": """
        SELECT axis, count(*) AS figures, count(DISTINCT card_id) AS cards,
               count(*) FILTER (WHERE verification_status = 'verified') AS verified
        FROM figures GROUP BY axis ORDER BY figures DESC, axis""",
    "transfers": """
        SELECT card_id AS source, target_card AS target, metric, count(*) AS transfers
        FROM transfers GROUP BY ALL ORDER BY source, target, metric""",
    "figures by provenance": """
        SELECT provenance_kind, count(*) AS figures FROM figures
        GROUP BY provenance_kind ORDER BY figures DESC""",
    "cards without any figure": """
        SELECT id, year, status FROM cards WHERE num_figures = 0 ORDER BY id""",
    "oldest as_of dates": """
        SELECT as_of, card_id, axis, metric, category FROM figures WHERE as_of IS NOT NULL
        ORDER BY as_of, card_id, figure_index LIMIT 10""",
}


def _add(sub: Any, name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help, **kwargs)
    return parser


def register_into(sub: Any) -> None:
    """Add this module's commands to the ``cards`` group's subparsers."""
    p = _add(
        sub,
        "query",
        "run read-only SQL over the catalogue's tables (in-process DuckDB)",
        epilog="examples:\n"
        "  visiondata cards query \"SELECT id, year FROM cards WHERE status <> 'active'\"\n"
        '  visiondata cards query "SELECT card_id, category, value FROM figures '
        "WHERE axis = 'demographic.skin_type'\"\n\n"
        "tables and columns (list columns are arrays: use unnest() or list_contains()):\n\n"
        + tables.render_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sql", help="one SELECT (or WITH, DESCRIBE, SHOW, SUMMARIZE, PIVOT) statement")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(func=cmd_query)

    p = _add(sub, "export-tables", "write the catalogue's tables as Parquet files, one per table")
    p.add_argument("dir", type=Path, help="output directory (created if missing)")
    p.set_defaults(func=cmd_export_tables)

    p = _add(
        sub,
        "stats",
        "catalogue health: verified / secondary / unverified shares, located share, figures by "
        "axis, ...",
    )
    p.add_argument(
        "--unverified",
        action="store_true",
        help="instead, list every figure, transfer, split and class count not verified, with "
        "what was read",
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_stats)

    p = _add(sub, "export", f"export one card to another format ({' | '.join(EXPORTERS)})")
    p.add_argument("name", help="card id or alias")
    formats = "; ".join(f"{k}: {d}" for k, (_, d) in EXPORTERS.items())
    p.add_argument("--to", required=True, choices=list(EXPORTERS), help=formats)
    p.add_argument("-o", "--output", type=Path, help="output file (default: standard output)")
    p.add_argument(
        "--shards",
        type=Path,
        metavar="DIR",
        help="with --to hf: a shard set (its manifest.json, or the directory holding it); the "
        "card's configs then point at its shards, relative to that directory",
    )
    p.set_defaults(func=cmd_export)

    p = _add(sub, "import-hf", "draft a card from a Hugging Face dataset card (README.md)")
    p.add_argument("path", type=Path, help="the Hugging Face README.md")
    p.add_argument("--id", help="the new card's id (default: from pretty_name or the folder)")
    p.add_argument("-o", "--output", type=Path, help="output file (default: standard output)")
    p.set_defaults(func=cmd_import_hf)


# --- rendering ------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """One value as table text: NULL empty, floats in 6 significant digits, lists joined."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as left-aligned columns under a header (numbers right-aligned)."""
    text = [[cell(v) for v in r] for r in rows]
    numeric = [
        all(
            isinstance(r[i], int | float) and not isinstance(r[i], bool)
            for r in rows
            if r[i] is not None
        )
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
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)  # full precision, unlike the table view
    return cell(value)


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """A query result as ``table``, ``json`` or ``csv`` text."""
    if fmt == "json":
        records = [dict(zip(columns, r, strict=True)) for r in rows]
        return json.dumps(records, indent=2, default=str, ensure_ascii=False)
    if fmt == "csv":
        import io

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(v) for v in r] for r in rows)
        return buf.getvalue().rstrip("\n")
    return text_table(columns, rows)


# --- commands -------------------------------------------------------------------------------


def cmd_query(args: argparse.Namespace) -> int:
    from ..query import connect, execute_rows

    columns, rows = execute_rows(connect(), args.sql)  # no pyarrow needed on this path
    print(render(columns, rows, args.format))
    print(f"{len(rows)} row(s)", file=sys.stderr)
    return 0


def cmd_export_tables(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from ..store import list_cards

    if args.dir.exists() and not args.dir.is_dir():
        raise UsageError(f"{args.dir} exists and is not a directory")
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.build_tables(list_cards()).items():
        path = args.dir / f"{name}.parquet"
        pq.write_table(table, path)
        print(f"{path}\t{table.num_rows} row(s)")
    return 0


def stats(cards: Sequence[Card] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every ``STATS_QUERIES`` section as rows (one fresh in-memory database for all)."""
    from ..query import connect, execute_rows

    con = connect(cards)
    out = {}
    for title, sql in STATS_QUERIES.items():
        columns, rows = execute_rows(con, sql)
        out[title] = [dict(zip(columns, r, strict=True)) for r in rows]
    return out


def _not_verified(
    card: Card, what: str, item_id: str, record: Verification | None
) -> dict[str, Any] | None:
    if record is not None and record.status == "verified":
        return None
    return {
        "card": card.id,
        "what": what,
        "id": item_id,
        "status": record.status if record is not None else "(none)",
        "read": (record.note if record is not None else None) or "no verification recorded",
        "url": record.url if record is not None else None,
    }


def unverified(cards: Sequence[Card] | None = None) -> list[dict[str, Any]]:
    """Every number of ``cards`` (default: all) that is not verified: figures (derived ones with
    their computed status), transfers, splits, fold splits and class counts, each with what was
    read instead."""
    from ..store import list_cards

    out: list[dict[str, Any] | None] = []
    for c in list_cards() if cards is None else cards:
        out += [_not_verified(c, "figure", f.id, c.verification_of(f)) for f in c.figures]
        out += [_not_verified(c, "transfer", t.id, t.verification) for t in c.transfers]
        out += [
            _not_verified(c, "split", f"splits.{n}", s.verification) for n, s in c.splits.items()
        ]
        out += [
            _not_verified(c, "split", f"folds.{fold}.{n}", s.verification)
            for fold, f in c.folds.items()
            for n, s in f.splits.items()
        ]
        if c.classes is not None:
            out.append(_not_verified(c, "classes", "classes.count", c.classes.verification))
    return [row for row in out if row is not None]


def cmd_stats(args: argparse.Namespace) -> int:
    if args.unverified:
        rows = unverified()
        if args.format == "json":
            print(json.dumps(rows, indent=2, ensure_ascii=False))
        else:
            header = ["card", "what", "id", "status", "read"]
            print(text_table(header, [[r[h] for h in header] for r in rows]))
        print(f"{len(rows)} number(s) not verified", file=sys.stderr)
        return 0
    sections = stats()
    if args.format == "json":
        print(json.dumps(sections, indent=2, default=str))
        return 0
    blocks = []
    for title, rows in sections.items():
        if not rows:
            blocks.append(f"## {title}\n(none)")
            continue
        header = list(rows[0])
        blocks.append(f"## {title}\n" + text_table(header, [list(r.values()) for r in rows]))
    print("\n\n".join(blocks))
    return 0


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    print(output, file=sys.stderr)


def exporter(fmt: str) -> Callable[[Any], str]:
    """The ``render(card) -> str`` function of an export format, checked against EXPORTERS."""
    import importlib

    if fmt not in EXPORTERS:
        raise UsageError(f"unknown export format {fmt!r} (expected one of: {', '.join(EXPORTERS)})")
    module = importlib.import_module(f"..export.{EXPORTERS[fmt][0]}", __package__)
    render_card: Callable[[Any], str] = module.render
    return render_card


def cmd_export(args: argparse.Namespace) -> int:
    from ..store import get_card

    render_card = exporter(args.to)  # check the format before looking the card up
    if args.shards is not None and args.to != "hf":
        raise UsageError(f"--shards is only for --to hf (got --to {args.to})")
    card = get_card(args.name)
    if args.shards is not None:
        from ..export import hf
        from ..export._common import manifest_data_files

        _write(hf.render(card, manifest_data_files(args.shards)), args.output)
        return 0
    _write(render_card(card), args.output)
    return 0


def cmd_import_hf(args: argparse.Namespace) -> int:
    from ..export.import_hf import draft_card

    if not args.path.is_file():
        raise UsageError(f"no such file: {args.path}")
    text = args.path.read_text(encoding="utf-8")
    _write(draft_card(text, card_id=args.id, source=str(args.path)), args.output)
    return 0
