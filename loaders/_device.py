"""The one GPU boundary: pinned-memory ring buffers, side-stream copies, on-device normalize.

CPU stages hand over batches whose images are uint8 tensors (B, C, H, W). :class:`DevicePrefetcher`
copies each batch into a reused pinned buffer, starts its host-to-device copy with
``non_blocking=True`` on a side CUDA stream while the previous batch trains, and hands the
batch over once the main stream has waited for the copy. Events guard every buffer: a pinned
slot is refilled only after its previous copy finished, and device tensors are marked as used by
the main stream so the caching allocator cannot recycle them early. On the device: uint8 to
float, normalization, optional channels_last. ``device="cpu"`` runs the same code without CUDA,
looking ahead by one batch just the same.

The prefetcher is a stage that looks ahead, so it reports the state of what it has *delivered*:
with each batch it takes from its source it records the source's state, and
:meth:`DevicePrefetcher.state_dict` (and the wrapped :class:`~visiondata.loaders.Loader`'s own
``state_dict()``) returns the state as of the batch the user last received, not of the one
being copied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from .errors import StateError
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


class _Event(Protocol):
    def record(self) -> None: ...
    def synchronize(self) -> None: ...


class _Transfer(Protocol):
    """What the ring needs from a device: host buffers, copies started on a side stream, an
    event after them, and the hand-over to the main stream. :class:`_CudaTransfer` is the real
    one; the tests drive the same :class:`_Ring` with a CPU stand-in."""

    def host_buffer(self, like: torch.Tensor) -> torch.Tensor: ...
    def side(self) -> AbstractContextManager[Any]: ...
    def start_copy(self, buf: torch.Tensor) -> torch.Tensor: ...
    def event(self) -> _Event: ...
    def hand_over(self, ready: Mapping[str, Any]) -> None: ...


@dataclass
class _Slot:
    buffers: dict[str, torch.Tensor]
    copied: _Event | None = None  # recorded after the slot's last copy


class _Ring:
    """``size`` slots of host buffers, reused round-robin: batch ``k`` goes through slot
    ``k % size``, which is refilled only after the event of its previous copy, and keeps a
    field's buffer while that field's shape and dtype stay the same."""

    def __init__(self, size: int, transfer: _Transfer) -> None:
        self.size = size
        self.transfer = transfer
        self.slots: list[_Slot] = []

    def slot_for(self, index: int, batch: Mapping[str, Any]) -> _Slot:
        i = index % self.size
        if i == len(self.slots):
            self.slots.append(_Slot({}))
        slot = self.slots[i]
        if slot.copied is not None:
            slot.copied.synchronize()  # the slot's previous copy must be done before we overwrite it
        for k, v in batch.items():
            if not isinstance(v, torch.Tensor):
                continue
            buf = slot.buffers.get(k)
            if buf is None or buf.shape != v.shape or buf.dtype != v.dtype:
                buf = self.transfer.host_buffer(v)
                slot.buffers[k] = buf
            buf.copy_(v)
        return slot

    def copy(
        self, index: int, batch: Mapping[str, Any], finish: Callable[[dict[str, Any]], Any]
    ) -> dict[str, Any]:
        """Fill batch ``index``'s slot and start its copies on the side stream (the slot's
        event follows them), then ``finish`` the copied batch there too (normalize)."""
        slot = self.slot_for(index, batch)
        with self.transfer.side():
            # only this batch's tensors: a slot keeps buffers of fields that were tensors in
            # earlier batches (images of one size) and may be lists now (mixed sizes)
            moved = {
                k: self.transfer.start_copy(slot.buffers[k]) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items()
            }
            slot.copied = self.transfer.event()
            slot.copied.record()
            out: dict[str, Any] = finish(moved)
            return out


class _CudaEvent:
    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.event = torch.cuda.Event()  # type: ignore[no-untyped-call]

    def record(self) -> None:
        self.event.record(self.stream)

    def synchronize(self) -> None:
        self.event.synchronize()  # type: ignore[no-untyped-call]


class _CudaTransfer:
    """Pinned buffers, non-blocking copies on a side stream, CUDA events."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stream = torch.cuda.Stream(device=device)  # type: ignore[no-untyped-call]

    def host_buffer(self, like: torch.Tensor) -> torch.Tensor:
        return torch.empty(like.shape, dtype=like.dtype, pin_memory=True)

    def side(self) -> AbstractContextManager[Any]:
        return torch.cuda.stream(self.stream)

    def start_copy(self, buf: torch.Tensor) -> torch.Tensor:
        return buf.to(self.device, non_blocking=True)

    def event(self) -> _Event:
        return _CudaEvent(self.stream)

    def hand_over(self, ready: Mapping[str, Any]) -> None:
        """Make the main stream wait for the copy, and keep the allocator from recycling the
        device tensors (allocated on the side stream) while the main stream uses them."""
        main = torch.cuda.current_stream(self.device)  # the consumer's stream, as of now
        main.wait_stream(self.stream)
        for v in ready.values():
            if isinstance(v, torch.Tensor) and v.is_cuda:
                v.record_stream(main)


