"""The one GPU boundary: pinned-memory ring buffers, side-stream copies, on-device normalize.

CPU stages hand over batches whose images are uint8 tensors (B, C, H, W). :class:`DevicePrefetcher`
copies each batch into a reused pinned buffer, starts its host-to-device copy with
``non_blocking=True`` on a side CUDA stream while the previous batch trains, and hands the
batch over once the main stream has waited for the copy. Events guard every buffer: a pinned
slot is refilled only after its previous copy finished, and device tensors are marked as used by
the main stream so the caching allocator cannot recycle them early. On the device: uint8 to
float, normalization, optional channels_last. ``device="cpu"`` runs the same code without CUDA.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .shards.members import kind_of

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "DevicePrefetcher", "normalize_uint8"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_uint8(
    x: torch.Tensor,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> torch.Tensor:
    """uint8 (B, C, H, W) -> ``dtype`` scaled to 0..1 and normalized per channel."""
    out = x.to(dtype).div_(255.0)
    if mean is not None and std is not None:
        m = torch.tensor(mean, dtype=dtype, device=x.device).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=dtype, device=x.device).view(1, -1, 1, 1)
        out.sub_(m).div_(s)
    if channels_last and out.ndim == 4:
        out = out.contiguous(memory_format=torch.channels_last)
    return out


def _is_image(field: str) -> bool:
    return field == "image" or kind_of(field) == "image"


@dataclass
class _Slot:
    buffers: dict[str, torch.Tensor]
    copied: Any = None  # torch.cuda.Event recorded after the slot's last H2D copy


class DevicePrefetcher:
    """Iterate ``batches`` (dicts) and yield them on ``device`` with images normalized.

    ``image_keys`` name the uint8 image fields to normalize (``normalize=False`` keeps them
    uint8); by default every field whose extension the shard layer's member table calls an
    image (``jpg``, ``jpeg``, ``png``, ``webp``, ...), and ``image`` (what
    :class:`DetectionTransform` returns). Other tensors are moved as they are, everything else
    (keys, lists of boxes) passes through. ``ring`` pinned slots are reused.
    """

    def __init__(
        self,
        batches: Iterable[dict[str, Any]],
        device: str | torch.device = "cuda",
        *,
        image_keys: Sequence[str] | None = None,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
        normalize: bool = True,
        ring: int = 3,
    ) -> None:
        self.batches = batches
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                "device='cuda' was asked for but CUDA is not available (use device='cpu')"
            )
        if ring < 2:
            raise ValueError(f"ring must hold at least 2 pinned slots, got {ring}")
        self.image_keys = None if image_keys is None else tuple(image_keys)
        self.mean, self.std, self.dtype, self.channels_last = mean, std, dtype, channels_last
        self.normalize = normalize
        self.ring = ring
        self._slots: list[_Slot] = []

    # -- the CPU side of the boundary: same code, no copies ------------------------------------

    def _finish(self, batch: dict[str, Any]) -> dict[str, Any]:
        if not self.normalize:
            return batch
        out = dict(batch)
        keys = self.image_keys if self.image_keys is not None else [k for k in out if _is_image(k)]
        for key in keys:
            value = out.get(key)
            if isinstance(value, torch.Tensor) and value.dtype == torch.uint8:
                out[key] = normalize_uint8(
                    value, self.mean, self.std, self.dtype, self.channels_last
                )
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.device.type != "cuda":
            for batch in self.batches:
                moved = {
                    k: v.to(self.device) if isinstance(v, torch.Tensor) else v
                    for k, v in batch.items()
                }
                yield self._finish(moved)
            return
        yield from self._cuda_iter()

    # -- the CUDA side ------------------------------------------------------------------------

    def _slot_for(self, index: int, batch: dict[str, Any]) -> _Slot:
        i = index % self.ring
        tensors = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
        if i == len(self._slots):
            self._slots.append(_Slot({}))
        slot = self._slots[i]
        if slot.copied is not None:
            slot.copied.synchronize()  # the slot's previous copy must be done before we overwrite it
        for k, v in tensors.items():
            buf = slot.buffers.get(k)
            if buf is None or buf.shape != v.shape or buf.dtype != v.dtype:
                buf = torch.empty(v.shape, dtype=v.dtype, pin_memory=True)
                slot.buffers[k] = buf
            buf.copy_(v)
        return slot

    def _cuda_iter(self) -> Iterator[dict[str, Any]]:
        side = torch.cuda.Stream(device=self.device)  # type: ignore[no-untyped-call]
        main = torch.cuda.current_stream(self.device)
        pending: dict[str, Any] | None = None
        for index, batch in enumerate(self.batches):
            slot = self._slot_for(index, batch)
            with torch.cuda.stream(side):
                moved: dict[str, Any] = {}
                for k, v in batch.items():
                    # only this batch's tensors: a slot keeps buffers of fields that were tensors
                    # in earlier batches (images of one size) and may be lists now (mixed sizes)
                    moved[k] = (
                        slot.buffers[k].to(self.device, non_blocking=True)
                        if isinstance(v, torch.Tensor)
                        else v
                    )
                slot.copied = torch.cuda.Event()  # type: ignore[no-untyped-call]
                slot.copied.record(side)
                ready = self._finish(moved)
            if pending is not None:
                yield pending
            main.wait_stream(side)
            for v in ready.values():
                if isinstance(v, torch.Tensor) and v.is_cuda:
                    v.record_stream(main)  # allocated on the side stream, used on the main one
            pending = ready
        if pending is not None:
            yield pending
