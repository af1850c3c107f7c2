"""One writer per output split: an advisory lock file held for the whole conversion.

``OUT/.{split}.lock`` is locked with ``flock`` (released by the kernel when the process ends,
however it ends) and holds the owner's pid and host, so a second ``visiondata convert`` into
the same folder and split stops at once with :class:`OutputLockedError` naming the process
that holds it. ``OUT/.manifest.lock`` is held only while the manifest is read, merged and
written, so conversions of different splits into one folder cannot lose each other's split
(waiting for it is bounded). The lock file is removed when it is released; a process that
locked a file that was removed meanwhile locks again, so two writers never both hold it.
POSIX only (``fcntl``), like the loaders' ``pread``.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputLockedError

__all__ = ["locked"]


def _acquire(path: Path, what: str, deadline: float) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            if time.monotonic() >= deadline:
                raise OutputLockedError(
                    f"{path.parent}: {what} is being written by {holder or 'another process'} "
                    f"(lock file {path}); wait for it to finish, or stop it, then run again"
                ) from None
            time.sleep(0.05)
            continue
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed the file after we opened it: lock the new one


@contextmanager
def locked(out: Path, name: str, what: str, wait: float = 0.0) -> Iterator[Path]:
    """Hold ``OUT/.{name}.lock`` for the ``with`` block; raise :class:`OutputLockedError` when
    another process holds it for longer than ``wait`` seconds."""
    path = out / f".{name}.lock"
    fd = _acquire(path, what, time.monotonic() + wait)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
