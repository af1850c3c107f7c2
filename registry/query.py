"""Read-only SQL over the catalogue: an in-process, in-memory DuckDB holding the card tables.

Every query gets a fresh in-memory database loaded with :func:`.tables.table_rows`, with
file-system and network access switched off and the configuration locked, so nothing a query
does can reach outside it or outlive it. On top of that only reading statements are accepted,
so a write fails with a clear message instead of silently changing a throw-away copy
(``EXPLAIN`` and ``EXPLAIN ANALYZE`` are checked by the statement they explain).

Every query is bounded: DuckDB's own ``memory_limit`` and ``threads`` are set before the
configuration is locked (no spilling to disk: ``temp_directory`` is empty), and the statement
runs in a worker thread that is interrupted (``con.interrupt()``) when ``timeout`` seconds have
passed or when the caller is interrupted (Ctrl-C), so a runaway join or recursive CTE ends with
:class:`~.errors.QueryLimitError` instead of running on. ``max_rows`` bounds what comes back.
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import QueryError, QueryLimitError

if TYPE_CHECKING:
    import duckdb
    import pyarrow

    from .schema import Card

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_THREADS",
    "DEFAULT_TIMEOUT",
    "READ_STATEMENTS",
    "Rows",
    "connect",
    "execute",
    "execute_rows",
    "fetch_rows",
    "run_query",
]

#: Seconds a query may run before it is interrupted (``cards query --timeout``).
DEFAULT_TIMEOUT = 30.0
#: DuckDB's memory limit for one query's database (the catalogue itself needs a few MB).
DEFAULT_MEMORY_LIMIT = "1GB"
#: DuckDB worker threads (at most the machine's cores).
DEFAULT_THREADS = 2
#: After an interrupt, how long the worker thread is given to stop.
_GRACE = 10.0

T = TypeVar("T")

#: DuckDB statement types that only read. SELECT covers WITH, FROM-first, DESCRIBE, SHOW and
#: SUMMARIZE; PIVOT and UNPIVOT parse as MULTI and are let through by their first keyword.
READ_STATEMENTS = frozenset({"SELECT", "EXPLAIN"})
_READ_MULTI = ("pivot", "unpivot")

_SETTINGS = (
    "SET temp_directory = ''",  # never spill to disk (an in-memory DB would use ./.tmp)
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET python_enable_replacements = false",
    "SET lock_configuration = true",
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_meta() -> dict[str, Any]:
    """The tables' definitions as plain data: ``{"tables": [{name, row, columns: [{name,
    type, description}]}], "aliases": {alias: table}}`` (types in DuckDB's names). The
    catalogue cache keeps it, so a query need not import the models."""
    from .tables import ALIASES, TABLES, sql_type

    return {
        "tables": [
            {
                "name": name,
                "row": table.row,
                "columns": [
                    {"name": c.name, "type": sql_type(c.type), "description": c.description}
                    for c in table.columns
                ],
            }
            for name, table in TABLES.items()
        ],
        "aliases": dict(ALIASES),
    }


def _fill(con: duckdb.DuckDBPyConnection, meta: dict[str, Any], texts: dict[str, str]) -> None:
    """Create and fill the tables of ``meta`` from their rows as JSON ``texts``."""
    for table in meta["tables"]:
        name, columns = table["name"], table["columns"]
        defs = ", ".join(f'"{c["name"]}" {c["type"]}' for c in columns)
        con.execute(f'CREATE TABLE "{name}" ({defs})')
        text = texts.get(name, "[]")
        if text.strip() != "[]":
            shape = json.dumps([{c["name"]: c["type"] for c in columns}])
            picks = ", ".join(f'r."{c["name"]}"' for c in columns)
            con.execute(
                f'INSERT INTO "{name}" SELECT {picks} '
                f"FROM (SELECT unnest(from_json(?::JSON, {_quote(shape)})) AS r)",
                [text],
            )


def _copy_from(con: duckdb.DuckDBPyConnection, path: Path, meta: dict[str, Any]) -> bool:
    """Copy the cached database at ``path`` (tables, comments, views) into ``con``; False
    (nothing copied) when it does not hold exactly the tables and columns of ``meta``."""
    import duckdb

    want = {t["name"]: [c["name"] for c in t["columns"]] for t in meta["tables"]}
    try:
        con.execute(f"ATTACH {_quote(str(path))} AS cached (READ_ONLY)")
    except duckdb.Error:
        return False
    try:
        found: dict[str, list[str]] = {}
        for table, column in con.execute(
            "SELECT c.table_name, c.column_name FROM duckdb_columns() c JOIN duckdb_tables() t "
            "ON t.database_name = c.database_name AND t.table_name = c.table_name "
            "WHERE c.database_name = 'cached' ORDER BY c.table_name, c.column_index"
        ).fetchall():
            found.setdefault(table, []).append(column)
        if found != dict(sorted(want.items())):
            return False
        con.execute("COPY FROM DATABASE cached TO memory")
        return True
    except duckdb.Error:
        return False
    finally:
        con.execute("DETACH cached")


def _export(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Write the database (tables, comments, views) to a DuckDB file at ``path``."""
    con.execute(f"ATTACH {_quote(str(path))} AS export")
    try:
        con.execute("COPY FROM DATABASE memory TO export")
    finally:
        con.execute("DETACH export")


def _describe(con: duckdb.DuckDBPyConnection, meta: dict[str, Any]) -> None:
    """Each table's and column's description as a comment, and the alias views."""
    script = []
    for table in meta["tables"]:
        name = table["name"]
        script.append(f'COMMENT ON TABLE "{name}" IS {_quote("one row per " + table["row"])}')
        script += [
            f'COMMENT ON COLUMN "{name}"."{c["name"]}" IS {_quote(c["description"])}'
            for c in table["columns"]
        ]
    script += [
        f'CREATE VIEW "{alias}" AS SELECT * FROM "{target}"'
        for alias, target in meta["aliases"].items()
    ]
    con.execute(";\n".join(script))


def _load_catalogue(con: duckdb.DuckDBPyConnection) -> None:
    """Fill ``con`` with the catalogue: from the cached DuckDB copy when there is a sound one,
    else from the cached rows (and keep a DuckDB copy for the next query)."""
    import duckdb

    from . import store

    tag = f"duckdb-{duckdb.__version__}"
    cached = store.database_file(tag)
    if cached is not None and _copy_from(con, cached, store.sql_meta()):
        return
    meta, texts = store.sql_tables()
    _fill(con, meta, texts)
    _describe(con, meta)
    store.save_database_file(tag, lambda path: _export(con, path))


def connect(
    cards: Sequence[Card] | None = None,
    *,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int = DEFAULT_THREADS,
) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB holding the tables built from ``cards`` (default: the catalogue,
    whose rows come from the catalogue cache), limited to ``memory_limit`` and ``threads``.

    Rows go in as one JSON document per table, parsed by DuckDB itself: no pyarrow (and so no
    numpy) is imported on the way, which keeps a cold ``cards query`` fast. Column descriptions
    are attached as comments (``SELECT * FROM duckdb_columns()``)."""
    import duckdb

    if not isinstance(threads, int) or threads < 1:
        raise QueryError(f"threads={threads!r}: expected a whole number >= 1")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET memory_limit = {_quote(str(memory_limit))}")
    except duckdb.Error as exc:
        raise QueryError(f"memory_limit={memory_limit!r}: {_one_line(str(exc))}") from None
    con.execute(f"SET threads = {min(threads, os.cpu_count() or 1)}")
    if cards is None:
        _load_catalogue(con)
    else:
        from .tables import table_rows

        meta = table_meta()
        _fill(con, meta, {name: json.dumps(rows) for name, rows in table_rows(cards).items()})
        _describe(con, meta)
    con.execute(";\n".join(_SETTINGS))  # last: no file access, configuration locked
    return con


def _one_line(message: str) -> str:
    """DuckDB's message up to its ``LINE n:`` excerpt, on one line."""
    lines: list[str] = []
    for line in message.strip().splitlines():
        if line.startswith("LINE ") or (lines and not line.strip()):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines)


