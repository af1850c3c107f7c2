"""``visiondata bench``: loader throughput against plain webdataset, in one run."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from visiondata.registry.cli.args import SHARD_SOURCE, Kind, add_command, add_format, count
from visiondata.registry.cli.output import print_json
from visiondata.registry.errors import UsageError
from visiondata.registry.extras import require

__all__ = ["register"]

SPLIT = Kind("split", "a split of the shard set (see `visiondata shards info`)", example="train")
#: ``bench --format json``: one object per pipeline measured.
BENCH_SHAPE = (
    "[{pipeline, batches, samples, samples_per_s, first_batch_s, peak_rss_mb, peak_pss_mb, "
    "wait_fraction, device}], one per pipeline"
)


def register(groups: Any) -> None:
    p = add_command(
        groups,
        "bench",
        "measure loader throughput, first-batch time, peak memory (optionally against webdataset)",
        cmd_bench,
        description="Benchmark the visiondata pipeline on a shard set written by `visiondata convert`.",
    )
    p.add_argument("source", type=SHARD_SOURCE, help="directory (or URL) holding manifest.json")
    p.add_argument("--split", type=SPLIT, default="train", help="split to read (default train)")
    p.add_argument("--batch-size", type=count(1), default=64)
    p.add_argument("--workers", type=count(0), default=2)
    p.add_argument("--crop", type=count(1), default=224)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--batches", type=count(1), default=50, help="batches to time after the first")
    p.add_argument("--compare", choices=["webdataset"], help="also run the plain alternative")
    p.add_argument("--seed", type=count(0), default=0)
    add_format(p, shape=BENCH_SHAPE)


def cmd_bench(args: argparse.Namespace) -> int:
    require("bench", "torch", "numpy", "PIL", "psutil")
    if args.compare == "webdataset":
        require("bench --compare webdataset", "webdataset")
    from .._bench import render, run_bench
    from ..shards.manifest import read_manifest

    local = "://" not in args.source or args.source.startswith("file://")
    splits = list(read_manifest(Path(args.source.removeprefix("file://"))).splits) if local else []
    if local and args.split not in splits:
        raise UsageError(
            f"--split {args.split}: no such split in {args.source} (expected one of: "
            f"{', '.join(splits)})"
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
        print_json([asdict(r) for r in results])
    else:
        print(render(results))
    return 0
