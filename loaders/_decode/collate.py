"""Samples -> one batch dict keyed by field.

Tensors of equal shape and dtype stack into one tensor (so uint8 CHW images of one size
become ``B x C x H x W``); ints become an int64 tensor; anything else (images of different
sizes, strings, JSON) stays a list in sample order. ``__key__`` is always a list of keys.
Values wrapped in :class:`Ragged` (boxes, labels, keypoints: one tensor per sample with a
per-sample length) always stay a list, even when the lengths happen to agree, so user code
never sees padding or a type that depends on the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Alloc", "Ragged", "collate"]

#: ``alloc([(field, shape, dtype), ...]) -> {field: tensor}``: where to stack each field (a
#: worker's ring of reused shared-memory buffers, :mod:`visiondata.loaders._stream.ring`)
Alloc = Callable[[Sequence[tuple[str, Any, Any]]], dict[str, Any]]


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


def _stackable(values: list[Any]) -> bool:
    import torch

    if not values or not all(isinstance(v, torch.Tensor) for v in values):
        return False
    first = values[0]
    return all(v.shape == first.shape and v.dtype == first.dtype for v in values)


def _stack(values: list[Any]) -> Any:
    import torch

    if values and any(isinstance(v, Ragged) for v in values):
        return [v.value if isinstance(v, Ragged) else v for v in values]
    if values and all(isinstance(v, torch.Tensor) for v in values):
        return _stack_tensors(values) if _stackable(values) else values
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return torch.tensor(values, dtype=torch.int64)
    return values


def collate(samples: Sequence[dict[str, Any]], alloc: Alloc | None = None) -> dict[str, Any]:
    """One batch dict from ``samples``. With ``alloc``, the stacked fields go into the tensors
    it gives (all CPU, in one call); without, into fresh memory (shared in a worker)."""
    import torch

    fields: dict[str, None] = {"__key__": None}
    for s in samples:
        fields.update(dict.fromkeys(s))
    columns: dict[str, list[Any]] = {f: [s.get(f) for s in samples] for f in fields}
    into: dict[str, Any] = {}
    if alloc is not None:
        specs = [
            (f, (len(col), *col[0].shape), col[0].dtype)
            for f, col in columns.items()
            if f != "__key__" and _stackable(col) and col[0].device.type == "cpu"
        ]
        into = alloc(specs) if specs else {}
    batch: dict[str, Any] = {}
    for f, values in columns.items():
        if f == "__key__":
            batch[f] = values
        elif f in into:
            batch[f] = torch.stack(values, out=into[f])
        else:
            batch[f] = _stack(values)
    return batch
