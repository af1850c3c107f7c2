"""Throughput of ``visiondata audit`` relative to plain streaming of the same shards.

    python benchmarks/bench_audit.py [--count 2000] [--per-shard 250] [--repeat 3] [--workers 1 2]

Writes ``count`` ImageNet-like JPEGs (real photos from installed packages, randomly cropped,
scaled and colour-shifted; shorter side 300-500 px) into shards with the shared writer, then,
with a warm page cache, times (best of ``repeat``):

- *stream*: read every member of every sample, in the same tar stream mode the audit uses;
- *audit*: ``run_audit`` with each ``--workers`` value (header facts, reduced-size decode,
  content hash, pHash, annotations; duplicate search at the end included).

Prints samples/s of each and audit/stream as a ratio, and the audit's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from photos import make_imagefolder
from visiondata.loaders.audit.audit import AuditOptions, run_audit
from visiondata.loaders.audit.scan import iter_tar_samples
from visiondata.loaders.shards.manifest import (
    ConverterInfo,
    Manifest,
    SplitInfo,
    read_manifest,
    write_manifest,
)
from visiondata.loaders.shards.writer import ShardWriter


def make_shards(root: Path, count: int, per_shard: int) -> Path:
    folder = make_imagefolder(root / "images", count)
    files = sorted(folder.glob("*/*.jpg"))
    classes = sorted({f.parent.name for f in files})
    shards = []
    out = root / "shards"
    out.mkdir()
    for n, start in enumerate(range(0, len(files), per_shard)):
        with ShardWriter(out / f"train-{n:06d}.tar") as w:
            for f in files[start : start + per_shard]:
                w.write(
                    f"{f.parent.name}/{f.stem}",
                    {"jpg": f.read_bytes()},
                    label=classes.index(f.parent.name),
                )
            shards.append(w.close())
    manifest = Manifest(
        converter=ConverterInfo(name="bench", version="0"),
        fields={"jpg": "image"},
        classes=classes,
        splits={"train": SplitInfo(num_samples=len(files), shards=shards)},
    )
    write_manifest(manifest, out)
    return out


def stream(root: Path) -> int:
    n = 0
    for shard in read_manifest(root).splits["train"].shards:
        with open(root / shard.name, "rb") as f:
            for _key, members in iter_tar_samples(f):
                n += 1 if all(isinstance(v, bytes) for v in members.values()) else 0
    return n


def best(fn: object, repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times), n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--per-shard", type=int, default=250)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        root = make_shards(work, args.count, args.per_shard)
        size = sum(p.stat().st_size for p in root.glob("*.tar"))
        print(
            f"{args.count} JPEGs, {size / 2**20:.0f} MiB in {len(list(root.glob('*.tar')))} shards (made in {time.perf_counter() - t0:.0f} s)"
        )
        stream(root)  # warm the page cache
        t_stream, n = best(lambda: stream(root), args.repeat)
        print(
            f"stream:            {n / t_stream:9.0f} samples/s ({size / 2**20 / t_stream:.0f} MiB/s)"
        )
        for w in args.workers:
            opts = AuditOptions(workers=w)
            t_audit, _ = best(lambda opts=opts: run_audit(root, opts).total_samples, args.repeat)
            print(
                f"audit, {w} worker(s): {n / t_audit:9.0f} samples/s  = {t_stream / t_audit:.3f} x streaming"
                f" ({t_audit / t_stream:.1f}x slower)"
            )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
