"""``shards verify`` throughput against ``sha256sum`` of the same files, in one run.

    python benchmarks/bench_verify.py [--count 3000] [--rounds 3] [--workers 1 2]

Builds an ImageNet-like shard set (JPEGs made from the real photos that ship with
scikit-image / scikit-learn, converted by ``visiondata convert imagefolder``), warms the page
cache, then alternates, round after round: ``sha256sum`` over the shard files (the floor of
any verification: every byte hashed once) and ``verify()`` (every byte hashed, every header
and member checked, every image header probed) with each worker count. Reports MB/s, medians
and ranges, and the ratio to ``sha256sum``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from photos import make_imagefolder
from visiondata.loaders.convert import convert
from visiondata.loaders.shards.verify import verify


def _sha256sum(files: list[Path]) -> float:
    t0 = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, files)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _verify(out: Path, workers: int) -> float:
    t0 = time.perf_counter()
    report = verify(out, workers=workers)
    took = time.perf_counter() - t0
    assert report.ok, [str(f) for f in report.findings]
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "imagefolder", Path(tmp) / "shards"
        make_imagefolder(src, args.count)
        convert("imagefolder", src, out, split="train", shard_size="50MB", progress=False)
        files = sorted(out.glob("*.tar"))
        mb = sum(f.stat().st_size for f in files) / 1e6
        _sha256sum(files)  # warm the page cache: both sides read from memory
        times: dict[str, list[float]] = {"sha256sum": []}
        for w in args.workers:
            times[f"verify --workers {w}"] = []
        for _ in range(args.rounds):
            times["sha256sum"].append(_sha256sum(files))
            for w in args.workers:
                times[f"verify --workers {w}"].append(_verify(out, w))
    base = statistics.median(times["sha256sum"])
    print(
        f"{len(files)} shards, {mb:.1f} MB, {args.count} images, {args.rounds} rounds (alternating)"
    )
    print(f"{'what':<22} {'MB/s median':>12} {'range':>17} {'vs sha256sum':>13}")
    for name, ts in times.items():
        med = statistics.median(ts)
        lo, hi = mb / max(ts), mb / min(ts)
        print(f"{name:<22} {mb / med:>12.0f} {lo:>8.0f}-{hi:<8.0f} {base / med:>12.2f}x")


if __name__ == "__main__":
    main()