def _abbrev(sql: str, width: int = 60) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _failure(message: str, sql: str) -> QueryError:
    from .tables import render_summary

    hint = ""
    if "references" in sql.casefold() and "syntax error" in message:
        hint = '\nhint: references is an SQL keyword; write "references" (quoted) or refs\n'
    head = f"{_abbrev(sql)}: {_one_line(message)} (tables: `visiondata cards query --help`)"
    return QueryError(f"{head}\n{hint}\nTables and columns:\n{render_summary()}")


_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_EXPLAIN = re.compile(r"^explain\s+(?:\([^)]*\)\s*)?(?:analy[sz]e\s+)?", re.I)


def _check_read_only(con: duckdb.DuckDBPyConnection, sql: str, given: str | None = None) -> None:
    """Refuse ``sql`` unless it is one reading statement (messages name ``given``, the SQL as
    the caller wrote it, when ``sql`` is the statement inside an EXPLAIN)."""
    import duckdb

    shown = sql if given is None else given
    try:
        statements: list[Any] = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise _failure(str(exc), sql) from None
    if len(statements) != 1:
        raise QueryError(f"{_abbrev(sql)}: {len(statements)} SQL statements (expected exactly one)")
    kind = statements[0].type.name
    body = _LEADING_COMMENTS.sub("", sql)
    if kind == "EXPLAIN":
        inner = _EXPLAIN.sub("", body, count=1)
        if inner == body:
            raise QueryError(f"{_abbrev(shown)}: an EXPLAIN this checker cannot read")
        _check_read_only(con, inner, shown)  # EXPLAIN ANALYZE runs the statement: check it
        return
    if kind in READ_STATEMENTS:
        return
    if kind == "MULTI" and body.casefold().startswith(_READ_MULTI):
        return
    raise QueryError(
        f"{_abbrev(shown)}: the catalogue is read-only: got a {kind} statement (expected SELECT, "
        "WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, PIVOT or EXPLAIN of one of them)"
    )


