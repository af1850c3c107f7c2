"""OUT at a URL on hostile ground, with fsspec's own file systems instead of S3: ``memory://``
(no ETags, so a resumed shard is hashed again) and ``local://`` (a real folder reached
through fsspec, where a missing parent or a folder named ``manifest.json`` are real OS errors).
Every failure is one line naming OUT, the object and the cause; lock objects left by others
are refused naming their holder; whatever a rerun keeps is intact and nothing stale is left."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders.convert import ConversionError, ItemError, convert
from visiondata.loaders.errors import OutputLockedError

from .convert_fakes import folder_hashes, image_bytes, make_imagefolder


@pytest.fixture
def src(tmp_path: Path) -> Path:
    make_imagefolder(tmp_path / "src")  # 12 images
    return tmp_path / "src"


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A fresh ``memory://`` OUT (the store is per process): its URL and its fs path."""
    import fsspec

    fs = fsspec.filesystem("memory")
    path = f"/{tmp_path.parent.name}-{tmp_path.name}/set"
    yield f"memory:/{path}", path
    if fs.exists(path):
        fs.rm(path, recursive=True)


def _mem_hashes(path: str) -> dict[str, str]:
    import hashlib

    import fsspec

    fs = fsspec.filesystem("memory")
    return {
        p.rsplit("/", 1)[-1]: hashlib.sha256(fs.cat_file(p)).hexdigest()
        for p in sorted(fs.find(path))
    }


def test_memory_out_equals_a_folder_and_a_smaller_plan_leaves_nothing_stale(
    src: Path, tmp_path: Path, mem: tuple[str, str]
) -> None:
    url, path = mem
    convert("imagefolder", src, url, samples_per_shard=2)  # 6 shards
    convert("imagefolder", src, url, split="validation", samples_per_shard=5)  # merged in
    result = convert("imagefolder", src, url, samples_per_shard=6)  # train again: 2 shards
    assert [s.name for s in result.split_info.shards] == ["train-000000.tar", "train-000001.tar"]
    assert sorted(result.manifest.splits) == ["train", "validation"]
    local = tmp_path / "local"
    convert("imagefolder", src, local, samples_per_shard=2)
    convert("imagefolder", src, local, split="validation", samples_per_shard=5)
    convert("imagefolder", src, local, samples_per_shard=6)
    assert _mem_hashes(path) == folder_hashes(local)  # no train-00000[2-5].tar, no journal


def test_a_resume_without_etags_hashes_the_journalled_shards(
    src: Path, tmp_path: Path, mem: tuple[str, str]
) -> None:
    import fsspec

    url, path = mem
    fs = fsspec.filesystem("memory")
    good = (src / "fish" / "f05.jpg").read_bytes()
    (src / "fish" / "f05.jpg").write_bytes(good[:100])  # a real JPEG cut short: last shard
    with pytest.raises(ItemError, match=r"^fish/f05.jpg: "):
        convert("imagefolder", src, url, samples_per_shard=3)
    assert sorted(fs.ls(f"{path}/.train.journal", detail=False)) == [
        f"{path}/.train.journal/00000{i}.json" for i in range(3)
    ]
    assert "etag" not in json.loads(fs.cat_file(f"{path}/.train.journal/000000.json"))
    (src / "fish" / "f05.jpg").write_bytes(good)
    shard1 = fs.cat_file(f"{path}/train-000001.tar")
    fs.pipe_file(f"{path}/train-000001.tar", bytes(len(shard1)))  # same size, other bytes
    result = convert("imagefolder", src, url, samples_per_shard=3)
    assert (result.kept_shards, result.written_shards) == (2, 2)  # 000001 failed its sha256
    convert("imagefolder", src, tmp_path / "local", samples_per_shard=3)
    assert _mem_hashes(path) == folder_hashes(tmp_path / "local")


