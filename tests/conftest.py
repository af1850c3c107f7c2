"""Shared by every test: the catalogue cache lives in a folder of this test session."""

from __future__ import annotations

import ast
import faulthandler
import functools
import os
import signal
import tempfile
import threading
from typing import Any

# Set at import, before any test (or subprocess a test starts) reads the catalogue, so the
# suite never reads or writes the user's own cache.
os.environ.setdefault("VISIONDATA_CACHE_DIR", tempfile.mkdtemp(prefix="visiondata-test-cache-"))

# Ctrl-C tests send SIGINT to commands they start. A shell starts a background job with SIGINT
# ignored, and an ignored signal stays ignored across exec, so under `cmd &` or nohup every
# child would shrug SIGINT off and those tests would fail for the shell's sake. A handler (not
# SIG_IGN) here resets to the default in each child at exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# `.ci/test` bounds the whole run: at its bound it sends SIGUSR2, and every thread's stack is
# written to $VISIONDATA_STACKS_FILE (a file: pytest's capture may hold stderr by then), which
# it prints before pytest is killed (the session's exit is outside pytest-timeout's reach).
if os.environ.get("VISIONDATA_STACKS_FILE"):
    _stacks = open(os.environ["VISIONDATA_STACKS_FILE"], "a")  # noqa: SIM115 - for the session
    faulthandler.register(signal.SIGUSR2, file=_stacks, all_threads=True)

# CPython keeps its AST-construction depth counter per interpreter, not per thread, and
# ast.parse can raise "SystemError: AST constructor recursion depth mismatch" when threads
# parse at once (seen here on 3.11.7; python/cpython#106905 fixed one cause, not that). pytest
# parses a failing test's source to show it while the test's threads may still be formatting
# a traceback (which parses too, in 3.11): one CI run lost its whole report to it, an
# INTERNALERROR at 16%. The lock takes the calls in turn (an RLock: a call from a finalizer
# inside a parse on the same thread goes through rather than deadlock).
_ast_parse = ast.parse
_ast_lock = threading.RLock()


@functools.wraps(_ast_parse)
def _parse_in_turn(*args: Any, **kwargs: Any) -> Any:
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


ast.parse = _parse_in_turn
