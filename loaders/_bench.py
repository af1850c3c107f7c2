"""``visiondata bench``: throughput of the visiondata pipeline against plain webdataset.

Each pipeline runs in its own subprocess, so its peak memory (the process and its workers,
sampled every 100 ms) is its own. Both do the same work: read the shards, decode the JPEG,
RandomResizedCrop + horizontal flip to ``crop`` x ``crop``, uint8 CHW batches, then hand the
batch to ``device``. Reported: samples/s after the first batch, time to the first batch, peak
memory of the process and its workers (the sum of their RSS, which counts the libraries they
share once per process, and the sum of their PSS, which splits shared pages between the
processes sharing them), and the share of wall time the consumer waited for data.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["BenchResult", "run_bench"]

PIPELINES = {
    "visiondata": "visiondata.loaders.Loader + fused decode/crop + DevicePrefetcher",
    "webdataset": "webdataset.WebDataset + DataLoader(num_workers, pin_memory on CUDA), PIL decode + crop",
}


@dataclass
class BenchResult:
    pipeline: str
    batches: int
    samples: int
    samples_per_s: float
    first_batch_s: float
    peak_rss_mb: float
    peak_pss_mb: float
    wait_fraction: float
    device: str


class _PeakMemory:
    """Samples the memory of this process and its children in a thread: peaks of the sum of
    their RSS and of the sum of their PSS (proportional set size: shared pages such as torch's
    libraries are split between the processes sharing them). Where the system reports no PSS,
    RSS stands in for it."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.rss = 0
        self.pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        rss = pss = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                info = p.memory_full_info()
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
        self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def _shard_urls(source: str, split: str) -> list[str]:
    from .shards.manifest import read_manifest

    root = Path(source)
    manifest = read_manifest(root)
    return [str(root / s.name) for s in manifest.split(split).shards]


def _webdataset_batches(
    source: str, split: str, batch_size: int, workers: int, crop: int, device: str, seed: int
) -> Iterable[Any]:
    import random

    import numpy as np
    import torch
    import webdataset as wds
    from PIL import Image

    from ._decode.cropbox import random_resized_crop_box

    rng = random.Random(seed)

    def rrc(img: Image.Image) -> torch.Tensor:
        box = random_resized_crop_box(img.width, img.height, rng)
        out = img.resize((crop, crop), Image.Resampling.BILINEAR, box=box.as_ltrb())
        if box.flip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.array(out)).permute(2, 0, 1)

    ds = (
        wds.WebDataset(
            _shard_urls(source, split),
            shardshuffle=False,
            nodesplitter=wds.split_by_node,
            workersplitter=wds.split_by_worker,
            empty_check=False,
        )
        .shuffle(1000, rng=random.Random(seed))
        .decode("pil")
        .to_tuple("jpg", "cls")
        .map_tuple(rrc, int)
    )
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch_size, num_workers=workers, pin_memory=device == "cuda", drop_last=True
    )
    for images, labels in loader:
        yield {
            "jpg": images.to(device, non_blocking=True),
            "cls": labels.to(device, non_blocking=True),
        }


def _visiondata_batches(
    source: str, split: str, batch_size: int, workers: int, crop: int, device: str, seed: int
) -> Iterable[Any]:
    from ._decode.imageops import RandomResizedCrop
    from ._device import DevicePrefetcher
    from ._stream.loader import Loader

    loader = Loader(
        source,
        split=split,
        batch_size=batch_size,
        num_workers=workers,
        seed=seed,
        fields=["jpg", "cls"],
        decode={"jpg": RandomResizedCrop((crop, crop)), "cls": "cls"},
        drop_last=True,
    )
    return DevicePrefetcher(loader, device=device, normalize=False)


