"""Each local shard is hashed once per process: the first whole read checks its sha256, later
epochs skip the hash while its inode, size and mtime are unchanged; a shard replaced, rewritten
or touched is hashed (and refused, if it no longer matches) again."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders import Loader, World
from visiondata.loaders.errors import ChecksumError
from visiondata.loaders.shards import reader, remote

from .loader_fakes import all_keys, make_shards

ONE = World(0, 1)


def padded(i: int, key: str) -> dict[str, bytes]:
    return {"txt": key.encode(), "bin": (key.encode() * 300)[: 2000 + i % 300], "cls": b"1"}


@pytest.fixture()
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The shards each whole-read hash was started for, in order, in a fresh process record."""
    monkeypatch.setattr(remote, "_VERIFIED", {})
    started: list[str] = []

    class Counting(reader.HashingReader):
        def __init__(self, raw: Any) -> None:
            super().__init__(raw)
            started.append(Path(getattr(raw, "path", "?")).name)

    monkeypatch.setattr(reader, "HashingReader", Counting)
    return started


def _epochs(loader: Loader, n: int) -> list[list[str]]:
    out = []
    for _ in range(n):
        out.append(sorted(k for b in loader for k in b["__key__"]))
    return out


def test_second_epoch_does_not_rehash(tmp_path: Path, hashed: list[str]) -> None:
    root = make_shards(tmp_path, [40, 25, 31], members=padded)
    loader = Loader(root, batch_size=16, world=ONE, seed=3)
    first, second, third = _epochs(loader, 3)
    assert first == second == third == sorted(all_keys(root))
    assert sorted(hashed) == ["train-000000.tar", "train-000001.tar", "train-000002.tar"]
    # a second loader in the same process over the same files: still nothing re-hashed
    assert _epochs(Loader(root, batch_size=7, world=ONE), 1)[0] == first
    assert len(hashed) == 3


def _rewrite(path: Path, flip_at: int | None) -> None:
    """Write the file again in place (same inode and size), one byte changed or not, and give
    it a new mtime (explicitly, so a coarse clock cannot hide the change)."""
    data = bytearray(path.read_bytes())
    if flip_at is not None:
        data[flip_at] ^= 0x01
    st = path.stat()
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_rewritten_shard_is_checked_again_and_refused(tmp_path: Path, hashed: list[str]) -> None:
    root = make_shards(tmp_path, [30], members=padded)
    loader = Loader(root, batch_size=8, world=ONE)
    _epochs(loader, 1)
    shard = json.loads((root / "manifest.json").read_text())["splits"]["train"]["shards"][0]
    path = root / shard["name"]
    payload = path.read_bytes().index(b"s000007", shard["offsets"][7] + 512 * 2)
    _rewrite(path, flip_at=payload)
    with pytest.raises(ChecksumError, match=r"train-000000\.tar: .* sha256"):
        _epochs(loader, 1)
    assert hashed == ["train-000000.tar", "train-000000.tar"]


@pytest.mark.parametrize("change", ["touch", "replace"])
def test_touched_or_replaced_shard_is_hashed_again(
    tmp_path: Path, hashed: list[str], change: str
) -> None:
    root = make_shards(tmp_path, [30, 12], members=padded)
    loader = Loader(root, batch_size=8, world=ONE)
    _epochs(loader, 1)
    path = root / "train-000001.tar"
    if change == "touch":
        _rewrite(path, flip_at=None)  # same bytes, new mtime
    else:  # same bytes, a new file (new inode) renamed over the old one
        tmp = path.with_suffix(".new")
        tmp.write_bytes(path.read_bytes())
        os.replace(tmp, path)
    assert _epochs(loader, 1)[0] == sorted(all_keys(root))
    assert sorted(hashed) == ["train-000000.tar", "train-000001.tar", "train-000001.tar"]