def _bounded(
    con: duckdb.DuckDBPyConnection, sql: str, timeout: float | None, work: Callable[[], T]
) -> T:
    """Run ``work`` (DuckDB calls on ``con``) in a worker thread; interrupt DuckDB after
    ``timeout`` seconds or when this thread is interrupted (Ctrl-C)."""
    import duckdb

    if timeout is not None and not timeout > 0:
        raise QueryError(f"timeout={timeout!r}: expected a number of seconds > 0 (or None)")
    outcome: list[Any] = []
    done = threading.Event()  # not Thread.join: an interrupted join can leave is_alive() wrong

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # handed to the waiting thread
            outcome.append((False, exc))
        finally:
            done.set()

    worker = threading.Thread(target=run, name="visiondata-query", daemon=True)
    worker.start()
    try:
        finished = done.wait(timeout)
    except KeyboardInterrupt:
        con.interrupt()
        _wait_quietly(done, _GRACE)
        raise
    if not finished:
        con.interrupt()
        _wait_quietly(done, _GRACE)
        raise QueryLimitError(
            f"{_abbrev(sql)}: still running after the {timeout:g} s timeout, interrupted "
            "(expected a query that ends in time; raise the limit with --timeout or timeout=)"
        )
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[no-any-return]
    if isinstance(value, duckdb.OutOfMemoryException):
        raise QueryLimitError(
            f"{_abbrev(sql)}: needs more memory than the limit ({_one_line(str(value))})"
        ) from None
    if isinstance(value, duckdb.Error):
        raise _failure(str(value), sql) from None
    raise value


