"""``visiondata cards serve``: the built site over HTTP on 127.0.0.1, and its SQL box.

The server answers only on the loopback address, serves only the files of the site it built
(no directory listing, nothing outside the folder), and refuses a request whose ``Host`` is not
the loopback address it listens on (a page elsewhere cannot reach it through DNS rebinding).
Every wait has a bound: a connection that sends nothing for :data:`REQUEST_TIMEOUT` seconds is
closed, at most :data:`MAX_CONNECTIONS` are handled at once (more wait their turn in the
listen queue), at most :data:`MAX_QUERIES` queries run at once (more get 503 at once), and a
request line longer than :data:`MAX_SQL` characters of SQL gets 414.

``GET /api/query?sql=...`` runs one read-only statement through :class:`QueryRunner`, the one
place where the limits of ``cards query`` apply, and answers JSON ``{columns, rows, total}``,
or ``{error}`` when the query is refused or fails (still 200: the query was answered; a
malformed request gets 4xx); ``&format=csv`` answers the rows as CSV, as ``cards query
--format csv`` writes them (a refused query: 400 and the message as text).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import VisionDataError
from ..schema import Card

__all__ = [
    "HOST",
    "MAX_CONNECTIONS",
    "MAX_QUERIES",
    "MAX_SQL",
    "REQUEST_TIMEOUT",
    "QueryLimits",
    "QueryResult",
    "QueryRunner",
    "SiteServer",
    "csv_text",
]

#: The only address the server listens on.
HOST = "127.0.0.1"
#: Seconds a connection may stay silent before it is closed.
REQUEST_TIMEOUT = 15.0
#: Connections handled at once.
MAX_CONNECTIONS = 16
#: Queries run at once.
MAX_QUERIES = 2
#: Longest SQL accepted, in characters.
MAX_SQL = 16_384


@dataclass(frozen=True)
class QueryLimits:
    """The limits a query runs under (those of ``cards query``): seconds and rows shown."""

    timeout: float | None = None
    max_rows: int | None = None

    def __str__(self) -> str:
        parts = []
        if self.timeout is not None:
            parts.append(f"at most {self.timeout:g} s a query")
        if self.max_rows is not None:
            parts.append(f"at most {self.max_rows:,} rows shown")
        return ", ".join(parts) or "no limits"


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    total: int


class QueryRunner:
    """Runs one read-only statement over ``cards`` within ``limits``: a fresh in-memory
    database per query, as ``cards query`` runs it."""

    def __init__(self, cards: Sequence[Card], limits: QueryLimits) -> None:
        self.cards = list(cards)
        self.limits = limits

    def __call__(self, sql: str) -> QueryResult:
        from ..query import connect, fetch_rows

        # The limits plug in here, and only here: the engine of `cards query` applies them.
        result = fetch_rows(
            connect(self.cards), sql, timeout=self.limits.timeout, max_rows=self.limits.max_rows
        )
        return QueryResult(result.columns, list(result.rows), result.total)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def csv_text(result: QueryResult) -> str:
    """The rows as ``cards query --format csv`` writes them (a test keeps the two equal)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([_csv_cell(v) for v in r] for r in result.rows)
    return buf.getvalue()


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


class _Handler(SimpleHTTPRequestHandler):
    server: SiteServer
    timeout = REQUEST_TIMEOUT
    protocol_version = "HTTP/1.0"
    extensions_map = {  # noqa: RUF012 (the base class declares it as an instance variable)
        **SimpleHTTPRequestHandler.extensions_map,
        ".yaml": "text/plain; charset=utf-8",
        ".json": "application/json",
        ".svg": "image/svg+xml",
        ".js": "text/javascript",
        ".css": "text/css",
        ".html": "text/html; charset=utf-8",
    }

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log:
            super().log_message(format, *args)

    def list_directory(self, path: Any) -> None:
        self.send_error(HTTPStatus.NOT_FOUND, "no directory listing")
        return None

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def _host_ok(self) -> bool:
        port = self.server.server_address[1]
        allowed = {f"{HOST}:{port}", f"localhost:{port}"}
        if self.headers.get("Host", "") in allowed:
            return True
        self.send_error(HTTPStatus.MISDIRECTED_REQUEST, "expected Host 127.0.0.1 or localhost")
        return False

    def do_HEAD(self) -> None:
        if self._host_ok():
            super().do_HEAD()

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        url = urlsplit(self.path)
        if url.path == "/api/query":
            self._query(parse_qs(url.query, max_num_fields=4))
        else:
            super().do_GET()

    def _send(self, status: HTTPStatus, body: str, kind: str, name: str | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        if name:
            self.send_header("Content-Disposition", f'attachment; filename="{name}"')
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, json.dumps({"error": message}), "application/json")

    def _query(self, params: dict[str, list[str]]) -> None:
        sql = (params.get("sql") or [""])[0]
        fmt = (params.get("format") or ["json"])[0]
        if fmt not in ("json", "csv"):
            return self._error(HTTPStatus.BAD_REQUEST, f"format={fmt!r}: expected json or csv")
        if not sql.strip():
            return self._error(HTTPStatus.BAD_REQUEST, "no SQL given (expected ?sql=SELECT ...)")
        if len(sql) > MAX_SQL:
            return self._error(
                HTTPStatus.REQUEST_URI_TOO_LONG,
                f"the SQL has {len(sql):,} characters (expected at most {MAX_SQL:,})",
            )
        if not self.server.queries.acquire(blocking=False):
            return self._error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"{MAX_QUERIES} queries are running already; try again",
            )
        try:
            result = self.server.runner(sql)
        except VisionDataError as exc:  # the query's own fault: an answer, not a failed request
            if fmt == "csv":
                return self._send(
                    HTTPStatus.BAD_REQUEST, str(exc).strip() + "\n", "text/plain; charset=utf-8"
                )
            return self._send(
                HTTPStatus.OK, json.dumps({"error": str(exc).strip()}), "application/json"
            )
        finally:
            self.server.queries.release()
        if fmt == "csv":
            return self._send(
                HTTPStatus.OK, csv_text(result), "text/csv; charset=utf-8", "query.csv"
            )
        body = {"columns": result.columns, "rows": _json_value(result.rows), "total": result.total}
        return self._send(HTTPStatus.OK, json.dumps(body, ensure_ascii=False), "application/json")


class SiteServer(ThreadingHTTPServer):
    """Serves the site in ``root`` on 127.0.0.1:``port`` (0: a free port) and runs its queries
    with ``runner``; a connection silent for ``request_timeout`` seconds is closed. ``url`` is
    where it answers; ``serve_forever()`` runs it."""

    daemon_threads = True
    request_queue_size = 32

    def __init__(
        self,
        root: Path,
        runner: QueryRunner,
        port: int = 8000,
        *,
        log: bool = False,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        bounded = type("SiteHandler", (_Handler,), {"timeout": request_timeout})
        handler = functools.partial(bounded, directory=str(root))
        self.runner = runner
        self.log = log
        self.queries = threading.BoundedSemaphore(MAX_QUERIES)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__((HOST, port), handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()  # at most MAX_CONNECTIONS threads; the rest wait in the backlog
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
