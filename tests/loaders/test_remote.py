"""Streaming over HTTP (real nginx, through a proxy that cuts connections) and S3 (moto)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders import Loader, World

from .loader_fakes import all_keys, make_shards
from .servers import NGINX, FaultProxy, free_port, nginx

pytestmark = pytest.mark.slow
ONE = World(0, 1)


def padded(i: int, key: str) -> dict[str, bytes]:
    # ~3 KB per sample, content derived from the key, so corruption would show
    return {"txt": key.encode(), "bin": (key.encode() * 400)[: 2500 + i % 700], "cls": b"1"}


@pytest.fixture(scope="module")
def shard_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("www")
    make_shards(root / "set", [150, 97, 203], members=padded)
    return root


@pytest.fixture(scope="module")
def http_url(shard_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.path.exists(NGINX):
        pytest.fail(f"nginx is not installed ({NGINX}); apt-get install nginx-light")
    with nginx(shard_root, tmp_path_factory.mktemp("nginx")) as url:
        yield url


@pytest.fixture()
def proxy(http_url: str) -> Iterator[FaultProxy]:
    p = FaultProxy(int(http_url.rsplit(":", 1)[1]), cut_every=90_000)
    yield p
    p.close()


def check_samples(batches: list[dict[str, Any]], expected: list[str]) -> None:
    keys = [k for b in batches for k in b["__key__"]]
    assert sorted(keys) == sorted(expected)  # nothing lost
    assert len(set(keys)) == len(keys)  # nothing repeated
    for b in batches:
        for k, txt, blob in zip(b["__key__"], b["txt"], b["bin"], strict=True):
            assert txt == k and blob.startswith(k.encode() * 10)


def test_nginx_honours_ranges(http_url: str) -> None:
    import fsspec

    fs = fsspec.filesystem("http")
    url = f"{http_url}/set/train-000000.tar"
    assert fs.cat_file(url, start=512, end=520) == fs.cat_file(url)[512:520]
    assert fs.size(url) == len(fs.cat_file(url))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_http_through_connection_cuts(
    proxy: FaultProxy, shard_root: Path, num_workers: int
) -> None:
    loader = Loader(
        f"{proxy.url}/set/",
        batch_size=16,
        world=ONE,
        num_workers=num_workers,
        chunk_bytes=64 * 1024,
        backoff=0.01,
        buffer_size=50,
    )
    batches = list(loader)
    check_samples(batches, all_keys(shard_root / "set"))
    assert proxy.cuts >= 5, proxy.cuts  # the connection was cut mid-shard several times
    # every shard was read whole, so its sha256 was checked against the manifest: the bytes
    # after each resume were exactly the ones that were cut off
    if num_workers == 0:
        assert loader.stats.retries >= proxy.cuts - 2


def test_http_sample_ranges_per_rank(proxy: FaultProxy, shard_root: Path) -> None:
    seen: list[str] = []
    for rank in range(3):
        loader = Loader(
            f"{proxy.url}/set/manifest.json",
            batch_size=10,
            world=World(rank, 3),
            chunk_bytes=32 * 1024,
            backoff=0.01,
        )
        batches = list(loader)
        assert len(batches) == len(loader) == 15
        seen += [k for b in batches for k in b["__key__"]]
    assert sorted(seen) == sorted(all_keys(shard_root / "set"))


def test_http_cache_is_bounded_and_reused(http_url: str, shard_root: Path, tmp_path: Path) -> None:
    sizes = sorted(p.stat().st_size for p in (shard_root / "set").glob("*.tar"))
    limit = sizes[-1] + sizes[-2]  # room for two of the three shards
    proxy = FaultProxy(int(http_url.rsplit(":", 1)[1]), cut_every=10**12)
    try:
        opts: dict[str, Any] = dict(
            batch_size=32, world=ONE, cache_dir=tmp_path / "cache", cache_bytes=limit
        )
        check_samples(list(Loader(f"{proxy.url}/set", **opts)), all_keys(shard_root / "set"))
        cached = list((tmp_path / "cache").glob("*.shard"))
        assert 1 <= len(cached) <= 2
        assert sum(p.stat().st_size for p in cached) <= limit
        manifest = json.loads((shard_root / "set" / "manifest.json").read_text())
        digests = {s["sha256"] for s in manifest["splits"]["train"]["shards"]}
        assert {p.stem for p in cached} <= digests  # stored under their verified sha256
        # with room for every shard, a second run fetches nothing but the manifest
        opts["cache_bytes"] = None
        list(Loader(f"{proxy.url}/set", **opts))
        before = proxy.sent
        check_samples(list(Loader(f"{proxy.url}/set", **opts)), all_keys(shard_root / "set"))
        assert proxy.sent - before < 50_000
    finally:
        proxy.close()


@pytest.fixture(scope="module")
def s3(shard_root: Path) -> Iterator[dict[str, Any]]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    opts = {
        "key": "testing",
        "secret": "testing",
        "endpoint_url": f"http://127.0.0.1:{port}",
    }
    try:
        import s3fs

        fs = s3fs.S3FileSystem(**opts)
        fs.mkdir("shards")
        for p in sorted((shard_root / "set").iterdir()):
            fs.put_file(str(p), f"shards/set/{p.name}")
        yield opts
    finally:
        server.stop()


def test_s3_via_moto(s3: dict[str, Any], shard_root: Path) -> None:
    batches = list(
        Loader("s3://shards/set", batch_size=25, world=ONE, storage_options=s3, num_workers=0)
    )
    check_samples(batches, all_keys(shard_root / "set"))
    shards = Loader(
        "s3://shards/set/train-{000000..000001}.tar", batch_size=50, world=ONE, storage_options=s3
    )
    assert sum(len(b["__key__"]) for b in shards) == 150 + 97


@pytest.mark.timeout(60)
def test_retries_give_up_with_a_clear_error() -> None:
    from visiondata.loaders.shards.manifest import ManifestError

    url = f"http://127.0.0.1:{free_port()}/nothing-listens-here"
    with pytest.raises(ManifestError, match=r"still failing after 2 retries"):
        Loader(url, batch_size=1, world=ONE, retries=2, backoff=0.01)


def test_transient_errors_are_told_apart() -> None:
    from visiondata.loaders.shards.remote import is_transient

    assert is_transient(ConnectionResetError())
    assert is_transient(TimeoutError())
    assert not is_transient(FileNotFoundError("gone"))
    assert not is_transient(PermissionError())
    assert not is_transient(ValueError())


def test_http_hashing_once_per_cache_fill(
    http_url: str, shard_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a cache, each shard is hashed as it is fetched and never again while the cached copy
    is unchanged (not by the reader either); without one, every epoch's read is hashed."""
    from visiondata.loaders.shards import reader, remote

    monkeypatch.setattr(remote, "_VERIFIED", {})
    streamed: list[str] = []
    whole_file: list[str] = []

    class Counting(reader.HashingReader):
        def __init__(self, raw: Any) -> None:
            super().__init__(raw)
            streamed.append(type(raw).__name__)

    real_file_sha = remote._file_sha256
    monkeypatch.setattr(reader, "HashingReader", Counting)
    monkeypatch.setattr(
        remote, "_file_sha256", lambda p: whole_file.append(p.name) or real_file_sha(p)
    )
    expected = all_keys(shard_root / "set")
    cached = Loader(f"{http_url}/set", batch_size=32, world=ONE, cache_dir=tmp_path / "c")
    for _ in range(2):
        check_samples(list(cached), expected)
    assert streamed == [] and whole_file == []  # the fill hashed as it fetched; no re-hash
    # the cache checks a copy this process has not checked yet (another process filled it)
    monkeypatch.setattr(remote, "_VERIFIED", {})
    check_samples(list(cached), expected)
    assert len(whole_file) == 3 and streamed == []
    plain = Loader(f"{http_url}/set", batch_size=32, world=ONE)
    for _ in range(2):
        check_samples(list(plain), expected)
    assert streamed == ["RangeStream"] * 6


def test_http_a_cut_shard_is_not_downloaded_twice(
    http_url: str, shard_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Remote, without a cache: the rank reading a cut shard's first part does not read its
    rest to hash it (that would download what the other rank reads anyway); only the
    shards it reads whole are hashed, and what it fetches is about its half of the bytes."""
    from visiondata.loaders.shards import reader

    streamed: list[str] = []

    class Counting(reader.HashingReader):
        def __init__(self, raw: Any) -> None:
            super().__init__(raw)
            streamed.append(type(raw).__name__)

    monkeypatch.setattr(reader, "HashingReader", Counting)
    # unshuffled, 450 samples over 2 ranks: rank 0 reads shard 0 (150) whole and the first
    # 75 of shard 1's 97
    loader = Loader(f"{http_url}/set", batch_size=15, world=World(0, 2), shuffle=False)
    keys = [k for b in loader for k in b["__key__"]]
    assert keys == all_keys(shard_root / "set")[:225]
    assert len(streamed) == 1  # shard 0, whole; not the cut shard 1
    total = sum(p.stat().st_size for p in (shard_root / "set").glob("*.tar"))
    assert loader.stats.bytes_read < 0.6 * total
