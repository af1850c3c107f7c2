"""Stacking a batch as its samples come against from the list at the end, side by side in one run.

    python benchmarks/bench_stack.py [--shards DIR] [--count 512] [--batch 64] [--rounds 9]

What a worker does for one batch, in this process: decode + RandomResizedCrop(224) each of
``--batch`` real JPEGs (bench_peers' ImageNet-like set, made when ``--shards`` is not given),
and stack the uint8 CHW images into a ring slot whose pages are already touched. Two ways,
alternating each round, on the same images and crops:

- ``at the end``: keep the decoded images in a list and stack them into the slot after the
  last one (how the loader collated before :class:`~visiondata.loaders._decode.collate.Stacker`)
- ``as they come``: copy each image into its row right after it is decoded, and drop it
  (:class:`~visiondata.loaders._decode.collate.Stacker`, what the loader does now)

Reported: ms per batch (decode included: the point is what the copy costs among the work that
evicts its source from cache) and the stacking's own time and share. The memory side (a list
of decoded images held beside the slot) is bench_peers' peak PSS. torch's intra-op threads are
1, as in a worker.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))


def _images(shards: Path, count: int) -> list[bytes]:
    from visiondata.loaders import Loader

    src = Loader(shards, batch_size=256, shuffle=False, fields=["jpg"], decode={"jpg": "bytes"})
    out: list[bytes] = []
    for batch in src:
        out.extend(batch["jpg"])
        if len(out) >= count:
            break
    return out[:count]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=Path, help="bench_peers' shards (made when not given)")
    ap.add_argument("--count", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()

    import torch
    from visiondata.loaders import RandomResizedCrop
    from visiondata.loaders._decode.collate import Stacker, collate
    from visiondata.loaders._stream.ring import RingTable, WorkerRing

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.shards is None:
            from bench_peers import make_shards

            args.shards = make_shards(Path(tmp), args.count)
        images = _images(args.shards, args.count)
    n = args.batch
    batches = [images[k : k + n] for k in range(0, len(images) - n + 1, n)]
    crop = RandomResizedCrop((224, 224))
    table = RingTable(workers=1, slots=1)
    ring = WorkerRing(table, 0)

    def decode(k: int, data: bytes) -> dict[str, Any]:
        return {"__key__": str(k), "jpg": crop(data, random.Random(k))}

    def at_the_end(batch: list[bytes]) -> float:
        samples = [decode(k, d) for k, d in enumerate(batch)]
        t = time.perf_counter()
        collate(samples, ring.allocator(0))
        return time.perf_counter() - t

    def as_they_come(batch: list[bytes]) -> float:
        stacker = Stacker(len(batch), ring.allocator(0))
        spent = 0.0
        for k, d in enumerate(batch):
            sample = decode(k, d)
            t = time.perf_counter()
            stacker.add(sample)
            spent += time.perf_counter() - t
        stacker.finish()
        return spent

    ways = {"at the end": at_the_end, "as they come": as_they_come}
    for way in ways.values():  # warm: the slot's pages touched, the decoder loaded
        way(batches[0])
    total: dict[str, list[float]] = {w: [] for w in ways}
    stack: dict[str, list[float]] = {w: [] for w in ways}
    for r in range(args.rounds):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))
        for w in order:
            t0, spent = time.perf_counter(), 0.0
            for batch in batches:
                spent += ways[w](batch)
            total[w].append((time.perf_counter() - t0) / len(batches) * 1e3)
            stack[w].append(spent / len(batches) * 1e3)
    med = statistics.median
    print(f"{len(batches)} batches of {n} real JPEGs, {args.rounds} rounds, alternating")
    for w in ways:
        t, s = total[w], stack[w]
        print(
            f"{w:>14}: {med(t):7.2f} ms per batch ({min(t):.2f}-{max(t):.2f}), stacking "
            f"{med(s):5.2f} ms ({min(s):.2f}-{max(s):.2f}), {med(s) / med(t):.1%} of it"
        )
    end, come = med(stack["at the end"]), med(stack["as they come"])
    print(f"ratio stacking at the end / as they come: {end / come:.2f}x")
    print(
        f"ratio per batch at the end / as they come: {med(total['at the end']) / med(total['as they come']):.3f}x"
    )
    table.close()


if __name__ == "__main__":
    main()
