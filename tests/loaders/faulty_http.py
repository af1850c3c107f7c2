"""A loopback HTTP file server with injectable faults, for the remote-read tests.

It serves a folder with ``HEAD`` and ranged ``GET`` (``bytes=a-b``), and each fault applies to
the first ``n`` requests that match it, then the server behaves; so a test can assert both
that the loader survived the fault (retries, exactly-once delivery) and how long a fault that
never ends takes to become an error. Faults:

- ``stall``: send the status line and headers, then nothing (the body never comes);
- ``silent``: accept the connection and never answer at all;
- ``drop``: send part of the body, then close the connection;
- ``short``: announce the full Content-Length, send fewer bytes, close;
- ``status``: answer with an HTTP error status (503, 500, ...);
- ``ignore_range``: answer a ranged GET with 200 and the whole file.

Every fault can be limited to ``HEAD`` or ``GET`` and to paths ending with a suffix. The
server stops every stalled handler when it is closed, so no test leaves threads behind.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Fault:
    kind: str  # stall | silent | drop | short | status | ignore_range
    count: int = 1  # how many matching requests get it (-1: all)
    method: str | None = None  # HEAD or GET; None: both
    suffix: str = ""  # only paths ending with this
    status: int = 503
    after: int = 0  # drop/short: bytes of the body sent first
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        if not path.endswith(self.suffix):
            return False
        return self.count < 0 or self.hits < self.count


@dataclass
class FaultyServer:
    root: Path
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                server._handle(self, "HEAD")

            def do_GET(self) -> None:
                server._handle(self, "GET")

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that hang up on a faulty answer are the point of the test

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FaultyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hits(self, kind: str) -> int:
        return sum(f.hits for f in self.faults if f.kind == kind)

    def _fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.matches(method, path):
                    f.hits += 1
                    return f
        return None

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?", 1)[0]
        rng = h.headers.get("Range")
        with self._lock:
            self.requests.append((method, path, rng))
        fault = self._fault(method, path)
        if fault is not None and fault.kind == "silent":
            self._stop.wait(120)
            return
        file = (self.root / path.lstrip("/")).resolve()
        if not file.is_file() or self.root.resolve() not in file.parents:
            self._status(h, 404)
            return
        if fault is not None and fault.kind == "status":
            self._status(h, fault.status)
            return
        data = file.read_bytes()
        start, stop, code = 0, len(data), 200
        m = _RANGE.match(rng or "")
        if m and not (fault is not None and fault.kind == "ignore_range"):
            start = int(m.group(1))
            stop = min(len(data), int(m.group(2)) + 1 if m.group(2) else len(data))
            code = 206
        body = data[start:stop]
        h.send_response(code)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Accept-Ranges", "bytes")
        if code == 206:
            h.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        h.end_headers()
        if method == "HEAD":
            return
        if fault is not None and fault.kind == "stall":
            h.wfile.flush()
            self._stop.wait(120)
            return
        if fault is not None and fault.kind in ("drop", "short"):
            h.wfile.write(body[: fault.after])
            h.wfile.flush()
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        h.wfile.write(body)

    @staticmethod
    def _status(h: BaseHTTPRequestHandler, code: int) -> None:
        body = f"error {code}\n".encode()
        h.send_response(code)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
