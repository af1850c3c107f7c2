"""Every sample exactly once per epoch, for 0-3 workers x 1-3 ranks, checked against the
manifest's keys (not against another loader run), with the batch count per rank given by a
formula written here, not by the partition code under test."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from visiondata.loaders import Loader, World

from .loader_fakes import make_shards

SIZES = [7, 11, 13, 5]  # uneven shards; 36 samples divide by 1, 2 and 3 ranks
BATCH = 4


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(tmp_path_factory.mktemp("complete") / "set", SIZES)


def manifest_keys(root: Path) -> list[str]:
    manifest = json.loads((root / "manifest.json").read_text())
    return [k for s in manifest["splits"]["train"]["shards"] for k in s["keys"]]


# 3 workers on a 2-core machine: torch warns, rightly; the point here is correctness
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
@pytest.mark.parametrize("ranks", [1, 2, 3])
@pytest.mark.parametrize("workers", [0, 1, 2, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_each_sample_exactly_once_per_epoch(
    root: Path, ranks: int, workers: int, shuffle: bool
) -> None:
    total = sum(SIZES)
    per_rank = total // ranks  # the test's own arithmetic
    expected_batches = math.ceil(per_rank / BATCH)
    for epoch in (0, 1):
        seen: Counter[str] = Counter()
        for rank in range(ranks):
            loader = Loader(
                root,
                batch_size=BATCH,
                world=World(rank, ranks),
                num_workers=workers,
                shuffle=shuffle,
                seed=11,
            )
            loader.set_epoch(epoch)
            batches = list(loader)
            assert len(batches) == expected_batches == len(loader)
            keys = [k for b in batches for k in b["__key__"]]
            assert len(keys) == per_rank
            seen.update(keys)
        assert sorted(seen) == sorted(manifest_keys(root))
        assert set(seen.values()) == {1}


@pytest.mark.parametrize("ranks", [2, 3, 5])
def test_uneven_totals_drop_or_wrap_as_documented(tmp_path: Path, ranks: int) -> None:
    root = make_shards(tmp_path / "odd", [6, 9, 4])  # 19 samples
    total = 19
    for remainder, per in (("drop", total // ranks), ("wrap", -(-total // ranks))):
        seen: Counter[str] = Counter()
        for rank in range(ranks):
            loader = Loader(
                root, batch_size=3, world=World(rank, ranks), remainder=remainder, seed=5
            )
            keys = [k for b in loader for k in b["__key__"]]
            assert len(keys) == per
            seen.update(keys)
        if remainder == "drop":
            assert sum(seen.values()) == total - total % ranks and set(seen.values()) == {1}
        else:
            assert set(seen) == set(manifest_keys(root))  # all seen, a few twice
            assert sum(seen.values()) == per * ranks and max(seen.values()) == 2
