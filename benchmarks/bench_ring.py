"""Why the ring of reused shared-memory batch buffers exists, side by side in one run:

- stacking a batch into a slot whose pages are already touched, against into fresh shared
  memory;
- handing it over: pickled as DataLoader's queues pickle it and unpickled, then copied out as a
  pinned-memory copy would read it, as torch sends a shared tensor (a file descriptor fetched
  from the sender, a fresh mapping, its pages faulted in again) against as a ring slot whose
  storage the receiver already holds (only where the tensors lie in it), and as a ring slot
  whose descriptor goes with every batch (how the ring handed batches over before).

    python benchmarks/bench_ring.py [--batch 64] [--size 224] [--rounds 15]

Each round, alternating: stacks ``--batch`` uint8 images of 3 x size x size into a fresh
shared-memory storage (what a worker without the ring does for every batch), then into a ring
slot through the collate's allocator (what a worker does once the slot has been used); then
hands each over within this process (both ends' work counted). torch's intra-op threads are 1,
as in a worker. Prints the medians and ranges in ms and the ratios (the issue measured 8.2 ms
against 1.0 ms for the stacking on these machines).
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import time
from multiprocessing.reduction import ForkingPickler
from typing import Any

import torch
import torch.multiprocessing
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
    dst = torch.empty(n, 3, s, s, dtype=torch.uint8)  # where a pinned copy would go

    def into_fresh() -> Any:
        storage = torch.UntypedStorage._new_shared(n * 3 * s * s)  # type: ignore[no-untyped-call]
        out = torch.empty(0, dtype=torch.uint8).set_(storage).view(n, 3, s, s)
        return torch.stack(values, out=out)

    def by_descriptor() -> None:
        got = pickle.loads(ForkingPickler.dumps({"x": into_fresh()}))
        dst.copy_(got["x"])

    def by_ring(resend: bool = False) -> None:
        if resend:  # the receiver is taken to hold nothing: the slot's descriptor every batch
            table.acked.zero_()
        slot = ring.acquire()
        assert slot == 0
        sent = ring.send(slot, collate(samples, ring.allocator(slot)))
        got = pickle.loads(ForkingPickler.dumps(sent))
        del sent
        dst.copy_(got["x"])
        del got  # frees the slot, as dropping the batch does
        assert table.busy() == 0

    by_ring()  # the slot's storage crosses once
    fresh, reused, sent_fd, sent_slot_fd, sent_ring = [], [], [], [], []
    for _ in range(args.rounds):
        for fn, times in (
            (by_descriptor, sent_fd),
            (lambda: by_ring(resend=True), sent_slot_fd),
            (by_ring, sent_ring),
        ):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        into_fresh()
        fresh.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        collate(samples, ring.allocator(0))
        reused.append(time.perf_counter() - t0)
    table.close()
    rows = (
        ("stack into fresh shared memory", fresh),
        ("stack into a reused ring slot", reused),
        ("stack + hand over + copy, torch's descriptor", sent_fd),
        ("stack + hand over + copy, slot's descriptor", sent_slot_fd),
        ("stack + hand over + copy, ring slot kept", sent_ring),
    )
    for name, xs in rows:
        ms = [1000 * x for x in xs]
        print(f"{name:>46}: median {statistics.median(ms):6.2f} ms  ({min(ms):.2f}-{max(ms):.2f})")
    med = statistics.median
    print(f"ratio fresh/reused (stacking): {med(fresh) / med(reused):.1f}x")
    print(f"ratio descriptor/kept (stack + hand over + copy): {med(sent_fd) / med(sent_ring):.1f}x")
    print(
        "ratio slot's descriptor/kept (stack + hand over + copy): "
        f"{med(sent_slot_fd) / med(sent_ring):.1f}x"
    )


if __name__ == "__main__":
    main()
