"""``visiondata cards query | export-tables | stats | export | import-hf``.

These commands join the ``cards`` group through :func:`register_into`. Their heavy imports
(duckdb, pyarrow, the exporters) happen inside the handlers, so ``visiondata cards list`` never
pays for them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..query import DEFAULT_TIMEOUT
from .args import (
    CARD,
    NEW_ID,
    OUTPUT_DIR,
    OUTPUT_FILE,
    SQL,
    add_command,
    add_format,
    count,
    input_file,
    input_path,
    number,
    read_text,
)
from .output import cell, print_json, render, text_table

if TYPE_CHECKING:
    from ..schema import Card, Verification

__all__ = [
    "EXPORTERS",
    "STATS_QUERIES",
    "cell",
    "register_into",
    "render",
    "stats",
    "text_table",
    "unverified",
]

#: Rows ``cards query`` prints at most by default (``--max-rows``; 0: every row).
DEFAULT_MAX_ROWS = 1000

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


def _query_epilog() -> str:
    from .. import tables

    return (
        "examples:\n"
        "  visiondata cards query \"SELECT id, year FROM cards WHERE status <> 'active'\"\n"
        '  visiondata cards query "SELECT card_id, category, value FROM figures '
        "WHERE axis = 'demographic.skin_type'\"\n\n"
        f"limits: --timeout (default {DEFAULT_TIMEOUT:g} s), --max-rows printed (default "
        f"{DEFAULT_MAX_ROWS}); DuckDB runs with memory_limit 1GB, 2 threads, no disk access.\n\n"
        "tables and columns (list columns are arrays: use unnest() or list_contains()):\n\n"
        + tables.render_text()
    )


def register_into(sub: Any) -> None:
    """Add this module's commands to the ``cards`` group's subparsers."""
    p = add_command(
        sub,
        "query",
        "run read-only SQL over the catalogue's tables (in-process DuckDB)",
        cmd_query,
        epilog=_query_epilog,  # a callable: built only for --help (it imports the models)
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "sql", type=SQL, help="one SELECT (or WITH, DESCRIBE, SHOW, SUMMARIZE, PIVOT) statement"
    )
    add_format(p, ("table", "json", "csv"), shape="[{column: value}], one object per row")
    p.add_argument(
        "--timeout",
        type=number(0.0, what="seconds"),
        default=DEFAULT_TIMEOUT,
        help=f"stop the query after this many seconds (default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--max-rows",
        type=count(0, "rows printed; 0 prints every row"),
        default=DEFAULT_MAX_ROWS,
        help="print at most this many rows and say how many were cut "
        f"(default {DEFAULT_MAX_ROWS}; 0: every row)",
    )

    p = add_command(
        sub,
        "export-tables",
        "write the catalogue's tables as Parquet files, one per table",
        cmd_export_tables,
    )
    p.add_argument("dir", type=OUTPUT_DIR, help="output directory (created if missing)")

    p = add_command(
        sub,
        "stats",
        "catalogue health: verified / secondary / unverified shares, located share, figures by "
        "axis, ...",
        cmd_stats,
    )
    p.add_argument(
        "--unverified",
        action="store_true",
        help="instead, list every figure, transfer, split and class count not verified, with "
        "what was read",
    )
    add_format(p, shape="{section: [{column: value}]}")

    p = add_command(
        sub, "export", f"export one card to another format ({' | '.join(EXPORTERS)})", cmd_export
    )
    p.add_argument("name", type=CARD, help="card id or alias")
    formats = "; ".join(f"{k}: {d}" for k, (_, d) in EXPORTERS.items())
    p.add_argument("--to", required=True, choices=list(EXPORTERS), help=formats)
    p.add_argument(
        "-o", "--output", type=OUTPUT_FILE, help="output file (default: standard output)"
    )
    p.add_argument(
        "--shards",
        type=input_path(
            "a shard set: its manifest.json, or the folder holding it", example="@shards"
        ),
        metavar="DIR",
        help="with --to hf: a shard set (its manifest.json, or the directory holding it); the "
        "card's configs then point at its shards, relative to that directory",
    )

    p = add_command(
        sub, "import-hf", "draft a card from a Hugging Face dataset card (README.md)", cmd_import_hf
    )
    p.add_argument(
        "path",
        type=input_file("a Hugging Face README.md", example="@hf-readme", content="utf-8"),
        help="the README.md",
    )
    p.add_argument(
        "--id", type=NEW_ID, help="the new card's id (default: from pretty_name or the folder)"
    )
    p.add_argument(
        "-o", "--output", type=OUTPUT_FILE, help="output file (default: standard output)"
    )


# --- commands -------------------------------------------------------------------------------


def cmd_query(args: argparse.Namespace) -> int:
    from ..query import connect, fetch_rows

    result = fetch_rows(  # no pyarrow needed on this path unless rows are cut
        connect(), args.sql, timeout=args.timeout, max_rows=args.max_rows or None
    )
    print(render(result.columns, result.rows, args.format))
    if result.cut:
        print(
            f"{result.total:,} row(s), {result.cut:,} not shown (--max-rows {args.max_rows}; "
            "0 shows every row)",
            file=sys.stderr,
        )
    else:
        print(f"{result.total} row(s)", file=sys.stderr)
    return 0


def cmd_export_tables(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from .. import tables
    from ..store import list_cards

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
            print_json(rows)
        else:
            header = ["card", "what", "id", "status", "read"]
            print(text_table(header, [[r[h] for h in header] for r in rows]))
        print(f"{len(rows)} number(s) not verified", file=sys.stderr)
        return 0
    sections = stats()
    if args.format == "json":
        print_json(sections)
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

    text = read_text(args.path, "a Hugging Face README.md in UTF-8")
    _write(draft_card(text, card_id=args.id, source=str(args.path)), args.output)
    return 0
