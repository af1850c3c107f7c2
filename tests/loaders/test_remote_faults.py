"""Remote reads against a loopback server that stalls, drops, cuts short, fails and ignores
ranges: every fault that ends is survived with each sample delivered exactly once; a fault
that never ends becomes a TransientError naming the URL within the documented bound."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders import Loader, SourceError, TransientError, World

from .faulty_http import Fault, FaultyServer
from .loader_fakes import all_keys, make_shards

pytestmark = pytest.mark.slow
ONE = World(0, 1)
FAST = {"connect_timeout": 1.0, "read_timeout": 0.5, "backoff": 0.01, "chunk_bytes": 32 * 1024}


def padded(i: int, key: str) -> dict[str, bytes]:
    return {"txt": key.encode(), "bin": (key.encode() * 400)[: 2500 + i % 700], "cls": b"1"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("www")
    make_shards(root / "set", [60, 41], members=padded)
    return root


@pytest.fixture()
def server(root: Path) -> Iterator[FaultyServer]:
    with FaultyServer(root) as s:
        yield s


def keys_of(loader: Loader) -> list[str]:
    return [k for b in loader for k in b["__key__"]]


RECOVERABLE = [
    Fault("stall", 1, "GET", ".tar"),
    Fault("silent", 1, "GET", ".tar"),
    Fault("drop", 2, "GET", ".tar", after=5000),
    Fault("short", 2, "GET", ".tar", after=5000),  # less than the smallest retry asks for
    Fault("status", 3, "GET", ".tar", status=503),
    Fault("status", 2, "GET", ".tar", status=500),
    Fault("status", 2, "HEAD", ".tar", status=503),
    Fault("stall", 1, "GET", "manifest.json"),
    Fault("status", 2, "GET", "manifest.json", status=502),
]


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize(
    "fault", RECOVERABLE, ids=lambda f: f"{f.kind}-{f.method}-{f.suffix}-{f.count}"
)
def test_faults_that_end_lose_and_repeat_nothing(
    server: FaultyServer, root: Path, fault: Fault, num_workers: int
) -> None:
    server.faults = [
        Fault(fault.kind, fault.count, fault.method, fault.suffix, fault.status, fault.after)
    ]
    loader = Loader(f"{server.url}/set", batch_size=16, world=ONE, num_workers=num_workers, **FAST)
    keys = keys_of(loader)
    assert sorted(keys) == sorted(all_keys(root / "set"))  # nothing lost
    assert len(set(keys)) == len(keys)  # nothing repeated
    assert server.hits(fault.kind) == fault.count  # the fault really happened, every time
    if num_workers == 0 and fault.suffix == ".tar" and fault.method == "GET":
        assert loader.stats.retries >= fault.count  # (a failed HEAD falls back to GET in fsspec)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["stall", "silent", "status"])
def test_a_fault_that_never_ends_is_one_named_error_within_the_bound(
    server: FaultyServer, root: Path, kind: str
) -> None:
    server.faults = [Fault(kind, -1, "GET", "train-000001.tar")]
    opts: dict[str, Any] = {**FAST, "retries": 3, "retry_timeout": 3.0}
    loader = Loader(f"{server.url}/set", batch_size=16, world=ONE, shuffle=False, **opts)
    got: list[str] = []
    with pytest.raises(
        TransientError, match=r"train-000001\.tar bytes \d+-\d+: still failing"
    ) as err:
        for b in loader:
            got += b["__key__"]
    # the bound, from the loader's own accounting rather than this machine's clock (a loaded
    # CI machine stretches wall time, not the rule): it gave up on the retry count, or with
    # the time spent plus the next back-off past retry_timeout, so it never slept beyond it
    why = re.search(
        r"still failing after (?:(\d+) retries|([\d.]+) s and \d+ retries \(retry_timeout=3 s\))",
        str(err.value),
    )
    assert why is not None, str(err.value)
    assert int(why[1]) == opts["retries"] if why[1] else float(why[2]) <= opts["retry_timeout"]
    assert got == all_keys(root / "set")[:48]  # the batches wholly from shard 0 came through
    assert "\n" not in str(err.value)


@pytest.mark.timeout(60)
def test_the_retry_count_bounds_a_fast_failing_server(server: FaultyServer) -> None:
    server.faults = [Fault("status", -1, "GET", ".tar", status=503)]
    with pytest.raises(TransientError, match=r"still failing after 2 retries"):
        keys_of(Loader(f"{server.url}/set", batch_size=16, world=ONE, retries=2, **FAST))
    assert server.hits("status") == 3  # one try and two retries, for the first shard read


def test_a_server_that_ignores_ranges_is_refused_by_name(server: FaultyServer) -> None:
    server.faults = [Fault("ignore_range", -1, "GET", ".tar")]
    with pytest.raises(SourceError, match=r"ignores Range requests"):
        keys_of(Loader(f"{server.url}/set", batch_size=16, world=ONE, **FAST))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_link_that_always_drops_after_some_bytes_still_delivers_everything(
    server: FaultyServer, root: Path, num_workers: int
) -> None:
    # every response longer than 20,000 bytes is cut there, forever: a 64 KiB request never
    # arrives whole, however often it is retried; the retries ask for less each time and get it
    server.faults = [Fault("drop", -1, "GET", ".tar", after=20_000)]
    opts: dict[str, Any] = {**FAST, "chunk_bytes": 64 * 1024, "retries": 3}
    loader = Loader(f"{server.url}/set", batch_size=16, world=ONE, num_workers=num_workers, **opts)
    keys = keys_of(loader)
    assert sorted(keys) == sorted(all_keys(root / "set")) and len(set(keys)) == len(keys)
    ranges = [r for m, p, r in server.requests if m == "GET" and p.endswith(".tar") and r]
    sizes = {int(b) - int(a) + 1 for a, b in (r.removeprefix("bytes=").split("-") for r in ranges)}
    assert 64 * 1024 in sizes and 16 * 1024 in sizes  # it asked whole, then for less
    if num_workers == 0:
        assert loader.stats.retries >= 2
