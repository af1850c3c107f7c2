"""Real torchrun jobs (gloo, CPU) over deliberately uneven shards: two ranks in step, and
elastic resume from one world (ranks x workers) into another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from visiondata.loaders import Loader, World

from .loader_fakes import all_keys, make_shards
from .servers import free_port

pytestmark = pytest.mark.slow


def torchrun(ranks: int, script: str, *args: str) -> None:
    env = {
        **os.environ,
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "error::visiondata.loaders.errors.BadSampleWarning",
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        f"--nproc_per_node={ranks}",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(Path(__file__).with_name(script)),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_torchrun_two_ranks_uneven_shards(tmp_path: Path) -> None:
    # 6 shards of 13, 1, 7, 0, 9, 2 samples (32 in all): a split by shards could not be even
    root = make_shards(tmp_path / "data", [13, 1, 7, 0, 9, 2])
    out = tmp_path / "out"
    out.mkdir()
    torchrun(2, "ddp_script.py", str(root), str(out))
    reports = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["rank"] for r in reports] == [0, 1]
    assert all(r["world_size"] == 2 for r in reports)
    for epoch in ("epoch0", "epoch1"):
        steps = [r[epoch]["steps"] for r in reports]
        assert steps[0] == steps[1] == reports[0][epoch]["len"] == 4  # same batch count
        union = [k for r in reports for k in r[epoch]["keys"]]
        assert sorted(union) == all_keys(root)  # the whole set, each sample exactly once
    assert reports[0]["epoch0"]["keys"] != reports[0]["epoch1"]["keys"]
    assert all(r["same_weights"] for r in reports)  # DDP stayed in sync


@pytest.mark.parametrize(
    ("old", "new"),
    [((2, 1), (1, 1)), ((1, 1), (2, 1)), ((2, 2), (1, 1)), ((1, 1), (2, 2))],
    ids=["2->1", "1->2", "2x2->1x1", "1x1->2x2"],
)
def test_elastic_resume_on_another_world(
    tmp_path: Path, old: tuple[int, int], new: tuple[int, int]
) -> None:
    """Preempted after 2 steps on ``old`` (ranks, workers), resumed on ``new``: the rest of
    the epoch exactly once, the same number of batches on every new rank, DDP in step."""
    root = make_shards(tmp_path / "data", [13, 1, 7, 0, 9, 2, 5])  # 37 samples
    out = tmp_path / "out"
    out.mkdir()
    torchrun(old[0], "elastic_script.py", "first", str(root), str(out), str(old[1]), "2")
    torchrun(new[0], "elastic_script.py", "resume", str(root), str(out), str(new[1]), "0")
    first = [json.loads((out / f"first-rank{r}.json").read_text()) for r in range(old[0])]
    after = [json.loads((out / f"resume-rank{r}.json").read_text()) for r in range(new[0])]
    assert all(r["same_state"] and r["steps"] == 2 for r in first)  # one state for all ranks
    assert len({r["steps"] for r in after}) == 1 and after[0]["steps"] == after[0]["len"]
    assert all(r["same_weights"] for r in after)
    before = [k for r in first for k in r["keys"]]
    rest = [k for r in after for k in r["keys"]]
    # the old world's whole epoch, computed here: with remainder="drop" it leaves out 37 % N
    # samples, which ones depending on the epoch's shard order (not on the worker count)
    epoch = Counter(
        k
        for r in range(old[0])
        for b in Loader(root, batch_size=3, seed=3, buffer_size=8, world=World(r, old[0]))
        for k in b["__key__"]
    )
    seen = Counter(before + rest)
    duplicates = sum(c - 1 for c in seen.values())
    losses = sum((epoch - seen).values())
    print(
        f"elastic {old[0]}x{old[1]} -> {new[0]}x{new[1]}: {len(before)} before + {len(rest)} "
        f"after = {len(before) + len(rest)} of the epoch's {epoch.total()}; duplicates "
        f"{duplicates}; losses {losses}; {after[0]['steps']} batches on each of {new[0]} rank(s)"
    )
    assert duplicates == 0 and losses == 0 and seen == epoch
