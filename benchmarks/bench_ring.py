"""Why the ring of reused shared-memory batch buffers exists: stacking a batch into a slot whose
pages are already touched against into fresh shared memory, side by side in one run.

    python benchmarks/bench_ring.py [--batch 64] [--size 224] [--rounds 15]

Each round, alternating: stacks ``--batch`` uint8 images of 3 x size x size into a fresh
shared-memory storage (what a worker without the ring does for every batch), then into a ring
slot through the collate's allocator (what a worker does once the slot has been used).
torch's intra-op threads are 1, as in a worker. Prints the medians and ranges in ms and the
ratio fresh/reused (the issue measured 8.2 ms against 1.0 ms on these machines).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from visiondata.loaders._decode.collate import collate
from visiondata.loaders._stream.ring import RingTable, WorkerRing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    n, s = args.batch, args.size
    values = [torch.randint(0, 255, (3, s, s), dtype=torch.uint8) for _ in range(n)]
    samples = [{"x": v} for v in values]
    table = RingTable(workers=1, slots=1)
    ring = WorkerRing(table, 0)
    collate(samples, ring.allocator(0))  # the slot's first use touches its pages
    fresh, reused = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        storage = torch.UntypedStorage._new_shared(n * 3 * s * s)  # type: ignore[no-untyped-call]
        out = torch.empty(0, dtype=torch.uint8).set_(storage).view(n, 3, s, s)
        torch.stack(values, out=out)
        fresh.append(time.perf_counter() - t0)
        del out, storage
        t0 = time.perf_counter()
        collate(samples, ring.allocator(0))
        reused.append(time.perf_counter() - t0)
    table.close()
    for name, xs in (("fresh shared memory", fresh), ("reused ring slot", reused)):
        ms = [1000 * x for x in xs]
        print(f"{name:>20}: median {statistics.median(ms):6.2f} ms  ({min(ms):.2f}-{max(ms):.2f})")
    print(f"ratio fresh/reused: {statistics.median(fresh) / statistics.median(reused):.1f}x")


if __name__ == "__main__":
    main()
