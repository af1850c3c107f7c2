"""Convert an ImageFolder of JPEGs (single worker, no re-encoding) vs ``tar cf`` of the same
files, in the same run on the same machine. Floor (issue 5): convert <= 2x tar.

    python benchmarks/bench_convert.py [--count 3000] [--repeat 5] [--dir /tmp/bench-convert]

Generates ``count`` realistic JPEGs (~100 kB, 640x480: gradients, shapes and sensor-like
noise, quality 90) in 10 class folders, then times each tool ``repeat`` times alternately with
a warm page cache and reports the best of each. Exit status 1 if the floor is missed.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from visiondata.loaders.convert import convert


def make_jpeg(rng: np.random.Generator) -> bytes:
    h, w = 480, 640
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], -1) * rng.uniform(
        0.4, 1.0, 3
    )
    im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        box = (x0, y0, x0 + int(rng.integers(20, 200)), y0 + int(rng.integers(20, 200)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=color)
    arr = np.asarray(im).astype(np.float32) + rng.normal(0, 9, (h, w, 3))
    out = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def generate(src: Path, count: int, unique: int = 200) -> int:
    """Write ``count`` JPEGs in 10 class folders; ``unique`` distinct images are cycled (the
    bytes of each file are read in full either way). Returns the total size."""
    rng = np.random.default_rng(0)
    pool = [make_jpeg(rng) for _ in range(min(unique, count))]
    total = 0
    for i in range(count):
        d = src / f"class_{i % 10:02d}"
        d.mkdir(parents=True, exist_ok=True)
        data = pool[i % len(pool)]
        (d / f"img_{i:06d}.jpg").write_bytes(data)
        total += len(data)
    return total


def time_tar(src: Path, dest: Path) -> float:
    dest.unlink(missing_ok=True)
    t = time.perf_counter()
    subprocess.run(["tar", "cf", str(dest), "-C", str(src), "."], check=True)
    return time.perf_counter() - t


def time_convert(src: Path, out: Path, verify: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    convert("imagefolder", src, out, workers=1, verify=verify)
    return time.perf_counter() - t


def time_writer_only(src: Path, dest: Path) -> float:
    """The shared ShardWriter alone (sha256 on its helper thread included) on bytes already in memory."""
    from visiondata.loaders.shards.writer import ShardWriter

    files = sorted(src.rglob("*.jpg"))
    data = {p: p.read_bytes() for p in files}
    t = time.perf_counter()
    w = ShardWriter(dest)
    for p, b in data.items():
        w.write(f"{p.parent.name}/{p.stem}", {"jpg": b, "cls": p.parent.name[-2:].encode()})
    w.close()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-convert-"))
    src = work / "src"
    try:
        t = time.perf_counter()
        total = generate(src, args.count)
        print(
            f"generated {args.count} JPEGs, {total / 1e6:.1f} MB ({total / args.count / 1e3:.0f} kB each) "
            f"in {time.perf_counter() - t:.1f} s"
        )
        time_tar(src, work / "warm.tar")  # warm the page cache
        tar, conv, conv_none, writer = [], [], [], []
        for _ in range(args.repeat):
            tar.append(time_tar(src, work / "files.tar"))
            conv.append(time_convert(src, work / "out", "header"))
            conv_none.append(time_convert(src, work / "out", "none"))
            writer.append(time_writer_only(src, work / "writer.tar"))
        bt, bc, bn, bw = min(tar), min(conv), min(conv_none), min(writer)
        print(f"tar cf              : {bt:.3f} s  ({total / 1e6 / bt:.0f} MB/s)")
        print(
            f"convert (verify=header, default): {bc:.3f} s  ({args.count / bc:.0f} samples/s)  ratio {bc / bt:.2f}x"
        )
        print(f"convert (verify=none)           : {bn:.3f} s  ratio {bn / bt:.2f}x")
        print(
            f"ShardWriter alone, bytes in RAM (sha256 on a helper thread): {bw:.3f} s  ratio {bw / bt:.2f}x"
        )
        ok = bc <= 2 * bt
        print(f"floor convert <= 2x tar: {'met' if ok else 'MISSED'}")
        return 0 if ok else 1
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
