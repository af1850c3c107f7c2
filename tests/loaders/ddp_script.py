"""Run by ``torchrun`` from test_ddp.py: each rank trains a tiny DDP model on its batches."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from visiondata.loaders import Loader


def main(root: str, out: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(nn.Linear(1, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = Loader(root, batch_size=4, seed=3, num_workers=1, buffer_size=8)  # world detected
    report: dict[str, object] = {"rank": loader.world.rank, "world_size": loader.world.world_size}
    for epoch in range(2):
        loader.set_epoch(epoch)
        keys: list[str] = []
        steps = 0
        for batch in loader:
            x = batch["cls"].float().unsqueeze(1)
            loss = (model(x) - x).pow(2).mean()
            opt.zero_grad()
            loss.backward()  # all-reduce: a rank with fewer batches would hang here
            opt.step()
            keys += batch["__key__"]
            steps += 1
        report[f"epoch{epoch}"] = {"keys": keys, "steps": steps, "len": len(loader)}
    weight = [p.detach().clone() for p in model.parameters()]
    gathered: list[list[torch.Tensor]] = [[] for _ in range(dist.get_world_size())]
    dist.all_gather_object(gathered, weight)
    report["same_weights"] = all(
        all(torch.equal(a, b) for a, b in zip(g, weight, strict=True)) for g in gathered
    )
    Path(out, f"rank{rank}.json").write_text(json.dumps(report))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
