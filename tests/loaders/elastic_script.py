"""Run by ``torchrun`` from test_ddp.py: one phase of an elastic run.

``first``: train ``steps`` DDP steps of epoch 0, take the loader's state on every rank (they
must be identical), write it once, and stop as a preempted job would. ``resume``: a job with
another world (ranks x workers) loads that state and trains the rest of the epoch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from visiondata.loaders import Loader


def main(phase: str, root: str, out: str, workers: int, steps: int) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(nn.Linear(1, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = Loader(root, batch_size=3, seed=3, num_workers=workers, buffer_size=8)
    if phase == "resume":
        loader.load_state_dict(json.loads(Path(out, "state.json").read_text()))
    report: dict[str, object] = {"rank": rank, "world_size": world, "len": len(loader)}
    keys: list[str] = []
    done = 0
    for batch in loader:
        x = batch.get("cls", torch.zeros(0, dtype=torch.int64)).float().unsqueeze(1)
        loss = (model(x) - x).pow(2).sum() / max(1, len(x))
        opt.zero_grad()
        loss.backward()  # all-reduce: a rank with fewer batches would hang here
        opt.step()
        keys += batch["__key__"]
        done += 1
        if phase == "first" and done == steps:
            state = loader.state_dict()
            states: list[object] = [None] * world
            dist.all_gather_object(states, state)
            report["same_state"] = all(s == state for s in states)
            if rank == 0:
                Path(out, "state.json").write_text(json.dumps(state))
            break
    report["keys"], report["steps"] = keys, done
    weight = [p.detach().clone() for p in model.parameters()]
    gathered: list[list[torch.Tensor]] = [[] for _ in range(world)]
    dist.all_gather_object(gathered, weight)
    report["same_weights"] = all(
        all(torch.equal(a, b) for a, b in zip(g, weight, strict=True)) for g in gathered
    )
    Path(out, f"{phase}-rank{rank}.json").write_text(json.dumps(report))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
