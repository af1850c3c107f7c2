"""The prepared GPU check (issue 7): run once on a machine with a CUDA GPU, in one go.

    python benchmarks/gpu_check.py [--count 2000] [--workers 8] [--batches 60]
        [--nvjpeg torchvision dali | --nvjpeg none]
    python benchmarks/gpu_check.py --dry-run    # the same steps on the CPU, to test the script

1. Correctness: the same Loader batches through DevicePrefetcher on "cpu" and on "cuda" must be
   bit-identical after the on-device uint8 -> float normalization.
2. Overlap: samples/s of the loader delivering to host memory vs to the GPU through the pinned
   ring and side stream (floors: within 10%, and no slower than the CPU path, which
   normalizes on the host), and, with a fake training step on the GPU, the
   time of step + data together vs the step alone (the copy should hide behind compute).
3. nvJPEG (``--nvjpeg``): decoding on the GPU instead of in the loader's workers, against the
   CPU decode path feeding the GPU (the loader's fused decode + crop, then the prefetcher):
   ``torchvision``: the loader hands over the JPEG bytes, ``torchvision.io.decode_jpeg(...,
   device="cuda")`` decodes the batch, and each image gets the crop box the CPU path draws for
   it (same per-sample generator), resized on the GPU; the mean difference from the CPU path's
   pixels is reported. ``dali``: DALI's mixed decoder (``fn.decoders.image_random_crop(device=
   "mixed")``, region decode on nvJPEG) with its own reader and crops. samples/s of each, and
   the ratio to the CPU path. With ``--dry-run`` the same code runs on the CPU (DALI's "cpu"
   decoder, torchvision's CPU decode_jpeg), where each is installed; one that cannot be
   imported is reported as skipped with the reason.
Prints one JSON line with every figure at the end; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from photos import make_imagefolder
from visiondata.loaders import Loader
from visiondata.loaders._decode.cropbox import random_resized_crop_box
from visiondata.loaders._decode.fields import sample_rng
from visiondata.loaders._decode.imageops import RandomResizedCrop
from visiondata.loaders._device import DevicePrefetcher
from visiondata.loaders.convert import convert


def make_loader(shards: Path, workers: int, seed: int = 0) -> Loader:
    return Loader(
        shards,
        batch_size=64,
        num_workers=workers,
        seed=seed,
        fields=["jpg", "cls"],
        decode={"jpg": RandomResizedCrop((224, 224)), "cls": "cls"},
        drop_last=True,
    )


def rate(batches: object, limit: int, device: str, step: object = None) -> float:
    samples = 0
    t0 = time.perf_counter()
    for n, batch in enumerate(batches):  # type: ignore[call-overload]
        if n > limit:
            break
        if n == 1:  # time from the second batch on
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            samples = 0
        if step is not None:
            step(batch["jpg"])  # type: ignore[operator]
        samples += len(batch["cls"])
    if device == "cuda":
        torch.cuda.synchronize()
    return samples / (time.perf_counter() - t0)


def torchvision_nvjpeg(shards: Path, workers: int, device: str) -> Iterator[dict[str, Any]]:
    """Loader hands over JPEG bytes; torchvision decodes the batch on ``device`` and each image
    is cropped with the box RandomResizedCrop would draw for it (epoch 0, seed 0)."""
    from torchvision.io import decode_jpeg
    from torchvision.transforms.v2 import functional as F

    loader = Loader(
        shards,
        batch_size=64,
        num_workers=workers,
        seed=0,
        fields=["jpg", "cls"],
        decode={"jpg": "bytes", "cls": "cls"},
        drop_last=True,
    )
    for batch in loader:
        raw = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in batch["jpg"]]
        images = decode_jpeg(raw, device=device)
        out = []
        for key, img in zip(batch["__key__"], images, strict=True):
            h, w = img.shape[-2:]
            box = random_resized_crop_box(w, h, sample_rng((0, 0), key, "jpg"))
            crop = F.resized_crop(
                img,
                round(box.top),
                round(box.left),
                max(1, round(box.height)),
                max(1, round(box.width)),
                [224, 224],
                antialias=True,
            )
            out.append(crop.flip(-1) if box.flip else crop)
        yield {"__key__": batch["__key__"], "jpg": torch.stack(out), "cls": batch["cls"].to(device)}


def dali_nvjpeg(shards: Path, device: str) -> Iterator[dict[str, Any]]:
    """DALI's own pipeline: its reader, the mixed (nvJPEG) decoder with region decode, resize
    and mirror on the GPU; on the CPU (dry run) the same graph with the "cpu" decoder."""
    from nvidia.dali import fn, pipeline_def, types
    from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

    urls = sorted(str(p) for p in shards.glob("*.tar"))
    on_gpu = device == "cuda"

    @pipeline_def(batch_size=64, num_threads=4, device_id=0 if on_gpu else None, seed=0)  # type: ignore[misc]
    def pipe() -> Any:
        jpegs, labels = fn.readers.webdataset(paths=urls, ext=["jpg", "cls"], name="r")
        images = fn.decoders.image_random_crop(
            jpegs, device="mixed" if on_gpu else "cpu", output_type=types.RGB
        )
        images = fn.resize(images, resize_x=224, resize_y=224, antialias=True)
        images = fn.crop_mirror_normalize(
            images, dtype=types.UINT8, output_layout="CHW", mirror=fn.random.coin_flip()
        )
        return images, labels

    it = DALIGenericIterator(
        [pipe()], ["jpg", "cls"], reader_name="r", last_batch_policy=LastBatchPolicy.DROP
    )
    for (batch,) in it:
        yield batch


def nvjpeg_figures(
    shards: Path, workers: int, batches: int, device: str, backends: list[str]
) -> dict[str, object]:
    """samples/s of each nvJPEG path and of the CPU decode path feeding ``device``."""
    figures: dict[str, object] = {}
    cpu_path = rate(DevicePrefetcher(make_loader(shards, workers), device=device), batches, device)
    figures["nvjpeg_cpu_decode_path_samples_per_s"] = round(cpu_path, 1)
    for name in backends:
        make = {
            "torchvision": lambda: torchvision_nvjpeg(shards, workers, device),
            "dali": lambda: dali_nvjpeg(shards, device),
        }[name]
        try:
            got = rate(make(), batches, device)
        except ImportError as exc:
            figures[f"nvjpeg_{name}"] = f"skipped: {type(exc).__name__}: {exc}"
            continue
        except Exception as exc:  # e.g. torchvision built for another torch
            figures[f"nvjpeg_{name}"] = f"skipped: {type(exc).__name__}: {exc}"
            continue
        figures[f"nvjpeg_{name}_samples_per_s"] = round(got, 1)
        figures[f"nvjpeg_{name}_over_cpu_path"] = round(got / cpu_path, 3)
    if "torchvision" in backends and "nvjpeg_torchvision_samples_per_s" in figures:
        cpu = next(iter(DevicePrefetcher(make_loader(shards, 0), device=device, normalize=False)))
        gpu = next(iter(torchvision_nvjpeg(shards, 0, device)))
        assert cpu["__key__"] == gpu["__key__"]
        diff = (cpu["jpg"].float() - gpu["jpg"].float()).abs().mean().item()
        figures["nvjpeg_torchvision_mean_abs_diff_grey_levels"] = round(diff, 3)
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--dry-run", action="store_true", help="use the CPU (tests the script itself)")
    ap.add_argument(
        "--nvjpeg",
        nargs="+",
        default=["torchvision", "dali"],
        choices=["torchvision", "dali", "none"],
        help="GPU decode paths to measure against the CPU decode path (none: skip step 4)",
    )
    args = ap.parse_args()
    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --dry-run to test the script on the CPU")
        return 2
    figures: dict[str, object] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"
    }
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        src, shards = Path(tmp) / "src", Path(tmp) / "shards"
        make_imagefolder(src, args.count)
        convert("imagefolder", src, shards, split="train", shard_size="50MB")

        # 1. bit-identical batches: CPU normalization vs GPU normalization
        cpu = DevicePrefetcher(make_loader(shards, 2), device="cpu")
        dev = DevicePrefetcher(make_loader(shards, 2), device=device)
        same = 0
        for i, (a, b) in enumerate(zip(cpu, dev, strict=False)):
            if i >= 5:
                break
            assert a["__key__"] == b["__key__"]
            same += int(
                torch.equal(a["jpg"], b["jpg"].cpu()) and torch.equal(a["cls"], b["cls"].cpu())
            )
        figures["bit_identical_batches"] = f"{same}/5"
        ok &= same == 5

        # 2. throughput to host memory vs to the device, same loader settings, alternated and
        # best of two (shared machines are noisy); the CPU path normalizes on the host
        paths = {  # name: (batches, where they end up)
            "host": (lambda: make_loader(shards, args.workers), "cpu"),
            "device": (
                lambda: DevicePrefetcher(make_loader(shards, args.workers), device=device),
                device,
            ),
            "cpu_path": (
                lambda: DevicePrefetcher(make_loader(shards, args.workers), device="cpu"),
                "cpu",
            ),
        }
        best = dict.fromkeys(paths, 0.0)
        for _ in range(2):
            for name, (make, where) in paths.items():
                best[name] = max(best[name], rate(make(), args.batches, where))
        host, to_dev, cpu_path = best["host"], best["device"], best["cpu_path"]
        figures["samples_per_s_to_host"] = round(host, 1)
        figures["samples_per_s_to_device"] = round(to_dev, 1)
        figures["samples_per_s_cpu_path"] = round(cpu_path, 1)
        figures["device_over_host"] = round(to_dev / host, 3)
        figures["device_over_cpu_path"] = round(to_dev / cpu_path, 3)
        if device == "cuda":  # the floors mean nothing when "device" is the CPU itself
            ok &= to_dev >= 0.9 * host and to_dev >= cpu_path

        # 3. overlap with a fake training step on the device
        weight = torch.randn(3 * 224 * 224 // 64, 4096, device=device)

        def step(x: torch.Tensor) -> None:
            y = x.reshape(x.shape[0] * 64, -1) @ weight
            for _ in range(4):
                y = torch.tanh(y) @ weight.T @ weight

        fake = torch.zeros(64, 3, 224, 224, device=device)
        t0 = time.perf_counter()
        for _ in range(20):
            step(fake)
        if device == "cuda":
            torch.cuda.synchronize()
        step_only = 20 * 64 / (time.perf_counter() - t0)
        with_data = rate(
            DevicePrefetcher(make_loader(shards, args.workers), device=device),
            args.batches,
            device,
            step,
        )
        figures["samples_per_s_step_only"] = round(step_only, 1)
        figures["samples_per_s_step_with_data"] = round(with_data, 1)
        figures["expected_if_hidden"] = round(min(step_only, to_dev), 1)

        # 4. nvJPEG: decode on the device against the CPU decode path feeding it
        backends = [b for b in args.nvjpeg if b != "none"]
        if backends:
            figures.update(nvjpeg_figures(shards, args.workers, args.batches, device, backends))
    print(json.dumps(figures))
    verdict = "passed" if ok else "FAILED"
    if device == "cpu":
        verdict += " (dry run: correctness only; the throughput floors are judged on a GPU)"
    print("gpu check:", verdict)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
