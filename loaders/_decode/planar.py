"""Channels-last pixels into a planar tensor, through the compiled ``_planar`` extension.

:func:`into_planar` is the batch's row copy for decoded images, and :func:`planar` the
contiguous form of one (with its flip folded in). Both fall back to torch, with the same
bytes, where the extension is not built (see ``_planar.c`` for why it exists: torch's strided
copy is about 5x slower on the three-way split).
"""

from __future__ import annotations

from typing import Any

try:
    from . import _planar
except ImportError:  # built without a C compiler (setup.py): torch copies instead
    _planar = None  # type: ignore[assignment]

__all__ = ["PLANAR_COPY", "into_planar", "planar"]

#: whether the compiled copy is built
PLANAR_COPY = _planar is not None


def _channels_last(v: Any) -> bool:
    """``v`` is a CPU uint8 (C, H, W) tensor whose bytes are (H, W, C) C-contiguous."""
    import torch

    if v.dtype != torch.uint8 or v.dim() != 3 or v.device.type != "cpu":
        return False
    c, _, w = v.shape
    return bool(v.stride() == (1, w * c, c))


def into_planar(dst: Any, v: Any, flip: bool = False) -> None:
    """Copy the (C, H, W) tensor ``v`` into the contiguous tensor ``dst`` of its shape and
    dtype, mirrored left to right with ``flip``: ``dst.copy_(v.flip(2) if flip else v)``."""
    if _planar is not None and _channels_last(v) and dst.is_contiguous() and v.numel():
        c, h, w = v.shape
        _planar.planar(v.permute(1, 2, 0).numpy(), dst.numpy(), h, w, c, flip)
        return
    dst.copy_(v.flip(2) if flip else v)


def planar(v: Any, flip: bool = False) -> Any:
    """A contiguous copy of the (C, H, W) tensor ``v``, mirrored left to right with ``flip``."""
    import torch

    if _planar is None or not _channels_last(v):
        return (v.flip(2) if flip else v).contiguous()
    out = torch.empty(v.shape, dtype=v.dtype)
    into_planar(out, v, flip)
    return out
