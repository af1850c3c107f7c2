"""Sources cannot reach outside their set; patterns are bounded; the cache re-checks what it
holds; two conversions cannot write one split at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from visiondata.loaders import (
    ChecksumError,
    Loader,
    ManifestError,
    OutputLockedError,
    SourceError,
    UnsafeURLError,
    World,
)
from visiondata.loaders.shards.remote import CacheRepairedWarning
from visiondata.loaders.shards.sources import MAX_PATTERN_NAMES, expand_braces, shard_url

from .faulty_http import FaultyServer
from .loader_fakes import all_keys, make_shards

ONE = World(0, 1)
SECRET = b"root:x:0:0:a secret line that must never show up in a message\n"


def _point_manifest_at(root: Path, names: list[str]) -> None:
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    for shard, name in zip(manifest["splits"]["train"]["shards"], names, strict=False):
        shard["name"] = name
    path.write_text(json.dumps(manifest))


@pytest.fixture()
def local_set(tmp_path: Path) -> Path:
    return make_shards(tmp_path / "set", [5, 5])


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """A file outside the shard set, holding bytes that must not leak."""
    secret = tmp_path / "outside" / "secret.tar"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    return secret


HOSTILE = {
    "absolute": lambda secret: str(secret),
    "dotdot": lambda secret: "../outside/secret.tar",
    "file-url": lambda secret: f"file://{secret}",
    "other-scheme": lambda secret: "s3://bucket/train-000000.tar",
    "other-host": lambda secret: "http://203.0.113.9/train-000000.tar",
    "pipe": lambda secret: "pipe:cat /etc/passwd",
    "home": lambda secret: "~/secret.tar",
    "empty-part": lambda secret: "a//b.tar",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_local_manifest_cannot_name_shards_outside_its_folder(
    local_set: Path, outside: Path, kind: str
) -> None:
    _point_manifest_at(local_set, [HOSTILE[kind](outside)])
    with pytest.raises(
        UnsafeURLError, match=r"shard entry 0 .* a manifest may only name shards"
    ) as err:
        Loader(local_set, batch_size=2, world=ONE)
    assert SECRET.decode()[:20] not in str(err.value)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_remote_manifest_cannot_reach_local_files_or_other_hosts(
    local_set: Path, outside: Path, kind: str
) -> None:
    _point_manifest_at(local_set, [HOSTILE[kind](outside)])
    with FaultyServer(local_set.parent) as server:
        with pytest.raises(UnsafeURLError, match=r"shard entry 0") as err:
            Loader(f"{server.url}/set", batch_size=2, world=ONE)
        requested = [path for _, path, _ in server.requests]
    assert SECRET.decode()[:20] not in str(err.value)
    assert requested == ["/set/manifest.json"]  # nothing else was fetched


def test_the_opt_in_lets_a_local_manifest_name_shards_elsewhere(tmp_path: Path) -> None:
    root = make_shards(tmp_path / "set", [4, 4])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(root / "train-000001.tar", elsewhere / "train-000001.tar")
    _point_manifest_at(root, ["train-000000.tar", str(elsewhere / "train-000001.tar")])
    with pytest.raises(UnsafeURLError):
        Loader(root, batch_size=4, world=ONE)
    keys = [
        k
        for b in Loader(root, batch_size=4, world=ONE, allow_external_shards=True)
        for k in b["__key__"]
    ]
    assert sorted(keys) == all_keys(root)


def test_shard_urls_stay_under_the_manifest() -> None:
    assert (
        shard_url("/data/set/manifest.json", "train-000000.tar", 0) == "/data/set/train-000000.tar"
    )
    assert shard_url("/data/set/manifest.json", "sub/train-0.tar", 0) == "/data/set/sub/train-0.tar"
    assert (
        shard_url("https://host/a/set/manifest.json", "train-000000.tar", 0)
        == "https://host/a/set/train-000000.tar"
    )
    with pytest.raises(UnsafeURLError, match="climbs out"):
        shard_url("https://host/a/set/manifest.json", "../../b/x.tar", 3)


def test_a_file_that_is_not_a_manifest_is_not_echoed(tmp_path: Path) -> None:
    fake = tmp_path / "set" / "manifest.json"
    fake.parent.mkdir()
    fake.write_bytes(b'{"users": ["' + SECRET.strip() + b'"], "format": 3}')
    with pytest.raises(ManifestError, match=r"is not a manifest") as err:
        Loader(fake.parent, batch_size=1, world=ONE)
    assert "secret" not in str(err.value)
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET)
    with pytest.raises(ManifestError, match=r"not UTF-8") as err:
        Loader(fake, batch_size=1, world=ONE)
    assert "secret" not in str(err.value) and "0x89" not in str(err.value)


def test_brace_patterns_expand_lazily_and_refuse_huge_ones(local_set: Path) -> None:
    names = expand_braces("train-{000000..000001}-{a,b}.tar")
    assert next(names) == "train-000000-a.tar"  # a generator: nothing expanded up front
    assert list(names) == ["train-000000-b.tar", "train-000001-a.tar", "train-000001-b.tar"]
    t0 = time.process_time()
    with pytest.raises(SourceError, match=r"names 1,000,000,000,000 shards, more than the limit"):
        next(expand_braces("x-{000000..999999}-{000000..999999}.tar"))
    assert time.process_time() - t0 < 1.0  # counted, not expanded
    assert MAX_PATTERN_NAMES == 100_000
    keys = [
        k
        for b in Loader(str(local_set / "train-{000000..000001}.tar"), batch_size=5, world=ONE)
        for k in b["__key__"]
    ]
    assert sorted(keys) == all_keys(local_set)


def test_globs_work_locally_and_on_fsspec_file_systems(local_set: Path) -> None:
    keys = [
        k
        for b in Loader(str(local_set / "train-*.tar"), batch_size=5, world=ONE)
        for k in b["__key__"]
    ]
    assert sorted(keys) == all_keys(local_set)
    import fsspec

    mem = fsspec.filesystem("memory")
    for p in local_set.glob("*.tar"):
        mem.pipe(f"/globset/{p.name}", p.read_bytes())
    keys = [
        k
        for b in Loader("memory://globset/train-*.tar", batch_size=5, world=ONE)
        for k in b["__key__"]
    ]
    assert sorted(keys) == all_keys(local_set)
    with pytest.raises(SourceError, match=r"matches no file"):
        Loader(str(local_set / "nothing-*.tar"), batch_size=5, world=ONE)


@pytest.fixture()
def served(local_set: Path) -> Iterator[FaultyServer]:
    with FaultyServer(local_set.parent) as s:
        yield s


def test_a_damaged_cached_shard_is_deleted_and_fetched_again(
    served: FaultyServer, local_set: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    opts = {"batch_size": 5, "world": ONE, "cache_dir": cache}
    assert sorted(k for b in Loader(f"{served.url}/set", **opts) for k in b["__key__"]) == all_keys(
        local_set
    )
    (copy, *_rest) = sorted(cache.glob("*.shard"))
    damaged = bytearray(copy.read_bytes())
    damaged[700] ^= 0xFF
    copy.write_bytes(bytes(damaged))
    fetched = len(served.requests)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        keys = [k for b in Loader(f"{served.url}/set", **opts) for k in b["__key__"]]
    assert sorted(keys) == all_keys(local_set)
    (w,) = [x for x in rec if issubclass(x.category, CacheRepairedWarning)]
    assert str(copy) in str(w.message) and f"{served.url}/set/train-" in str(w.message)
    assert any(p.endswith(".tar") for _, p, _ in served.requests[fetched:])  # fetched again
    assert copy.read_bytes() != bytes(damaged)


def test_a_shard_that_changed_on_the_server_names_url_and_cache_file(
    served: FaultyServer, local_set: Path, tmp_path: Path
) -> None:
    shard = local_set / "train-000000.tar"
    data = bytearray(shard.read_bytes())
    data[900] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ChecksumError) as err:
        list(Loader(f"{served.url}/set", batch_size=5, world=ONE, cache_dir=tmp_path / "c"))
    assert f"{served.url}/set/train-000000.tar" in str(err.value) and "cache file" in str(err.value)


def test_two_conversions_of_one_split_cannot_run_at_once(tmp_path: Path) -> None:
    from .convert_fakes import make_imagefolder

    src = tmp_path / "src"
    make_imagefolder(src)
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from visiondata.loaders.convert.lock import locked\n"
        "with locked(Path(sys.argv[1]), 'train', \"split 'train'\"):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(30)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        from visiondata.loaders.convert import convert

        with pytest.raises(
            OutputLockedError, match=rf"split 'train' is being written by process {holder.pid} on "
        ):
            convert("imagefolder", src, out, samples_per_shard=4, progress=False)
        # another split of the same folder is not blocked
        convert("imagefolder", src, out, split="extra", samples_per_shard=4, progress=False)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    result = convert("imagefolder", src, out, samples_per_shard=4, progress=False)
    assert result.split == "train"
    assert not list(out.glob(".*.lock"))  # released locks leave nothing behind
    assert os.path.exists(out / "manifest.json")
