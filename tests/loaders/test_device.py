"""The GPU boundary: the CPU path here; the CUDA path where a GPU exists (same code)."""

from __future__ import annotations

import pytest
import torch
from visiondata.loaders._device import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DevicePrefetcher,
    normalize_uint8,
)


def _batches(n: int = 5, b: int = 4) -> list[dict[str, object]]:
    g = torch.Generator().manual_seed(0)
    return [
        {
            "__key__": [f"k{i}-{j}" for j in range(b)],
            "jpg": torch.randint(0, 256, (b, 3, 8, 8), dtype=torch.uint8, generator=g),
            "cls": torch.arange(b) + i,
            "boxes": [torch.zeros(j, 4) for j in range(b)],
        }
        for i in range(n)
    ]


def _expected(x: torch.Tensor) -> torch.Tensor:
    m = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    s = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x.float() / 255 - m) / s


def test_normalize_uint8() -> None:
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    out = normalize_uint8(x, None, None)
    assert out.dtype == torch.float32 and out.min() == 0 and out.max() == 1
    cl = normalize_uint8(
        torch.zeros(2, 3, 4, 4, dtype=torch.uint8), IMAGENET_MEAN, IMAGENET_STD, channels_last=True
    )
    assert cl.is_contiguous(memory_format=torch.channels_last)


def test_cpu_path_normalizes_and_passes_everything_else_through() -> None:
    src = _batches()
    out = list(DevicePrefetcher(src, device="cpu"))
    assert len(out) == len(src)
    for a, b in zip(src, out, strict=True):
        assert b["__key__"] == a["__key__"]
        assert torch.equal(b["cls"], a["cls"])
        assert b["boxes"] is a["boxes"]
        assert torch.allclose(b["jpg"], _expected(a["jpg"]))


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 2 pinned slots"):
        DevicePrefetcher([], device="cpu", ring=1)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            DevicePrefetcher([], device="cuda")


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (run benchmarks/gpu_check.py there)"
)
def test_cuda_path_is_bit_identical_to_cpu_path() -> None:
    src = _batches(n=9)
    cpu = list(DevicePrefetcher(src, device="cpu"))
    gpu = list(DevicePrefetcher(src, device="cuda", ring=2))
    torch.cuda.synchronize()
    for a, b in zip(cpu, gpu, strict=True):
        assert b["jpg"].is_cuda
        assert torch.equal(a["jpg"], b["jpg"].cpu())
        assert torch.equal(a["cls"], b["cls"].cpu())