def _measure(pipeline: str, batches: Iterable[Any], limit: int, device: str) -> BenchResult:
    import torch

    waited = 0.0
    samples = 0
    n = 0
    start = time.perf_counter()
    first = 0.0
    it: Iterator[Any] = iter(batches)
    steady_start = start
    with _PeakMemory() as mem:
        while n < limit:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            if device == "cuda":
                torch.cuda.synchronize()
            t1 = time.perf_counter()
            if n == 0:
                first = t1 - start
                steady_start = t1
            else:
                waited += t1 - t0
                samples += len(batch["jpg"])
            n += 1
        total = time.perf_counter() - steady_start
        del it
    return BenchResult(
        pipeline=pipeline,
        batches=n,
        samples=samples,
        samples_per_s=samples / total if total > 0 else 0.0,
        first_batch_s=first,
        peak_rss_mb=mem.rss / 2**20,
        peak_pss_mb=mem.pss / 2**20,
        wait_fraction=waited / total if total > 0 else 0.0,
        device=device,
    )


def bench_one(
    pipeline: str,
    source: str,
    split: str,
    batch_size: int,
    workers: int,
    crop: int,
    device: str,
    batches: int,
    seed: int,
) -> BenchResult:
    """Run one pipeline in this process (``run_bench`` calls this in a fresh subprocess)."""
    make = {"visiondata": _visiondata_batches, "webdataset": _webdataset_batches}[pipeline]
    return _measure(
        pipeline, make(source, split, batch_size, workers, crop, device, seed), batches, device
    )


def run_bench(
    source: str,
    *,
    split: str = "train",
    batch_size: int = 64,
    workers: int = 2,
    crop: int = 224,
    device: str = "cpu",
    batches: int = 50,
    compare: str | None = None,
    seed: int = 0,
) -> list[BenchResult]:
    """Benchmark visiondata (and ``compare``, if given) on ``source``, each in a subprocess."""
    pipelines = ["visiondata"] + ([compare] if compare else [])
    results = []
    for pipeline in pipelines:
        args = json.dumps(
            [pipeline, source, split, batch_size, workers, crop, device, batches, seed]
        )
        out = subprocess.run(
            [sys.executable, "-m", "visiondata.loaders._bench", args],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if out.returncode != 0:
            raise _child_error(pipeline, out.stderr)
        results.append(BenchResult(**json.loads(out.stdout.strip().splitlines()[-1])))
    return results


def _child_error(pipeline: str, stderr: str) -> Exception:
    """The pipeline's own error when it raised one of visiondata's (a missing manifest, a bad
    option: the same class, so the CLI answers it in one line), else a RuntimeError."""
    from visiondata.registry.errors import VisionDataError

    from . import errors

    last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
    name, _, message = last.partition(": ")
    cls = getattr(errors, name.rsplit(".", 1)[-1], None) if name.startswith("visiondata.") else None
    if isinstance(cls, type) and issubclass(cls, VisionDataError):
        try:
            return cls(f"{pipeline} benchmark: {message}")
        except TypeError:  # a class whose constructor wants more than a message
            pass
    return RuntimeError(f"{pipeline} benchmark failed:\n{stderr[-3000:]}")


def render(results: list[BenchResult]) -> str:
    lines = [
        f"{'pipeline':<12} {'device':<6} {'samples/s':>10} {'first batch s':>14} "
        f"{'peak RSS MB':>12} {'peak PSS MB':>12} {'waiting':>8}",
    ]
    for r in results:
        lines.append(
            f"{r.pipeline:<12} {r.device:<6} {r.samples_per_s:>10.1f} {r.first_batch_s:>14.2f} "
            f"{r.peak_rss_mb:>12.0f} {r.peak_pss_mb:>12.0f} {r.wait_fraction:>8.1%}"
        )
    if len(results) == 2 and results[1].samples_per_s > 0:
        a, b = results
        lines.append(
            f"ratio visiondata/{b.pipeline}: throughput {a.samples_per_s / b.samples_per_s:.2f}x, "
            f"peak RSS {a.peak_rss_mb / b.peak_rss_mb:.2f}x, peak PSS {a.peak_pss_mb / b.peak_pss_mb:.2f}x, "
            f"first batch {a.first_batch_s / max(b.first_batch_s, 1e-9):.2f}x"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    result = bench_one(*json.loads(sys.argv[1]))
    print(json.dumps(asdict(result)))
