"""The wait for the second epoch's first batch, with worker processes that persist across
epochs and without, in one run.

    python benchmarks/bench_epochs.py [--count 1500] [--rounds 5] [--workers 2] [--shards DIR]
        [--step S] [--between S]

Builds an ImageNet-like shard set (or uses ``--shards DIR``), then, round after round and
alternating the two settings: builds a Loader (batch 64, ``--workers`` worker processes,
RandomResizedCrop 224 straight from the JPEG bytes), takes a whole first epoch, and times
``next(iter(loader))`` of the second epoch: with ``persistent_workers=True`` the processes of
the first epoch make it; with ``persistent_workers=False`` new ones are started, as every
epoch did before visiondata 0.2 (run on such a version, the script times that as "restarted
each epoch"). ``--step`` sleeps that long after each batch of the first epoch (a training step
that leaves the workers time to spare, as a GPU-bound one does) and ``--between`` that long
before the second epoch (validation, a checkpoint). Prints medians and ranges in seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from photos import make_imagefolder
from visiondata.loaders import Loader, LoaderOptionError, RandomResizedCrop, World
from visiondata.loaders.convert import convert


def _loader(shards: Path, workers: int, persistent: bool | None) -> Loader:
    opts: dict[str, Any] = dict(
        batch_size=64,
        num_workers=workers,
        world=World(0, 1),
        fields=["jpg", "cls"],
        decode={"jpg": RandomResizedCrop((224, 224)), "cls": "cls"},
    )
    if persistent is not None:
        opts["persistent_workers"] = persistent
    return Loader(shards, **opts)


def _second_epoch_wait(
    shards: Path, workers: int, persistent: bool | None, step: float, between: float
) -> float:
    loader = _loader(shards, workers, persistent)
    for _ in loader:  # the first epoch, whole, each batch "trained" for ``step`` s
        time.sleep(step)  # a training step: the GIL is free, as while CUDA runs
    time.sleep(between)  # what the loop does between epochs (validation, a checkpoint)
    t0 = time.perf_counter()
    next(iter(loader))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shards", type=Path, help="a converted set to use instead of making one")
    ap.add_argument(
        "--step", type=float, default=0.0, help="seconds each batch is trained (slept) for"
    )
    ap.add_argument(
        "--between", type=float, default=0.0, help="seconds between the two epochs (slept)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shards = args.shards
        if shards is None:
            src, shards = Path(tmp) / "imagefolder", Path(tmp) / "shards"
            make_imagefolder(src, args.count)
            convert("imagefolder", src, shards, split="train", shard_size="50MB")
        try:
            _loader(shards, args.workers, True)
            settings: dict[str, bool | None] = {
                "persistent_workers=True": True,
                "persistent_workers=False": False,
            }
        except LoaderOptionError:  # a visiondata without the option: workers restart
            settings = {"restarted each epoch (no persistent_workers option)": None}
        times: dict[str, list[float]] = {name: [] for name in settings}
        for _ in range(args.rounds):
            for name, persistent in settings.items():
                times[name].append(
                    _second_epoch_wait(shards, args.workers, persistent, args.step, args.between)
                )
    print(
        f"second epoch's first batch, batch 64, {args.workers} workers, {args.rounds} rounds, "
        f"step {args.step:g} s, {args.between:g} s between epochs"
    )
    for name, ts in times.items():
        print(
            f"{name:<52} median {statistics.median(ts):.3f} s (range {min(ts):.3f}-{max(ts):.3f})"
        )


if __name__ == "__main__":
    main()
