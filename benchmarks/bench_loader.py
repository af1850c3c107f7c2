"""Loader benchmark: memory while streaming 20,000 small samples for two epochs, and the
time to the first batch from local shards and from nginx on loopback.

    python benchmarks/bench_loader.py [--samples 20000] [--batch-size 64] [--num-workers 0]
        [--every 25] [--json out.json]

Prints the memory curve (RSS of the main process, and USS of it plus any worker processes,
sampled every ``--every`` batches) and the peak, then the time to the first batch (building
the Loader included: manifest read, planning, first shard opened, first batch decoded). nginx must be installed
(/usr/sbin/nginx); the HTTP part is skipped with a note when it is not.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from visiondata.loaders import Loader, World
from visiondata.loaders.shards.manifest import ConverterInfo, Manifest, SplitInfo, write_manifest
from visiondata.loaders.shards.writer import ShardWriter


def memory_mb() -> tuple[float, float]:
    """(RSS of this process, USS of this process plus its DataLoader workers), in MiB.

    USS counts the pages only that process holds, so forked workers' shared copies of torch
    are not counted once per worker, and other programs mapping the same libraries do not
    move the figure (as they do PSS). Without psutil: (RSS, RSS) from /proc.
    """
    try:
        import psutil
    except ImportError:
        text = Path("/proc/self/status").read_text()
        kb = int(next(line for line in text.splitlines() if line.startswith("VmRSS")).split()[1])
        return kb / 1024, kb / 1024
    me = psutil.Process()
    rss = me.memory_info().rss
    uss = me.memory_full_info().uss
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            uss += child.memory_full_info().uss
    return rss / 2**20, uss / 2**20


def make_dataset(root: Path, samples: int, per_shard: int) -> None:
    from PIL import Image

    buf = io.BytesIO()
    infos = []
    n = 0
    while n < samples:
        with ShardWriter(root / f"train-{len(infos):06d}.tar") as w:
            for _ in range(min(per_shard, samples - n)):
                buf.seek(0)
                buf.truncate()
                Image.new("RGB", (32, 32), (n % 256, (n // 256) % 256, 90)).save(
                    buf, format="JPEG", quality=90
                )
                w.write(
                    f"s{n:07d}", {"jpg": buf.getvalue(), "cls": str(n % 10).encode()}, label=n % 10
                )
                n += 1
            infos.append(w.close())
    write_manifest(
        Manifest(
            converter=ConverterInfo(name="bench", version="0"),
            fields={"jpg": "image", "cls": "label"},
            splits={"train": SplitInfo(num_samples=n, shards=infos)},
        ),
        root,
    )


def stream(root: str, args: argparse.Namespace) -> dict[str, Any]:
    loader = Loader(
        root,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        world=World(0, 1),
        buffer_size=args.buffer_size,
    )
    curve: list[tuple[int, float, float]] = []

    def sample(step: int) -> None:
        rss, uss = memory_mb()
        curve.append((step, round(rss, 1), round(uss, 1)))

    sample(0)
    seen = 0
    step = 0
    start = time.perf_counter()
    for epoch in range(2):
        loader.set_epoch(epoch)
        for batch in loader:
            seen += len(batch["__key__"])
            step += 1
            if step % args.every == 0:
                sample(step)
    elapsed = time.perf_counter() - start
    sample(step)
    return {
        "samples_streamed": seen,
        "batches": step,
        "seconds": round(elapsed, 2),
        "samples_per_s": round(seen / elapsed),
        "memory_curve_mb": [{"batch": b, "rss_main": r, "uss_all": u} for b, r, u in curve],
        "peak_rss_main_mb": max(r for _, r, _ in curve),
        "peak_uss_all_mb": max(u for _, _, u in curve),
        "ru_maxrss_self_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def first_batch(source: str, args: argparse.Namespace, repeats: int = 5) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loader = Loader(
            source, batch_size=args.batch_size, world=World(0, 1), buffer_size=args.buffer_size
        )
        it = iter(loader)
        next(it)
        times.append(time.perf_counter() - t0)
        del it
    times.sort()
    return {"median_s": round(times[len(times) // 2], 4), "min_s": round(times[0], 4)}


def start_nginx(root: Path, prefix: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(exe):
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"daemon off; master_process off; worker_processes 1; pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log warn; events {{ worker_connections 64; }}\n"
        f"http {{ access_log off; client_body_temp_path {prefix}/cb; proxy_temp_path {prefix}/p;\n"
        f"fastcgi_temp_path {prefix}/f; uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;\n"
        f"server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n"
    )
    proc = subprocess.Popen([exe, "-p", str(prefix), "-c", str(conf), "-e", f"{prefix}/error.log"])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--samples", type=int, default=20_000)
    p.add_argument("--per-shard", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--buffer-size", type=int, default=1000)
    p.add_argument("--every", type=int, default=25, help="sample RSS every N batches")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "www" / "set"
        data.mkdir(parents=True)
        t0 = time.perf_counter()
        make_dataset(data, args.samples, args.per_shard)
        results["dataset"] = {
            "samples": args.samples,
            "shards": len(list(data.glob("*.tar"))),
            "bytes": sum(f.stat().st_size for f in data.glob("*.tar")),
            "build_s": round(time.perf_counter() - t0, 2),
        }
        results["first_batch_local"] = first_batch(str(data), args)
        server = start_nginx(Path(tmp) / "www", Path(tmp))
        if server is None:
            results["first_batch_http"] = "skipped: nginx is not installed"
        else:
            proc, url = server
            try:
                results["first_batch_http"] = first_batch(f"{url}/set", args)
            finally:
                proc.terminate()
                proc.wait()
        results["stream_two_epochs_local"] = stream(str(data), args)
    s = results["stream_two_epochs_local"]
    print(f"dataset: {results['dataset']}")
    print(
        f"streamed {s['samples_streamed']} samples in {s['batches']} batches, {s['seconds']} s "
        f"({s['samples_per_s']} samples/s)"
    )
    curve = s["memory_curve_mb"]
    print("memory curve (batch: RSS main / USS main+workers, MiB):")
    print("  " + ", ".join(f"{c['batch']}: {c['rss_main']}/{c['uss_all']}" for c in curve))
    print(
        f"peak sampled: RSS main {s['peak_rss_main_mb']} MiB, USS main+workers "
        f"{s['peak_uss_all_mb']} MiB; ru_maxrss (main): {s['ru_maxrss_self_mb']} MiB"
    )
    print(f"time to first batch, local: {results['first_batch_local']}")
    print(f"time to first batch, nginx on loopback: {results['first_batch_http']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
