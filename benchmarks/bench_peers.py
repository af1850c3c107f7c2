"""visiondata against the pipelines a user would pick instead, and against the machine's limit.

    python benchmarks/bench_peers.py [--count 4000] [--rounds 3] [--shards DIR] [--json out.json]
        [--peers visiondata visiondata-fresh webdataset dali-cpu torchvision spdl ffcv ceiling
                 ceiling-whole]
        [--visiondata PxT ...]

The same work for every pipeline, on the same shards (``--count`` ImageNet-like JPEGs with a
shorter side of 300-500 px, made from the real photos that ship with scikit-image and
scikit-learn, written by the imagefolder converter): read the tar, decode the JPEG,
RandomResizedCrop(224, scale 0.08-1, ratio 3/4-4/3) + horizontal flip, uint8 CHW, batches of 64
(the last partial batch dropped), two epochs, on two workers or two threads:

- ``visiondata``: ``Loader`` + ``RandomResizedCrop`` (fused decode and crop), its defaults;
  ``--visiondata PxT`` adds a run with ``num_workers=P, threads_per_worker=T``.
  ``visiondata-fresh``: the same with ``collate_fn=collate`` (visiondata's own), so no ring:
  every batch is stacked into fresh shared memory, as before the ring of reused slots. Its
  memory beside ``visiondata``'s tells what the ring costs, counted both ways (see PSS below)
- ``webdataset``: plain ``webdataset.WebDataset`` (shuffle buffer 1000, PIL decode, PIL resize
  of the crop box) + ``torch.utils.data.DataLoader(num_workers=2)``: the baseline
- ``dali-cpu``: NVIDIA DALI's CPU pipeline (``device_id=None``, ``num_threads=2``): its
  webdataset reader, ``fn.decoders.image_random_crop`` (libjpeg-turbo's region decode),
  ``fn.resize``, ``fn.crop_mirror_normalize`` to uint8 CHW with a random mirror
- ``torchvision``: webdataset + DataLoader(num_workers=2), ``torchvision.io.decode_jpeg`` and
  ``transforms.v2.RandomResizedCrop`` + ``RandomHorizontalFlip`` on the uint8 tensor
- ``spdl``: SPDL's pipeline (a thread pool of 2): ``spdl.io.iter_tarfile``, a 1000-sample
  shuffle buffer, FFmpeg decode with a crop + scale + flip filter, ``torch.stack`` per batch
- ``ffcv``: reported as skipped unless it imports (it reads only its own .beton files)
- ``ceiling``: the work alone: two processes decode + crop + resize the JPEG bytes, held in
  memory beforehand, with ``imageops.RandomResizedCrop`` (the region decoder where it is built):
  no reading, batching or handing over. ``ceiling-whole``: the same, decoding whole images.

Each run is its own subprocess (its memory and CPU are its own); rounds alternate the pipelines,
rotating their order. Reported per pipeline, median and range over the rounds: samples/s of the
first epoch after its first batch, the ratio to ``webdataset`` and to ``ceiling`` of the same
round; the same for epochs 2 and 3 together, timed from the first epoch's last batch to the
third's (the gaps between epochs included: what a long run sees once every shard's sha256 has
been checked and the workers are warm); the time to the first batch (building the pipeline included, its imports not), the gap before the second
epoch's first batch (and the first epoch's median time between batches), peak PSS of the
process tree, the same with the shared memory of batches still in a DataLoader queue counted
(mapped by no process, so PSS misses it; a ring slot stays mapped, so PSS sees it), and CPU ms
per image (user + system of the process tree over the first epoch's steady part), and the
consuming process's own CPU ms per batch (over the same part: what receiving the batches costs
the process that trains). PSS is
sampled every 0.5 s from the driver, outside the measured processes (reading it costs a page-table walk). The load average before each round is printed: these
machines are shared, so compare ratios from one run, and re-run when the load is high.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

BATCH = 64
CROP = 224
WORKERS = 2
EPOCHS = 3
PEERS = [
    "visiondata",
    "visiondata-fresh",
    "webdataset",
    "dali-cpu",
    "torchvision",
    "spdl",
    "ffcv",
    "ceiling",
    "ceiling-whole",
]
#: the later epochs' label: the ones a long run spends most of its time in
LATER = f"epochs 2-{EPOCHS}"
Epoch = Callable[[], Iterable[dict[str, Any]]]


class Skipped(Exception):
    """The peer cannot run on this machine; the message says why."""


# -- the pipelines: each returns a function giving one epoch's batches ------------------------


def _urls(shards: Path) -> list[str]:
    return sorted(str(p) for p in shards.glob("*.tar"))


def visiondata_epochs(shards: Path, config: str | None, fresh: bool = False) -> Epoch:
    from visiondata.loaders import Loader, RandomResizedCrop
    from visiondata.loaders._decode.collate import collate

    options: dict[str, Any] = {"num_workers": WORKERS}
    if fresh:  # a collate_fn of the user's: batches are theirs, no ring
        options["collate_fn"] = collate
    if config:
        procs, threads = (int(x) for x in config.split("x"))
        options |= {"num_workers": procs, "threads_per_worker": threads}
    loader = Loader(
        shards,
        batch_size=BATCH,
        fields=["jpg", "cls"],
        decode={"jpg": RandomResizedCrop((CROP, CROP)), "cls": "cls"},
        drop_last=True,
        **options,
    )
    return lambda: loader


def _dataloader(ds: Any) -> Epoch:
    import torch

    dl = torch.utils.data.DataLoader(ds, batch_size=BATCH, num_workers=WORKERS, drop_last=True)

    def epoch() -> Iterator[dict[str, Any]]:
        for images, labels in dl:
            yield {"jpg": images, "cls": labels}

    return epoch


def webdataset_epochs(shards: Path) -> Epoch:
    import numpy as np
    import torch
    import webdataset as wds
    from PIL import Image
    from visiondata.loaders._decode.cropbox import random_resized_crop_box

    rng = random.Random(0)

    def rrc(img: Image.Image) -> torch.Tensor:
        box = random_resized_crop_box(img.width, img.height, rng)
        out = img.resize((CROP, CROP), Image.Resampling.BILINEAR, box=box.as_ltrb())
        if box.flip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.array(out)).permute(2, 0, 1)

    ds = (
        wds.WebDataset(_urls(shards), shardshuffle=False, empty_check=False)
        .shuffle(1000, rng=random.Random(0))
        .decode("pil")
        .to_tuple("jpg", "cls")
        .map_tuple(rrc, int)
    )
    return _dataloader(ds)


def torchvision_epochs(shards: Path) -> Epoch:
    try:
        import torchvision
        from torchvision.io import ImageReadMode, decode_jpeg
        from torchvision.transforms import v2
    except Exception as exc:
        raise Skipped(
            f"torchvision does not import ({type(exc).__name__}: {exc}); it needs the build "
            "matching torch (for a CPU torch, the CPU wheel from download.pytorch.org: the "
            "PyPI wheels for Linux link libtorch_cuda)"
        ) from None
    import torch
    import webdataset as wds

    augment = v2.Compose([v2.RandomResizedCrop(CROP, antialias=True), v2.RandomHorizontalFlip()])

    def decode(data: bytes) -> torch.Tensor:
        raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        return augment(decode_jpeg(raw, mode=ImageReadMode.RGB))

    ds = (
        wds.WebDataset(_urls(shards), shardshuffle=False, empty_check=False)
        .shuffle(1000, rng=random.Random(0))
        .to_tuple("jpg", "cls")
        .map_tuple(decode, lambda b: int(b))
    )
    del torchvision
    return _dataloader(ds)


def dali_epochs(shards: Path) -> Epoch:
    try:
        from nvidia.dali import fn, pipeline_def, types
    except Exception as exc:
        raise Skipped(
            f"DALI does not import ({type(exc).__name__}: {exc}); pip install nvidia-dali-cuda120"
        ) from None
    import numpy as np
    import torch

    @pipeline_def(batch_size=BATCH, num_threads=WORKERS, device_id=None, seed=0)  # type: ignore[misc]
    def pipe() -> Any:
        jpegs, labels = fn.readers.webdataset(
            paths=_urls(shards), ext=["jpg", "cls"], random_shuffle=True, initial_fill=1000
        )
        images = fn.decoders.image_random_crop(jpegs, device="cpu", output_type=types.RGB)
        images = fn.resize(images, resize_x=CROP, resize_y=CROP, antialias=True)
        images = fn.crop_mirror_normalize(
            images, dtype=types.UINT8, output_layout="CHW", mirror=fn.random.coin_flip()
        )
        return images, labels

    p = pipe()
    p.build()
    per_epoch = sum(p.epoch_size().values()) // BATCH

    def epoch() -> Iterator[dict[str, Any]]:
        for _ in range(per_epoch):  # the reader runs on across epochs; no epoch boundary
            images, labels = p.run()
            jpg = torch.from_numpy(np.array(images.as_tensor()))
            cls = torch.tensor([int(bytes(np.array(x))) for x in labels])
            yield {"jpg": jpg, "cls": cls}

    return epoch


def _spdl_decode(sample: tuple[bytes, bytes], seed: int) -> tuple[Any, int]:
    import spdl.io as sio
    import torch
    from visiondata.loaders._decode.cropbox import random_resized_crop_box

    jpg, cls = sample
    packets = sio.demux_image(jpg)
    w, h = packets.codec.width, packets.codec.height
    box = random_resized_crop_box(w, h, random.Random(seed))
    chain = f"crop={round(box.width)}:{round(box.height)}:{round(box.left)}:{round(box.top)}"
    chain += f",scale={CROP}:{CROP}:flags=bilinear" + (",hflip" if box.flip else "")
    frames = sio.decode_packets(packets, filter_desc=f"{chain},format=rgb24")
    arr = sio.to_numpy(sio.convert_frames(frames))
    return torch.from_numpy(arr).permute(2, 0, 1), int(cls)


def _tar_samples(urls: list[str], buffer: int, rng: random.Random) -> Iterator[tuple[bytes, bytes]]:
    import spdl.io as sio

    pool: list[tuple[bytes, bytes]] = []
    for url in urls:
        parts: dict[str, dict[str, bytes]] = {}
        for name, data in sio.iter_tarfile(Path(url).read_bytes()):
            key, _, ext = name.partition(".")
            parts.setdefault(key, {})[ext] = bytes(data)
            if {"jpg", "cls"} <= parts[key].keys():
                m = parts.pop(key)
                pool.append((m["jpg"], m["cls"]))
                if len(pool) >= buffer:
                    yield pool.pop(rng.randrange(len(pool)))
    rng.shuffle(pool)
    yield from pool


def spdl_epochs(shards: Path) -> Epoch:
    try:
        from spdl.pipeline import PipelineBuilder
    except Exception as exc:
        raise Skipped(f"SPDL does not import: {type(exc).__name__}: {exc}") from None
    import torch

    counter = iter(range(1 << 62))

    def collate(items: list[tuple[Any, int]]) -> dict[str, Any]:
        return {
            "jpg": torch.stack([x for x, _ in items]),
            "cls": torch.tensor([c for _, c in items]),
        }

    def epoch() -> Iterator[dict[str, Any]]:
        source = _tar_samples(_urls(shards), 1000, random.Random(0))
        pipeline = (
            PipelineBuilder()
            .add_source(source)
            .pipe(lambda s: _spdl_decode(s, next(counter)), concurrency=WORKERS)
            .aggregate(BATCH, drop_last=True)
            .pipe(collate)
            .add_sink(3)
            .build(num_threads=WORKERS)
        )
        with pipeline.auto_stop():
            yield from pipeline

    try:
        next(iter(_spdl_probe(shards)))
    except Exception as exc:
        raise Skipped(f"SPDL cannot decode here: {type(exc).__name__}: {exc}") from None
    return epoch


def _spdl_probe(shards: Path) -> Iterator[Any]:
    for sample in _tar_samples(_urls(shards)[:1], 1, random.Random(0)):
        yield _spdl_decode(sample, 0)
        return


def ffcv_epochs(shards: Path) -> Epoch:
    try:
        import ffcv
    except Exception as exc:
        raise Skipped(
            f"ffcv does not import ({type(exc).__name__}: {exc}); pip install ffcv builds it from "
            "source against OpenCV 4 and libturbojpeg found through pkg-config, and it reads "
            "only its own .beton files, not these shards"
        ) from None
    raise Skipped(f"ffcv {ffcv.__version__} imports, but reads only its own .beton files")


# -- measuring one run (in its own subprocess) ------------------------------------------------


def tree_cpu() -> float:
    """User + system seconds of this process, its live descendants and its reaped children."""
    import psutil

    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            ct = child.cpu_times()
            total += ct.user + ct.system
    return total


def measure_batches(name: str, build: Callable[[], Epoch]) -> dict[str, Any]:
    t_build = time.perf_counter()
    stamps: list[list[float]] = [[] for _ in range(EPOCHS)]
    cpu: list[tuple[int, float]] = []
    own: list[tuple[int, float]] = []  # (batches so far, this process's CPU seconds)
    probe = 0.0  # this process's CPU seconds spent reading /proc
    epochs = build()
    sizes: list[list[int]] = [[] for _ in range(EPOCHS)]
    for e in range(EPOCHS):
        for i, batch in enumerate(epochs()):
            stamps[e].append(time.perf_counter())
            sizes[e].append(len(batch["jpg"]))
            if e == 0 and i % 8 == 0:  # psutil walks /proc: often enough, not every batch
                p0 = time.process_time()
                cpu.append((sum(sizes[0][1:]), tree_cpu()))
                probe += time.process_time() - p0  # the walk is not the pipeline's
                own.append((i, time.process_time() - probe))
    first = stamps[0]
    steady = sum(sizes[0][1:])
    span = first[-1] - first[0]
    (_, cpu0), (done, cpu1) = cpu[0], cpu[-1]
    gaps = [b - a for a, b in itertools.pairwise(first)]
    # the later epochs as a long run sees them: every sample of epochs 2.. over the time from
    # the first epoch's last batch to the last epoch's, the gaps between epochs included (an
    # epoch's own first-to-last span would leave out the batches made ahead before it began)
    later = sum(sum(s) for s in sizes[1:]) / (stamps[-1][-1] - first[-1]) if stamps[-1] else None
    return {
        "pipeline": name,
        "samples_per_s": steady / span,
        "later_samples_per_s": later,
        "first_batch_s": first[0] - t_build,
        "epoch_gap_s": stamps[1][0] - first[-1] if stamps[1] else None,
        "batch_interval_s": statistics.median(gaps),
        # with W workers the batches come in bursts of up to W: the mean and the 90th
        # percentile of the in-epoch gaps say what a gap within an epoch is
        "mean_interval_s": span / max(len(first) - 1, 1),
        "p90_interval_s": statistics.quantiles(gaps, n=10)[-1] if len(gaps) > 1 else None,
        "cpu_ms_per_image": (cpu1 - cpu0) / max(done, 1) * 1e3,
        "main_ms_per_batch": (own[-1][1] - own[0][1]) / max(own[-1][0] - own[0][0], 1) * 1e3,
        "batches": [len(s) for s in stamps],
    }


def _ceiling_worker(images: list[bytes], region: bool, barrier: Any, out: Any) -> None:
    import torch
    from visiondata.loaders import RandomResizedCrop

    torch.set_num_threads(1)
    t = RandomResizedCrop((CROP, CROP), region_decode=region)
    t(images[0], random.Random(-1))  # warm
    barrier.wait()
    c0 = time.process_time()
    for i, data in enumerate(images):
        t(data, random.Random(i))
    out.put((time.perf_counter(), time.process_time() - c0))


def measure_ceiling(name: str, shards: Path) -> dict[str, Any]:
    import multiprocessing as mp

    from visiondata.loaders import Loader

    src = Loader(shards, batch_size=256, shuffle=False, fields=["jpg"], decode={"jpg": "bytes"})
    images = [data for b in src for data in b["jpg"]]
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(WORKERS + 1), ctx.Queue()
    region = name == "ceiling"
    halves = [images[k::WORKERS] for k in range(WORKERS)]
    procs = [ctx.Process(target=_ceiling_worker, args=(h, region, barrier, out)) for h in halves]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    done = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    wall = max(t for t, _ in done) - t0
    return {
        "pipeline": name,
        "samples_per_s": len(images) / wall,
        "later_samples_per_s": len(images) / wall,
        "first_batch_s": None,
        "epoch_gap_s": None,
        "batch_interval_s": None,
        "cpu_ms_per_image": sum(c for _, c in done) / len(images) * 1e3,
        "main_ms_per_batch": None,
        "batches": [],
    }


BUILDERS: dict[str, Callable[[Path], Epoch]] = {
    "webdataset": webdataset_epochs,
    "dali-cpu": dali_epochs,
    "torchvision": torchvision_epochs,
    "spdl": spdl_epochs,
    "ffcv": ffcv_epochs,
}


#: what each pipeline imports before the clock starts (a user's process has it loaded already)
IMPORTS = {
    "visiondata": ["torch.utils.data", "visiondata.loaders._stream.loader"],
    "webdataset": ["torch.utils.data", "webdataset", "PIL.Image"],
    "torchvision": ["torch.utils.data", "webdataset", "torchvision.io"],
    "dali-cpu": ["nvidia.dali.fn"],
    "spdl": ["spdl.io", "spdl.pipeline"],
    "ceiling": ["torch", "visiondata.loaders._decode.imageops"],
}


def _preimport(name: str) -> None:
    import importlib

    base = name.split(":")[0].removesuffix("-whole").removesuffix("-fresh")
    for module in IMPORTS.get(base, []):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def run_one(name: str, shards: Path) -> dict[str, Any]:
    """One pipeline, in this process: its result, or ``{"skipped": reason}``."""
    _preimport(name)
    try:
        if name.startswith("ceiling"):
            return measure_ceiling(name, shards)
        if name.startswith("visiondata"):
            config = name.partition(":")[2] or None
            fresh = name.startswith("visiondata-fresh")
            return measure_batches(name, lambda: visiondata_epochs(shards, config, fresh))
        return measure_batches(name, lambda: BUILDERS[name](shards))
    except Skipped as why:
        return {"pipeline": name, "skipped": str(why)}


# -- the driver: rounds, alternation, the table -----------------------------------------------


def _pss_mb(pid: int) -> tuple[float, float]:
    """Proportional set size of ``pid`` and its descendants, MiB (RSS where PSS is not told),
    and the part of it that is shared memory (torch's batches, visiondata's ring slots)."""
    import psutil

    total = shm = 0
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return 0.0, 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error, OSError):
            with open(f"/proc/{p.pid}/smaps_rollup") as f:
                rows = dict(line.split()[:2] for line in list(f)[1:])
            total += int(rows["Pss:"]) * 1024 if "Pss:" in rows else p.memory_info().rss
            shm += int(rows.get("Pss_Shmem:", 0)) * 1024
    return total / 2**20, shm / 2**20


def _shmem_mb() -> float:
    """The machine's shared memory in use (``Shmem`` of /proc/meminfo), MiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Shmem:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _subprocess(name: str, shards: Path, every: float = 0.5) -> dict[str, Any]:
    """Run one pipeline in a fresh interpreter; its process tree's peak PSS is sampled from
    here, so the sampling (a page-table walk, ~5 ms per process) is not charged to it."""
    cmd = [sys.executable, __file__, "--run", name, "--shards", str(shards)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        base = _shmem_mb()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        peak = peak_all = 0.0
        deadline = time.monotonic() + 1200
        while proc.poll() is None and time.monotonic() < deadline:
            pss, mapped = _pss_mb(proc.pid)
            peak = max(peak, pss)
            # A batch on its way through a DataLoader queue is shared memory that no process
            # has mapped, so PSS misses it; a ring slot stays mapped, so PSS sees it. This
            # counts the tree's shared memory once either way (the machine's Shmem growth
            # since the start, other users of /dev/shm assumed quiet).
            peak_all = max(peak_all, pss - mapped + max(mapped, _shmem_mb() - base))
            time.sleep(every)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or ["(no output)"]
        return {"pipeline": name, "skipped": f"failed (exit {proc.returncode}): {tail[0]}"}
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["peak_pss_mb"] = peak
    result["peak_pss_all_shm_mb"] = peak_all
    return result


def run_rounds(names: list[str], shards: Path, rounds: int) -> list[dict[str, dict[str, Any]]]:
    results = []
    for k in range(rounds):
        order = names[k % len(names) :] + names[: k % len(names)]
        load = os.getloadavg()[0]
        print(f"round {k + 1}/{rounds}: load average {load:.2f}; order {' '.join(order)}")
        got = {}
        for name in order:
            r = _subprocess(name, shards)
            r["load_before"] = load
            got[name] = r
            print(f"  {name:<16} " + _brief(r), flush=True)
        results.append(got)
    return results


def _brief(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"skipped: {r['skipped']}"
    return f"{r['samples_per_s']:.0f} samples/s, {r['cpu_ms_per_image']:.2f} CPU ms/image"


def _stat(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def _column(results: list[dict[str, dict[str, Any]]], name: str, key: str) -> list[float]:
    return [r[name][key] for r in results if r[name].get(key) is not None]


def _ratio(
    results: list[dict[str, dict[str, Any]]], name: str, base: str, key: str = "samples_per_s"
) -> list[float]:
    out = []
    for r in results:
        a, b = r[name], r.get(base, {})
        if "skipped" not in a and b and "skipped" not in b and a.get(key) and b.get(key):
            out.append(a[key] / b[key])
    return out


def render(results: list[dict[str, dict[str, Any]]], names: list[str]) -> str:
    head = (
        f"{'pipeline':<18} {'samples/s':>20} {'x webdataset':>18} {'x ceiling':>18} "
        f"{LATER + ' samples/s':>20} {'x webdataset':>18} {'x ceiling':>18} "
        f"{'first batch s':>18} {'epoch gap s':>18} {'batch interval s':>18} "
        f"{'peak PSS MiB':>18} {'PSS + queued shm':>18} {'CPU ms/image':>18} "
        f"{'main ms/batch':>18}"
    )
    lines = [head]
    for name in names:
        skipped = [r[name]["skipped"] for r in results if "skipped" in r[name]]
        if skipped:
            lines.append(f"{name:<18} skipped: {skipped[0]}")
            continue
        lines.append(
            f"{name:<18} {_stat(_column(results, name, 'samples_per_s'), '.0f'):>20} "
            f"{_stat(_ratio(results, name, 'webdataset'), '.2f'):>18} "
            f"{_stat(_ratio(results, name, 'ceiling'), '.2f'):>18} "
            f"{_stat(_column(results, name, 'later_samples_per_s'), '.0f'):>20} "
            f"{_stat(_ratio(results, name, 'webdataset', 'later_samples_per_s'), '.2f'):>18} "
            f"{_stat(_ratio(results, name, 'ceiling', 'later_samples_per_s'), '.2f'):>18} "
            f"{_stat(_column(results, name, 'first_batch_s'), '.2f'):>18} "
            f"{_stat(_column(results, name, 'epoch_gap_s'), '.3f'):>18} "
            f"{_stat(_column(results, name, 'batch_interval_s'), '.3f'):>18} "
            f"{_stat(_column(results, name, 'peak_pss_mb'), '.0f'):>18} "
            f"{_stat(_column(results, name, 'peak_pss_all_shm_mb'), '.0f'):>18} "
            f"{_stat(_column(results, name, 'cpu_ms_per_image'), '.2f'):>18} "
            f"{_stat(_column(results, name, 'main_ms_per_batch'), '.2f'):>18}"
        )
    return "\n".join(lines)


def floors(results: list[dict[str, dict[str, Any]]], pss_limit: float) -> list[str]:
    """Issue 15's floors for the default visiondata pipeline, on the medians of this run."""
    med = statistics.median
    name = "visiondata"
    if any("skipped" in r.get(name, {"skipped": 1}) for r in results):
        return ["floors: visiondata did not run"]
    checks = [
        (">= 90% of the ceiling, epoch 1", _ratio(results, name, "ceiling"), 0.90, ">="),
        (
            f">= 90% of the ceiling, {LATER}",
            _ratio(results, name, "ceiling", "later_samples_per_s"),
            0.90,
            ">=",
        ),
        (
            ">= 2.3x webdataset + DataLoader, epoch 1",
            _ratio(results, name, "webdataset"),
            2.3,
            ">=",
        ),
        (
            f">= 2.3x webdataset + DataLoader, {LATER}",
            _ratio(results, name, "webdataset", "later_samples_per_s"),
            2.3,
            ">=",
        ),
        (
            f"peak PSS <= {pss_limit:.0f} MiB",
            _column(results, name, "peak_pss_mb"),
            pss_limit,
            "<=",
        ),
        ("first batch <= 0.3 s", _column(results, name, "first_batch_s"), 0.3, "<="),
    ]
    out = []
    for label, values, limit, op in checks:
        if not values:
            out.append(f"floor {label}: not measured")
            continue
        v = med(values)
        ok = v >= limit if op == ">=" else v <= limit
        out.append(f"floor {label}: median {v:.3g} -> {'met' if ok else 'MISSED'}")
    ran = all("visiondata-fresh" in r for r in results)
    fresh = _column(results, "visiondata-fresh", "peak_pss_all_shm_mb") if ran else []
    mine = _column(results, name, "peak_pss_all_shm_mb")
    if fresh and mine:
        # the same memory counted both ways: the ring's slots stay mapped (PSS sees them),
        # fresh batches waiting in a queue are mapped by no process (PSS misses them)
        out.append(
            f"  (with the batches in DataLoader's queues counted: {med(mine):.0f} MiB against "
            f"{med(fresh):.0f} for visiondata-fresh, the same loader without the ring)"
        )
    runs = [r[name] for r in results if r[name].get("epoch_gap_s") is not None]
    if runs:
        mean = med([r["epoch_gap_s"] / r["mean_interval_s"] for r in runs])
        p90 = med([r["p90_interval_s"] / r["mean_interval_s"] for r in runs])
        out.append(
            f"floor second epoch without a gap larger than one batch's time: median gap "
            f"{mean:.2f} mean batch intervals -> {'met' if mean <= 1 else 'MISSED'} "
            f"(within an epoch the 90th-percentile gap is {p90:.2f} mean intervals: the "
            f"epoch gap is {'not a' if mean <= p90 else 'a'} longer wait than those)"
        )
    return out


def make_shards(root: Path, count: int) -> Path:
    from photos import make_imagefolder
    from visiondata.loaders.convert import convert

    make_imagefolder(root / "imagefolder", count)
    convert("imagefolder", root / "imagefolder", root / "shards", split="train", shard_size="50MB")
    return root / "shards"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shards", type=Path, help="reuse shards made by an earlier run")
    ap.add_argument("--peers", nargs="+", default=PEERS, choices=PEERS)
    ap.add_argument("--visiondata", nargs="*", default=[], metavar="PxT")
    ap.add_argument("--pss-limit", type=float, default=310.0, help="MiB (today's figure)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run, args.shards)))
        return 0
    names = list(args.peers) + [f"visiondata:{c}" for c in args.visiondata]
    with tempfile.TemporaryDirectory() as tmp:
        shards = args.shards or make_shards(Path(tmp), args.count)
        print(f"shards: {shards} ({len(_urls(shards))} tars); {os.cpu_count()} CPUs")
        results = run_rounds(names, shards, args.rounds)
    print(render(results, names))
    for line in floors(results, args.pss_limit):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
