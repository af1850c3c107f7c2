"""``visiondata bench``: loader throughput against plain webdataset, in one run."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from visiondata.registry.errors import UsageError

__all__ = ["register"]


def register(groups: Any) -> None:
    p = groups.add_parser(
        "bench",
        help="measure loader throughput, first-batch time, peak memory (optionally against webdataset)",
        description="Benchmark the visiondata pipeline on a shard set written by `visiondata convert`.",
    )
    p.add_argument("source", help="directory holding manifest.json")
    p.add_argument("--split", default="train")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--batches", type=int, default=50, help="batches to time after the first")
    p.add_argument("--compare", choices=["webdataset"], help="also run the plain alternative")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .._bench import render, run_bench

    if not (Path(args.source) / "manifest.json").exists():
        raise UsageError(
            f"{args.source} holds no manifest.json (write one with `visiondata convert`)"
        )
    for name in ("batch_size", "workers", "crop", "batches"):
        if getattr(args, name) < (0 if name == "workers" else 1):
            raise UsageError(
                f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}"
            )
    results = run_bench(
        args.source,
        split=args.split,
        batch_size=args.batch_size,
        workers=args.workers,
        crop=args.crop,
        device=args.device,
        batches=args.batches + 1,
        compare=args.compare,
        seed=args.seed,
    )
    if args.format == "json":
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(render(results))
    return 0
