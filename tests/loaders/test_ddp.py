"""A real two-process torchrun (gloo, CPU) over deliberately uneven shards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .loader_fakes import all_keys, make_shards
from .servers import free_port

pytestmark = pytest.mark.slow


def test_torchrun_two_ranks_uneven_shards(tmp_path: Path) -> None:
    # 6 shards of 13, 1, 7, 0, 9, 2 samples (32 in all): a split by shards could not be even
    root = make_shards(tmp_path / "data", [13, 1, 7, 0, 9, 2])
    out = tmp_path / "out"
    out.mkdir()
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
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(Path(__file__).with_name("ddp_script.py")),
        str(root),
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
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