def test_a_missing_parent_folder_is_one_line_naming_the_object(src: Path, tmp_path: Path) -> None:
    where = tmp_path / "no" / "such"
    with pytest.raises(ConversionError) as err:
        convert("imagefolder", src, f"local://{where}")
    assert str(err.value) == (
        f"OUT local://{where}: cannot write .train.lock: not found ([Errno 2] No such file or "
        f"directory: '{where}/.train.lock'); does the bucket exist, and is the endpoint S3?"
    )
    assert not (tmp_path / "no").exists()


def test_a_folder_named_manifest_json_is_one_line(src: Path, tmp_path: Path) -> None:
    (tmp_path / "out" / "manifest.json").mkdir(parents=True)
    with pytest.raises(ConversionError) as err:
        convert("imagefolder", src, f"local://{tmp_path / 'out'}")
    assert str(err.value) == (
        f"OUT local://{tmp_path / 'out'}: cannot read manifest.json: IsADirectoryError: "
        f"[Errno 21] Is a directory: '{tmp_path / 'out' / 'manifest.json'}'"
    )
    assert os.listdir(tmp_path / "out") == ["manifest.json"]  # nothing written


@pytest.mark.parametrize(
    ("pid", "holder"),
    [
        (os.getpid(), f"process {os.getpid()}"),  # alive: this very process
        ("not-a-pid", "process not-a-pid"),  # unreadable pid: never taken for stale
    ],
)
def test_a_lock_object_held_on_this_host_is_refused_naming_the_holder(
    src: Path, mem: tuple[str, str], pid: object, holder: str
) -> None:
    import fsspec

    url, path = mem
    fs = fsspec.filesystem("memory")
    lock = json.dumps({"pid": pid, "host": socket.gethostname(), "token": "theirs"}).encode()
    fs.pipe_file(f"{path}/.train.lock", lock)
    with pytest.raises(OutputLockedError) as err:
        convert("imagefolder", src, url)
    assert str(err.value) == (
        f"{url}: split 'train' is being written by {holder} on {socket.gethostname()} "
        f"(lock object {url}/.train.lock); wait for it to finish, or stop it; if no run is "
        "going (a killed run leaves it behind), delete that object, then run again"
    )
    assert fs.cat_file(f"{path}/.train.lock") == lock  # not taken over, not removed
    assert fs.ls(path, detail=False) == [f"{path}/.train.lock"]  # no shard, no manifest


def test_an_unreadable_lock_object_is_refused_as_another_process(
    src: Path, mem: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock object that is not JSON (a foreign write) is read as held by someone unknown:
    waited on like a held lock (``wait`` is 0 here: refused at once, not re-read in a loop),
    and left in place."""
    import fsspec

    url, path = mem
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{path}/.train.lock", b"\x00not json")
    reads: list[str] = []
    cat_file = type(fs).cat_file  # fsspec's, counted: how often the lock is read

    def counted(self: Any, p: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(p)
        return cat_file(self, p, *args, **kwargs)

    monkeypatch.setattr(type(fs), "cat_file", counted)
    with pytest.raises(OutputLockedError) as err:
        convert("imagefolder", src, url)
    assert reads.count(f"{path}/.train.lock") == 1  # read once and refused, not re-read in a loop
    assert str(err.value).startswith(
        f"{url}: split 'train' is being written by another process (lock object {url}/.train.lock)"
    )
    assert fs.ls(path, detail=False) == [f"{path}/.train.lock"]


def test_a_bad_image_into_memory_out_leaves_no_shard_of_it(src: Path, mem: tuple[str, str]) -> None:
    import fsspec

    url, path = mem
    fs = fsspec.filesystem("memory")
    (src / "cat" / "c01.jpg").write_bytes(image_bytes(0)[:100])
    with pytest.raises(ItemError, match=r"^cat/c01.jpg: "):
        convert("imagefolder", src, url, samples_per_shard=3)
    assert not fs.exists(f"{path}/train-000000.tar")  # the failed shard was never uploaded
    assert not fs.exists(f"{path}/manifest.json") and not fs.exists(f"{path}/.train.lock")