def _wait_quietly(done: threading.Event, seconds: float) -> None:
    """Wait for the interrupted worker to leave DuckDB (a second Ctrl-C does not cut it short:
    a thread still inside DuckDB when Python exits would abort the process)."""
    import time

    deadline = time.monotonic() + seconds
    while not done.is_set() and time.monotonic() < deadline:
        try:
            done.wait(max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:
            continue


def _run(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    convert: Callable[[Any], T],
    timeout: float | None = DEFAULT_TIMEOUT,
) -> T:
    _check_read_only(con, sql)
    # DuckDB executes lazily: the work (and its errors) can come out of the conversion too
    return _bounded(con, sql, timeout, lambda: convert(con.sql(sql)))


@dataclass(frozen=True)
class Rows:
    """A query's first rows: ``total`` is how many the query returned in all."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    total: int

    @property
    def cut(self) -> int:
        """Rows beyond ``rows`` (left out by ``max_rows``)."""
        return self.total - len(self.rows)


def _count_rest(con: duckdb.DuckDBPyConnection) -> int:
    """Rows left in the current result, counted in Arrow batches (no Python objects)."""
    reader_of = getattr(con, "fetch_record_batch", None)  # DuckDB 1.x
    with warnings.catch_warnings():
        # DuckDB 2 warns that a DB-API result read as Arrow is copied: a batch at a time here
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
        reader = reader_of(1 << 20) if reader_of else con.to_arrow_reader(1 << 20)
        return sum(batch.num_rows for batch in reader)


def fetch_rows(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_rows: int | None = None,
) -> Rows:
    """Run one read-only statement; its first ``max_rows`` rows (all when None) as Python
    values, and how many rows it returned in all (no pyarrow unless rows were cut)."""
    if max_rows is not None and max_rows < 0:
        raise QueryError(f"max_rows={max_rows!r}: expected a whole number >= 0 (or None)")
    _check_read_only(con, sql)

    def work() -> Rows:
        cursor = con.execute(sql)
        if cursor.description is None:
            return Rows([], [], 0)
        columns = [d[0] for d in cursor.description]
        if max_rows is None:
            rows = cursor.fetchall()
            return Rows(columns, rows, len(rows))
        rows = cursor.fetchmany(max_rows + 1)
        if len(rows) <= max_rows:
            return Rows(columns, rows, len(rows))
        return Rows(columns, rows[:max_rows], len(rows) + _count_rest(con))

    return _bounded(con, sql, timeout, work)


def execute_rows(
    con: duckdb.DuckDBPyConnection, sql: str, *, timeout: float | None = DEFAULT_TIMEOUT
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; its column names and rows as Python values (no pyarrow)."""
    result = fetch_rows(con, sql, timeout=timeout)
    return result.columns, result.rows


def execute(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_rows: int | None = None,
) -> pyarrow.Table:
    """Run one read-only statement on a connection from :func:`connect`; a pyarrow Table.

    A result of more than ``max_rows`` rows raises QueryLimitError (nothing is cut silently)."""
    import pyarrow as pa

    if max_rows is not None and max_rows < 0:
        raise QueryError(f"max_rows={max_rows!r}: expected a whole number >= 0 (or None)")

    def convert(relation: Any) -> pyarrow.Table:
        if relation is None:
            return pa.Table.from_batches([], schema=pa.schema([]))
        if max_rows is None:
            return relation.to_arrow_table()
        table = relation.limit(max_rows + 1).to_arrow_table()
        if table.num_rows > max_rows:
            raise QueryLimitError(
                f"{_abbrev(sql)}: more than max_rows={max_rows} rows (expected at most that many; "
                "add a LIMIT or raise max_rows)"
            )
        return table

    return _run(con, sql, convert, timeout)


def run_query(
    sql: str,
    cards: Sequence[Card] | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_rows: int | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int = DEFAULT_THREADS,
) -> pyarrow.Table:
    """Run read-only SQL over the tables built from ``cards`` (default: the whole catalogue),
    within the limits (see the module docstring); a pyarrow Table.

    Raises QueryError (a ValueError) with DuckDB's message and the tables and their columns,
    and QueryLimitError (a QueryError) when a limit stops it."""
    con = connect(cards, memory_limit=memory_limit, threads=threads)
    return execute(con, sql, timeout=timeout, max_rows=max_rows)
