"""The output lock: a second writer waiting out ``wait`` and then refused naming the holder,
and a lock file removed or replaced by its holder between our open and our lock (the
holder's release racing ours), which must be locked again, never held twice."""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders.convert import lock
from visiondata.loaders.errors import OutputLockedError


def test_a_second_writer_waits_then_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with lock.locked(tmp_path, "train", "split 'train'") as path:
        assert path == tmp_path / ".train.lock"
        holder = f"process {os.getpid()} on {socket.gethostname()}"
        assert path.read_text() == holder + "\n"
        with (  # retries for 0.2 s, then gives up
            pytest.raises(OutputLockedError) as info,
            lock.locked(tmp_path, "train", "split 'train'", wait=0.2),
        ):
            pytest.fail("the lock was held twice")
        assert str(info.value) == (
            f"{tmp_path}: split 'train' is being written by {holder} (lock file {path}); "
            "wait for it to finish, or stop it, then run again"
        )
        assert path.read_text() == holder + "\n"  # the refused writer left it alone
    assert not path.exists()
    with lock.locked(tmp_path, "train", "split 'train'"):  # released: free again
        pass


@pytest.mark.parametrize("replaced", [False, True])
def test_a_lock_file_removed_after_our_open_is_locked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replaced: bool
) -> None:
    """The holder unlinks its file when it is done; a writer that opened the old file just
    before that locks an orphan no one else can see. Reproduce the interleaving exactly by
    having the holder's release (real unlink, and a newcomer's real re-create) happen at
    our first ``flock``: the orphan must be dropped and the current file locked."""
    path = tmp_path / ".train.lock"
    real_flock = fcntl.flock
    calls: list[int] = []

    def release_then_flock(fd: int, op: int) -> Any:
        if not calls:
            path.unlink()  # the holder's release
            if replaced:
                path.write_text("process 1 on elsewhere\n")  # a newcomer's fresh file
        calls.append(os.fstat(fd).st_ino)
        return real_flock(fd, op)

    path.write_text("process 1 on elsewhere\n")
    monkeypatch.setattr(lock.fcntl, "flock", release_then_flock)
    with lock.locked(tmp_path, "train", "split 'train'") as got:
        assert len(calls) == 2  # the orphan, then the live file
        if replaced:  # both files exist at once: two inodes (a removed one's may be reused)
            assert calls[0] != calls[1]
        assert os.stat(got).st_ino == calls[1]
        assert got.read_text() == f"process {os.getpid()} on {socket.gethostname()}\n"
    assert not path.exists()