def test_a_resumed_partial_read_checks_nothing_and_marks_nothing(
    tmp_path: Path, hashed: list[str]
) -> None:
    """A read that starts mid-shard cannot check the hash, so it does not count as checked:
    the next whole read still hashes the shard."""
    root = make_shards(tmp_path, [48], members=padded)
    loader = Loader(root, batch_size=8, world=ONE, shuffle=False)
    state = dict(loader.state_dict(), batches=3)
    loader.load_state_dict(state)
    assert len(_epochs(loader, 1)[0]) == 48 - 24
    assert hashed == []
    assert len(_epochs(loader, 1)[0]) == 48
    assert hashed == ["train-000000.tar"]


def test_verify_never_hashes_nothing(tmp_path: Path, hashed: list[str]) -> None:
    root = make_shards(tmp_path, [20], members=padded)
    _epochs(Loader(root, batch_size=8, world=ONE, verify="never"), 2)
    assert hashed == []
    assert remote.verified_files() == {}


def test_a_shard_cut_between_ranks_is_hashed_whole_by_the_first_part(
    tmp_path: Path, hashed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank 0 of 2 reads half of each epoch, so a shard is cut at the rank boundary. The rank
    that reads a shard's first part hashes the rest of the file after its last sample, so
    every shard rank 0 reads from its start is checked (cut or not); a hash of a part that
    starts mid-shard is never started; every hash that starts ends checked and recorded,
    and none twice in this process."""
    marked: list[str] = []
    real_mark = reader.mark_verified

    def mark(path: str, st: os.stat_result, sha256: str) -> None:
        marked.append(Path(path).name)
        real_mark(path, st, sha256)

    monkeypatch.setattr(reader, "mark_verified", mark)
    root = make_shards(tmp_path, [40, 25, 31], members=padded)
    firsts = {f"s{n:06d}": f"train-00000{i}.tar" for i, n in enumerate([0, 40, 65])}
    loader = Loader(root, batch_size=8, world=World(0, 2), seed=5)
    began: set[str] = set()
    for keys in _epochs(loader, 4):
        assert len(keys) == 48
        began |= {firsts[k] for k in keys if k in firsts}
    assert hashed == marked
    assert sorted(hashed) == sorted(began)  # each shard rank 0 began, hashed once
    assert len(set(hashed)) == len(hashed)


def _flip_in(root: Path, shard: int, sample: int) -> None:
    """Change one byte of sample ``sample``'s payload in shard ``shard`` (its ``.bin``, which
    no member check looks into: only the shard's sha256 can tell)."""
    info = json.loads((root / "manifest.json").read_text())["splits"]["train"]["shards"][shard]
    path = root / info["name"]
    key = f"s{sum(_SIZES[:shard]) + sample:06d}".encode()
    at = path.read_bytes().index(key * 2, info["offsets"][sample])
    _rewrite(path, flip_at=at + 3)


_SIZES = [40, 25, 31]


@pytest.mark.parametrize(
    ("world", "workers"),
    [(World(0, 2), 0), (World(1, 2), 0), (ONE, 2)],
    ids=["rank 0 of 2", "rank 1 of 2", "2 workers"],
)
def test_a_corrupt_byte_after_the_cut_is_refused(
    tmp_path: Path, world: World, workers: int
) -> None:
    """Unshuffled, 96 samples over 2 ranks (or 2 workers of one rank) cut shard 1 after 8 of
    its 25 samples. A byte changed in its sample 20 (the second reader's part) is found by
    the reader of the first part: before, neither reader hashed shard 1 at all."""
    root = make_shards(tmp_path, _SIZES, members=padded)
    _flip_in(root, shard=1, sample=20)
    loader = Loader(root, batch_size=8, world=world, num_workers=workers, shuffle=False)
    if world.rank == 1:  # this rank enters shard 1 mid-way: it cannot check it
        assert len(_epochs(loader, 1)[0]) == 48
        return
    with pytest.raises(ChecksumError, match=r"train-000001\.tar: .* sha256"):
        _epochs(loader, 1)