class DevicePrefetcher:
    """Iterate ``batches`` (dicts) and yield them on ``device`` with images normalized.

    ``image_keys`` name the uint8 image fields to normalize (``normalize=False`` keeps them
    uint8); by default every field whose extension the shard layer's member table calls an
    image (``jpg``, ``jpeg``, ``png``, ``webp``, ...), and ``image`` (what
    :class:`DetectionTransform` returns). Other tensors are moved as they are, everything else
    (keys, lists of boxes) passes through. ``ring`` pinned slots are reused.

    ``state_dict()`` / ``load_state_dict()`` pass through to a source that has them (a
    :class:`~visiondata.loaders.Loader`, torchdata's ``StatefulDataLoader``), as of the batch
    last handed to the user.
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
        self._delivered: dict[str, Any] | None = None  # source state as of the last hand-over
        self._ring: _Ring | None = None

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    # -- state: as of the batch last handed over ------------------------------------------------

    def _source_state(self) -> Callable[[], dict[str, Any]] | None:
        """How to read the source's position right after taking a batch from it (a Loader's
        own position, not what it reports while wrapped)."""
        take = getattr(self.batches, "_snapshot", None) or getattr(self.batches, "state_dict", None)
        return take if callable(take) else None

    def _hand_over(self, batch: dict[str, Any], state: dict[str, Any] | None) -> dict[str, Any]:
        self._delivered = state
        report = getattr(self.batches, "_report_delivered", None)
        if state is not None and callable(report):
            report(state)
        return batch

    def state_dict(self) -> dict[str, Any]:
        """The source's state as of the batch last handed to the user (before the first one:
        as of the start of the pass)."""
        if self._delivered is not None:
            return dict(self._delivered)
        take = getattr(self.batches, "state_dict", None)
        if not callable(take):
            raise StateError(
                f"the prefetcher's source ({type(self.batches).__name__}) has no state_dict()"
            )
        return dict(take())

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load = getattr(self.batches, "load_state_dict", None)
        if not callable(load):
            raise StateError(
                f"the prefetcher's source ({type(self.batches).__name__}) has no load_state_dict()"
            )
        load(state)
        self._delivered = None

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

    def _moved(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
        }

    def _transfer(self) -> _Transfer | None:
        """The device's side of the ring: CUDA streams and events; none on the CPU, where a
        batch is moved as it is (the tests run the ring with a CPU stand-in)."""
        return _CudaTransfer(self.device) if self.device.type == "cuda" else None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Batch k+1 is taken from the source (and, on CUDA, its copy started) before batch k
        is handed over; each hand-over records the source's state taken with that batch."""
        source = iter(self.batches)
        take = self._source_state()
        self._hand_over({}, None if take is None else dict(take()))
        if self._ring is None:  # one ring for every pass: its pinned buffers are reused
            transfer = self._transfer()
            self._ring = None if transfer is None else _Ring(self.ring, transfer)
        ring = self._ring
        transfer = None if ring is None else ring.transfer
        pending: tuple[dict[str, Any], dict[str, Any] | None] | None = None
        for index, batch in enumerate(source):
            state = None if take is None else dict(take())
            ready = (
                ring.copy(index, batch, self._finish)
                if ring is not None
                else self._finish(self._moved(batch))
            )
            if pending is not None:
                yield self._hand_over(*pending)
            if transfer is not None:
                transfer.hand_over(ready)
            pending = (ready, state)
        if pending is not None:
            yield self._hand_over(*pending)
        self._hand_over({}, None if take is None else dict(take()))  # the pass is over
