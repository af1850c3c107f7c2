"""Samples -> one batch dict keyed by field.

Tensors of equal shape and dtype stack into one tensor (so uint8 CHW images of one size
become ``B x C x H x W``); ints become an int64 tensor; anything else (images of different
sizes, strings, JSON) stays a list in sample order. ``__key__`` is always a list of keys.
Values wrapped in :class:`Ragged` (boxes, labels, keypoints: one tensor per sample with a
per-sample length) always stay a list, even when the lengths happen to agree, so user code
never sees padding or a type that depends on the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Ragged", "collate"]


@dataclass(frozen=True)
class Ragged:
    """Marks a per-sample value that must never be stacked across the batch."""

    value: Any


def _stack_tensors(values: list[Any]) -> Any:
    """Stack equal tensors; in a DataLoader worker, straight into shared memory (as torch's
    default_collate does), so the batch is not built privately and then copied to be sent."""
    import torch
    from torch.utils.data import get_worker_info

    first = values[0]
    if get_worker_info() is None or first.device.type != "cpu":
        return torch.stack(values)
    numel = sum(v.numel() for v in values)
    storage = first._typed_storage()._new_shared(numel, device=first.device)
    out = first.new(storage).resize_(len(values), *first.shape)
    return torch.stack(values, out=out)


def _stack(values: list[Any]) -> Any:
    import torch

    if values and any(isinstance(v, Ragged) for v in values):
        return [v.value if isinstance(v, Ragged) else v for v in values]
    if values and all(isinstance(v, torch.Tensor) for v in values):
        first = values[0]
        if all(v.shape == first.shape and v.dtype == first.dtype for v in values):
            return _stack_tensors(values)
        return values
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return torch.tensor(values, dtype=torch.int64)
    return values


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    fields: dict[str, None] = {"__key__": None}
    for s in samples:
        fields.update(dict.fromkeys(s))
    batch: dict[str, Any] = {}
    for f in fields:
        values = [s.get(f) for s in samples]
        batch[f] = values if f == "__key__" else _stack(values)
    return batch
