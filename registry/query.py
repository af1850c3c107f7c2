"""Read-only SQL over the catalogue: an in-process, in-memory DuckDB holding the card tables.

Every query gets a fresh in-memory database loaded with :func:`.tables.table_rows`, with
file-system and network access switched off and the configuration locked, so nothing a query
does can reach outside it or outlive it. On top of that only reading statements are accepted,
so a write fails with a clear message instead of silently changing a throw-away copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import QueryError
from .schema import Card
from .tables import ALIASES, TABLES, render_summary, sql_type, table_rows

if TYPE_CHECKING:
    import duckdb
    import pyarrow

__all__ = ["READ_STATEMENTS", "connect", "execute", "execute_rows", "run_query"]

T = TypeVar("T")

#: DuckDB statement types that only read. SELECT covers WITH, FROM-first, DESCRIBE, SHOW and
#: SUMMARIZE; PIVOT and UNPIVOT parse as MULTI and are let through by their first keyword.
READ_STATEMENTS = frozenset({"SELECT", "EXPLAIN"})
_READ_MULTI = ("pivot", "unpivot")

_SETTINGS = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET python_enable_replacements = false",
    "SET lock_configuration = true",
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(cards: Sequence[Card] | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB holding the tables built from ``cards`` (default: the catalogue).

    Rows go in as one JSON document per table, parsed by DuckDB itself: no pyarrow (and so no
    numpy) is imported on the way, which keeps a cold ``cards query`` fast. Column descriptions
    are attached as comments (``SELECT * FROM duckdb_columns()``)."""
    import duckdb

    if cards is None:
        from .store import list_cards

        cards = list_cards()
    con = duckdb.connect(":memory:")
    script = []
    for name, rows in table_rows(cards).items():
        columns = TABLES[name].columns
        defs = ", ".join(f'"{c.name}" {sql_type(c.type)}' for c in columns)
        con.execute(f'CREATE TABLE "{name}" ({defs})')
        if rows:
            shape = json.dumps([{c.name: sql_type(c.type) for c in columns}])
            picks = ", ".join(f'r."{c.name}"' for c in columns)
            con.execute(
                f'INSERT INTO "{name}" SELECT {picks} '
                f"FROM (SELECT unnest(from_json(?::JSON, {_quote(shape)})) AS r)",
                [json.dumps(rows)],
            )
        script.append(f'COMMENT ON TABLE "{name}" IS {_quote("one row per " + TABLES[name].row)}')
        script += [
            f'COMMENT ON COLUMN "{name}"."{c.name}" IS {_quote(c.description)}' for c in columns
        ]
    script += [
        f'CREATE VIEW "{alias}" AS SELECT * FROM "{target}"' for alias, target in ALIASES.items()
    ]
    con.execute(";\n".join([*script, *_SETTINGS]))
    return con


def _failure(message: str, sql: str) -> QueryError:
    hint = ""
    if "references" in sql.casefold() and "syntax error" in message:
        hint = '\nhint: references is an SQL keyword; write "references" (quoted) or refs\n'
    return QueryError(f"{message.rstrip()}\n{hint}\nTables and columns:\n{render_summary()}")


def _check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    import duckdb

    try:
        statements: list[Any] = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise _failure(str(exc), sql) from None
    if len(statements) != 1:
        raise QueryError(f"expected exactly one SQL statement, got {len(statements)}")
    kind = statements[0].type.name
    if kind in READ_STATEMENTS:
        return
    if kind == "MULTI" and sql.lstrip().casefold().startswith(_READ_MULTI):
        return
    raise QueryError(
        f"the catalogue is read-only: got a {kind} statement (expected SELECT, WITH, FROM, "
        "DESCRIBE, SHOW, SUMMARIZE, PIVOT or EXPLAIN)"
    )


def _run(con: duckdb.DuckDBPyConnection, sql: str, convert: Callable[[Any], T]) -> T:
    import duckdb

    _check_read_only(con, sql)
    try:  # DuckDB executes lazily: errors can come out of the conversion too
        return convert(con.sql(sql))
    except duckdb.Error as exc:
        raise _failure(str(exc), sql) from None


def execute_rows(
    con: duckdb.DuckDBPyConnection, sql: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; its column names and rows as Python values (no pyarrow)."""

    def convert(relation: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        return ([], []) if relation is None else (list(relation.columns), relation.fetchall())

    return _run(con, sql, convert)


def execute(con: duckdb.DuckDBPyConnection, sql: str) -> pyarrow.Table:
    """Run one read-only statement on a connection from :func:`connect`; a pyarrow Table."""
    import pyarrow as pa

    def convert(relation: Any) -> pyarrow.Table:
        if relation is None:
            return pa.Table.from_batches([], schema=pa.schema([]))
        return relation.to_arrow_table()

    return _run(con, sql, convert)


def run_query(sql: str, cards: Sequence[Card] | None = None) -> pyarrow.Table:
    """Run read-only SQL over the tables built from ``cards`` (default: the whole catalogue).

    Raises QueryError (a ValueError) with DuckDB's message and the tables and their columns."""
    return execute(connect(cards), sql)
