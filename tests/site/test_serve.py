"""``cards serve``: a real server on loopback, its query API and its bounds."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from visiondata.registry.questions import QUESTIONS
from visiondata.registry.site.serve import (
    MAX_QUERIES,
    MAX_SQL,
    QueryLimits,
    QueryResult,
    QueryRunner,
    SiteServer,
)
from visiondata.registry.store import list_cards

from ..registry.conftest import VALID_CARD, VISIONDATA, run_cli


@pytest.fixture(scope="module")
def served(catalogue_site: tuple[Path, Any]) -> Iterator[SiteServer]:
    site, _ = catalogue_site
    server = SiteServer(site, QueryRunner(list_cards(), QueryLimits(max_rows=5)), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def _get(server: SiteServer, path: str, host: str | None = None) -> tuple[int, Any, bytes]:
    con = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    headers = {"Host": host} if host else {}
    con.request("GET", path, headers=headers)
    response = con.getresponse()
    body = response.read()
    con.close()
    return response.status, response.headers, body


def test_it_listens_on_loopback_only(served: SiteServer) -> None:
    assert served.server_address[0] == "127.0.0.1"
    assert served.url == f"http://127.0.0.1:{served.server_address[1]}/"


def test_it_serves_the_site(served: SiteServer, catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    status, headers, body = _get(served, "/")
    assert status == 200 and body == (site / "index.html").read_bytes()
    assert headers["Content-Type"].startswith("text/html")
    status, headers, body = _get(served, "/cards/adience.yaml")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    "path", ["/cards/", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/nope.html"]
)
def test_nothing_outside_the_sites_files(served: SiteServer, path: str) -> None:
    status, _, body = _get(served, path)
    assert status == 404 and b"root:" not in body


def test_another_host_name_is_refused(served: SiteServer) -> None:
    status, _, _ = _get(served, "/", host="evil.example")
    assert status == 421
    status, _, _ = _get(served, "/", host=f"localhost:{served.server_address[1]}")
    assert status == 200


def test_the_gender_shades_question_answers_adience(served: SiteServer) -> None:
    status, _, body = _get(served, "/api/query?sql=" + quote(QUESTIONS[0].sql))
    assert status == 200
    data = json.loads(body)
    assert data["columns"][:2] == ["card_id", "name"]
    assert [r[0] for r in data["rows"]] == ["adience"] and data["total"] == 1


def test_a_write_is_refused_with_the_message(served: SiteServer) -> None:
    status, _, body = _get(served, "/api/query?sql=" + quote("DROP TABLE cards"))
    assert status == 200  # answered: the answer is the refusal
    assert "the catalogue is read-only: got a DROP statement" in json.loads(body)["error"]
    status, _, body = _get(served, "/api/query?sql=" + quote("SELECT nope FROM cards"))
    assert status == 200 and "nope" in json.loads(body)["error"]
    status, _, body = _get(served, "/api/query?format=csv&sql=" + quote("DROP TABLE cards"))
    assert status == 400 and b"read-only" in body


def test_rows_beyond_the_limit_are_counted_not_sent(served: SiteServer) -> None:
    status, _, body = _get(served, "/api/query?sql=" + quote("SELECT id FROM cards ORDER BY id"))
    data = json.loads(body)
    assert status == 200 and len(data["rows"]) == 5 and data["total"] == len(list_cards())


def test_csv_is_what_cards_query_writes(served: SiteServer, tmp_path: Path) -> None:
    sql = "SELECT id, year, tasks, 1.5 AS x FROM cards WHERE id LIKE 'c%' ORDER BY id LIMIT 4"
    status, headers, body = _get(served, "/api/query?format=csv&sql=" + quote(sql))
    assert status == 200 and headers["Content-Disposition"] == 'attachment; filename="query.csv"'
    cli = run_cli("cards", "query", sql, "--format", "csv")
    assert cli.returncode == 0, cli.stderr
    assert body.decode("utf-8") == cli.stdout


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "no SQL given"),
        ("sql=SELECT%201&format=xml", 400, "format='xml': expected json or csv"),
        ("sql=" + "x" * (MAX_SQL + 1), 414, f"(expected at most {MAX_SQL:,})"),
    ],
)
def test_bad_requests_get_one_line(
    served: SiteServer, query: str, status: int, message: str
) -> None:
    got, _, body = _get(served, "/api/query?" + query)
    assert got == status and message in json.loads(body)["error"]


class _Blocking(QueryRunner):
    """A runner that holds each query until released (to fill the query slots)."""

    def __init__(self) -> None:
        super().__init__([], QueryLimits())
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, sql: str) -> QueryResult:
        self.entered.release()
        self.release.wait(30)
        return QueryResult(["one"], [(1,)], 1)


def test_queries_beyond_the_slots_are_refused_at_once(catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    runner = _Blocking()
    server = SiteServer(site, runner, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    results: list[int] = []
    try:
        busy = [
            threading.Thread(target=lambda: results.append(_get(server, "/api/query?sql=x")[0]))
            for _ in range(MAX_QUERIES)
        ]
        for t in busy:
            t.start()
        for _ in busy:
            assert runner.entered.acquire(timeout=30)
        # every slot is still held (release is not set): an answer at all means the server
        # refused at once instead of queueing (a queued request would wait until release)
        status, _, body = _get(server, "/api/query?sql=SELECT%201")
        assert status == 503 and "queries are running already" in json.loads(body)["error"]
        assert not runner.release.is_set()
        runner.release.set()
        for t in busy:
            t.join(30)
        assert results == [200] * MAX_QUERIES
    finally:
        runner.release.set()
        server.shutdown()
        server.server_close()


def test_a_silent_connection_is_closed(catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    server = SiteServer(site, QueryRunner([], QueryLimits()), port=0, request_timeout=0.5)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as s:
            # closed by the server (request_timeout=0.5), having sent nothing; a server that
            # never closed would make recv raise after the socket's own 10 s bound
            assert s.recv(1024) == b""
        status, _, _ = _get(server, "/")  # and the server still answers
        assert status == 200
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("times", [1, 5])
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cards_serve_prints_its_loopback_url_and_stops_on_ctrl_c(
    stop: signal.Signals, times: int, tmp_path: Path, card_dir: Path
) -> None:
    # times=5: an impatient user's repeated Ctrl-C, landing while it stops, is no traceback
    (card_dir / "toy-set.yaml").write_text(VALID_CARD)
    scratch = tmp_path / "tmp"  # where it builds the site it serves
    scratch.mkdir()
    proc = subprocess.Popen(
        [
            *VISIONDATA,
            "cards",
            "serve",
            "--port",
            "0",
            "--no-shipped",
            "--cards-path",
            str(card_dir),
            "--jobs",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(scratch)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving the catalogue at http://127.0.0.1:"), line
        port = int(line.split("127.0.0.1:", 1)[1].split("/", 1)[0])
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        con.request("GET", "/query.html")
        page = con.getresponse().read().decode("utf-8")
        assert '<form id="sql"' in page and "at most" in page
        con.close()
    finally:
        for i in range(times):
            if i:
                time.sleep(0.01)
            if proc.poll() is None:
                proc.send_signal(stop)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"cards serve did not stop on {stop.name} within 30 s")
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err, err
    assert list(scratch.iterdir()) == []  # the built site is removed


def test_cards_serve_says_when_the_port_is_taken(card_dir: Path) -> None:
    (card_dir / "toy-set.yaml").write_text(VALID_CARD)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = run_cli(
            "cards",
            "serve",
            "--port",
            str(port),
            "--no-shipped",
            "--cards-path",
            str(card_dir),
            "--jobs",
            "1",
        )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1  # before any build
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(f"visiondata: cards serve: --port {port}: cannot listen on 127.0.0.1 (")
    )
