"""Read-only SQL over the catalogue: an in-process, in-memory DuckDB holding the card tables.

Every query gets a fresh in-memory database loaded from :func:`.tables.build_tables`, with
file-system and network access switched off and the configuration locked, so nothing a query
does can reach outside it or outlive it. On top of that only reading statements are accepted,
so a write fails with a clear message instead of silently changing a throw-away copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import QueryError
from .schema import Card
from .tables import ALIASES, TABLES, build_tables, render_summary

if TYPE_CHECKING:
    import duckdb
    import pyarrow

__all__ = ["READ_STATEMENTS", "connect", "execute", "run_query"]

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

    Column descriptions are attached as comments (``SELECT * FROM duckdb_columns()``)."""
    import duckdb

    if cards is None:
        from .store import list_cards

        cards = list_cards()
    con = duckdb.connect(":memory:")
    for name, table in build_tables(cards).items():
        con.from_arrow(table).create(name)  # con.register() would import pandas
        con.execute(f'COMMENT ON TABLE "{name}" IS {_quote("one row per " + TABLES[name].row)}')
        for col in TABLES[name].columns:
            con.execute(f'COMMENT ON COLUMN "{name}"."{col.name}" IS {_quote(col.description)}')
    for alias, target in ALIASES.items():
        con.execute(f'CREATE VIEW "{alias}" AS SELECT * FROM "{target}"')
    for setting in _SETTINGS:
        con.execute(setting)
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


def execute(con: duckdb.DuckDBPyConnection, sql: str) -> pyarrow.Table:
    """Run one read-only statement on a connection from :func:`connect`."""
    import duckdb
    import pyarrow as pa

    _check_read_only(con, sql)
    try:
        relation = con.sql(sql)
        return (
            pa.Table.from_batches([], schema=pa.schema([]))
            if relation is None
            else relation.to_arrow_table()
        )
    except duckdb.Error as exc:
        raise _failure(str(exc), sql) from None


def run_query(sql: str, cards: Sequence[Card] | None = None) -> pyarrow.Table:
    """Run read-only SQL over the tables built from ``cards`` (default: the whole catalogue).

    Raises QueryError (a ValueError) with DuckDB's message and the tables and their columns."""
    return execute(connect(cards), sql)
