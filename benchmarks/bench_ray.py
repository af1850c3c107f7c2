"""``convert --engine ray`` against the local engine on the same images, and Ray's start-up cost.

    python benchmarks/bench_ray.py [--count 3000] [--rounds 3] [--dir /tmp/bench-ray]
                                   [--verify header|decode] [--samples-per-shard 100]

Makes ``count`` JPEGs from the real photos in ``../shared/realdata`` (COCO val2017, BCCD
microscopy, Big Buck Bunny frames): each a different crop, scaled to a shorter side of
256-384 px and re-encoded (quality 85-92), in 10 class folders. Then, in alternating rounds,
first with no Ray running (a command without ``--address`` joins a running one):

- ``cli local``: ``visiondata convert imagefolder SRC OUT --workers 2`` (a fresh process)
- ``cli ray``: the same with ``--engine ray --workers 2``: Ray started by the command on this
  machine (all its CPUs), so Ray's start-up is inside the time
- ``ray start-up``: a fresh process's ``import ray``, ``ray.init`` (2 CPUs, 200 MB object
  store), the first task's round trip, ``ray.shutdown``

then with a Ray instance running on this machine (2 CPUs, 200 MB object store):

- ``cli local`` again, and ``cli ray --address``: the command against the running instance
  (what a command costs on a running cluster: connect, run, disconnect)
- ``api ray`` / ``api local``: ``convert()`` in this process, connected: the steady-state
  rate without any start-up (the local engine still starts its 2 worker processes)

and reports medians (images/s, seconds) and the load average. Every run's manifest and
shards are checked to be the same bytes as the first local run's.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
CLI = [sys.executable, "-m", "visiondata.registry.cli"]

STARTUP = """
import json, time
t0 = time.perf_counter()
import ray
t1 = time.perf_counter()
ray.init(address="local", num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False,
         logging_level="warning", log_to_driver=False)
t2 = time.perf_counter()
ray.get(ray.remote(lambda: 1).remote())
t3 = time.perf_counter()
ray.shutdown()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "init": t2 - t1, "first_task": t3 - t2, "shutdown": t4 - t3}))
"""


def photos() -> list[Path]:
    found = sorted(
        [
            *(REALDATA / "coco" / "val2017").glob("*.jpg"),
            *(REALDATA / "voc_bccd" / "BCCD" / "JPEGImages").glob("*.jpg"),
            *(REALDATA / "video" / "derived" / "frames_bbb_10s").glob("*.jpg"),
        ]
    )
    if not found:
        raise SystemExit(f"no photos under {REALDATA} (the benchmark needs ../shared/realdata)")
    return found


def make_images(src: Path, count: int, seed: int = 0) -> int:
    """``count`` re-encoded crops of the real photos; returns their total bytes."""
    rng = random.Random(seed)
    originals = [Image.open(p).convert("RGB") for p in photos()]
    total = 0
    for i in range(count):
        im = originals[i % len(originals)]
        w, h = im.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = im.crop((x, y, x + cw, y + ch))
        short = rng.randint(256, 384)
        scale = short / min(cw, ch)
        crop = crop.resize((max(1, round(cw * scale)), max(1, round(ch * scale))))
        buf = io.BytesIO()
        crop.save(buf, format="JPEG", quality=rng.randint(85, 92))
        folder = src / f"class_{i % 10:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"img_{i:06d}.jpg").write_bytes(buf.getvalue())
        total += buf.tell()
    return total


def digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.iterdir()):
        if p.is_file():
            h.update(p.name.encode() + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _no_ray_address() -> dict[str, str]:
    """This process's environment without RAY_ADDRESS (ray.init sets it), so a child starts
    its own Ray unless told an address."""
    return {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}


def run_cli(src: Path, out: Path, extra: list[str], opts: list[str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    r = subprocess.run(
        [*CLI, "convert", "imagefolder", str(src), str(out), "--no-progress", *opts, *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=_no_ray_address(),
    )
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"convert {' '.join(extra)} failed:\n{r.stderr}")
    return wall


def run_api(src: Path, out: Path, engine: str, kwargs: dict[str, Any]) -> float:
    from visiondata.loaders.convert import convert

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    convert("imagefolder", src, out, workers=2, engine=engine, **kwargs)
    return time.perf_counter() - t0


def startup() -> dict[str, float]:
    r = subprocess.run(
        [sys.executable, "-c", STARTUP],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=_no_ray_address(),
    )
    out: dict[str, float] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--verify", choices=("header", "decode"), default="header")
    ap.add_argument("--samples-per-shard", type=int, default=100)
    args = ap.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench-ray-"))
    src = base / "src"
    if not src.exists():
        t0 = time.perf_counter()
        size = make_images(src, args.count)
        print(f"made {args.count} JPEGs ({size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s")
    opts = ["--samples-per-shard", str(args.samples_per_shard), "--verify", args.verify]
    kwargs = {"samples_per_shard": args.samples_per_shard, "verify": args.verify}
    names = ("cli local", "cli ray", "cli ray --address", "api local", "api ray")
    times: dict[str, list[float]] = {k: [] for k in names}
    ups: list[dict[str, float]] = []
    load = [os.getloadavg()[0]]
    # phase 1, no Ray running (a command without --address would join a running one): the
    # command starting Ray itself, and Ray's start-up alone
    for rnd in range(args.rounds):
        run_each(src, base, opts, times, {"cli ray": ["--engine", "ray", "--workers", "2"]})
        ups.append(startup())
        load.append(os.getloadavg()[0])
        print(
            f"round {rnd + 1}a: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items() if v)
        )
    # phase 2, a Ray instance running: commands and convert() against it
    import ray
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 2, "object_store_memory": 200 * 2**20, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=node)
    ray.init(address=cluster.address, logging_level="warning", log_to_driver=False)
    try:
        for rnd in range(args.rounds):
            extra = {"cli ray --address": ["--engine", "ray", "--address", cluster.address]}
            reference = run_each(src, base, opts, times, extra)
            for name, engine in (("api ray", "ray"), ("api local", "local")):
                times[name].append(run_api(src, base / name.replace(" ", "-"), engine, kwargs))
                assert digest(base / name.replace(" ", "-")) == reference, f"{name}: other bytes"
            load.append(os.getloadavg()[0])
            print(f"round {rnd + 1}b: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(
        f"\n{args.count} images, {args.samples_per_shard} per shard, verify={args.verify}, "
        f"{args.rounds} rounds; load average {min(load):.1f}-{max(load):.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    for k, v in times.items():
        med = statistics.median(v)
        print(f"  {k:18s} median {med:6.2f} s  {args.count / med:7.0f} images/s  (n={len(v)})")
    for k in ("import", "init", "first_task", "shutdown"):
        print(f"  ray start-up: {k:10s} median {statistics.median(u[k] for u in ups):.2f} s")
    print("  every run wrote the same bytes (manifest and shards) as the local engine")


def run_each(
    src: Path,
    base: Path,
    opts: list[str],
    times: dict[str, list[float]],
    runs: dict[str, list[str]],
) -> str:
    """``cli local`` then each of ``runs``, every output checked against the local one."""
    times["cli local"].append(run_cli(src, base / "local", ["--workers", "2"], opts))
    reference = digest(base / "local")
    for name, extra in runs.items():
        times[name].append(run_cli(src, base / "ray", extra, opts))
        assert digest(base / "ray") == reference, f"{name} wrote other bytes"
    return reference


if __name__ == "__main__":
    main()
