"""``visiondata shards index`` throughput against ``sha256sum`` of the same files, and over
nginx on loopback, in one run.

    python benchmarks/bench_index.py [--count 3000] [--rounds 3] [--workers 1 4]

Builds an ImageNet-like shard set (JPEGs made from the real photos that ship with
scikit-image / scikit-learn, converted by ``visiondata convert imagefolder``), removes its
manifest (a set visiondata did not write), warms the page cache, then alternates, round after
round: ``sha256sum`` over the shard files (the floor: every byte hashed once), ``index_set()``
on the local folder with each worker count (every byte hashed, every tar header parsed, every
member checked against the member policy), and ``index_set()`` over HTTP from nginx serving
the same folder on loopback (a brace pattern; skipped with a note without nginx). Each index
is checked against the converter's own manifest. Reports MB/s, medians and ranges, and the
ratio to ``sha256sum``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from photos import make_imagefolder
from visiondata.loaders.convert import convert
from visiondata.loaders.shards.index import index_set


def _sha256sum(files: list[Path]) -> float:
    t0 = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, files)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _index(source: str, out: Path, workers: int, expected: list[tuple[str, str]]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = index_set(source, out, workers=workers)
    took = time.perf_counter() - t0
    got = [(s.name, s.sha256) for s in result.manifest.split("train").shards]
    assert got == expected, "the index differs from the converter's manifest"
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "imagefolder", Path(tmp) / "shards"
        make_imagefolder(src, args.count)
        convert("imagefolder", src, out, split="train", shard_size="50MB", progress=False)
        made = json.loads((out / "manifest.json").read_text())["splits"]["train"]["shards"]
        expected = [(s["name"], s["sha256"]) for s in made]
        (out / "manifest.json").unlink()
        files = sorted(out.glob("*.tar"))
        mb = sum(f.stat().st_size for f in files) / 1e6
        _sha256sum(files)  # warm the page cache: every side reads from memory
        times: dict[str, list[float]] = {"sha256sum": []}
        times |= {f"index --workers {w}": [] for w in args.workers}
        with contextlib_nginx(out, Path(tmp) / "nginx") as url:
            pattern = None
            if url is not None:
                pattern = f"{url}/train-{{000000..{len(files) - 1:06d}}}.tar"
                times |= {f"index http --workers {w}": [] for w in args.workers}
            for _ in range(args.rounds):
                times["sha256sum"].append(_sha256sum(files))
                for w in args.workers:
                    took = _index(str(out), Path(tmp) / "idx", w, expected)
                    times[f"index --workers {w}"].append(took)
                    if pattern is not None:
                        took = _index(pattern, Path(tmp) / "idx-http", w, expected)
                        times[f"index http --workers {w}"].append(took)
    base = statistics.median(times["sha256sum"])
    print(
        f"{len(files)} shards, {mb:.1f} MB, {args.count} images, {args.rounds} rounds (alternating)"
    )
    print(f"{'what':<26} {'MB/s median':>12} {'range':>17} {'vs sha256sum':>13}")
    for name, ts in times.items():
        med = statistics.median(ts)
        lo, hi = mb / max(ts), mb / min(ts)
        print(f"{name:<26} {mb / med:>12.0f} {lo:>8.0f}-{hi:<8.0f} {base / med:>12.2f}x")


def contextlib_nginx(root: Path, prefix: Path):  # type: ignore[no-untyped-def]
    """nginx serving ``root`` on loopback (the tests' helper), or ``None`` without nginx."""
    import contextlib

    from tests.loaders.servers import NGINX, nginx

    if not Path(NGINX).exists():
        print("nginx not found: the HTTP rows are skipped")
        return contextlib.nullcontext(None)
    return nginx(root, prefix)


if __name__ == "__main__":
    main()
