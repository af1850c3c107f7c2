"""A ring of reused shared-memory batch buffers for each worker process.

Stacking a batch into fresh shared memory costs a page fault per 4 KiB (zero-filled pages, a
mapping made and torn down per batch: about 8 ms for 64 images of 224 x 224, against 1 ms into
pages already touched). So each worker keeps ``slots`` buffers and stacks every batch's
tensors into a free one; the main process hands the slot back when it no longer holds any
tensor of that batch (the user dropped it, or the device prefetcher copied it to pinned
memory and let go).

The hand-back goes through a small shared table of flags, one row per worker and one byte
per slot, made in the main process (:class:`RingTable`). A worker marks a slot busy before
it sends the batch; the batch travels as a :class:`RingBatch`, which, when the main process
unpickles it, registers a finalizer on the shared storage the tensors view: when the last of
them is freed, the flag is cleared. Every batch a worker sends is unpickled in the main
process (also those DataLoader discards when a pass is cut short), so no slot is lost; and
where no slot is free (the user keeps many batches) the worker stacks into fresh shared
memory as before and counts it, so a held batch is never overwritten and nothing waits.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["RingBatch", "RingTable", "WorkerRing"]

_ALIGN = 64
#: the tables of this process by token (the main process's, for batches coming back)
_TABLES: dict[str, Any] = {}


class RingTable:
    """The busy flags of every worker's slots: a shared uint8 tensor ``[workers, slots]``."""

    def __init__(self, workers: int, slots: int) -> None:
        import torch

        self.token = uuid.uuid4().hex
        self.flags = torch.zeros((max(1, workers), slots), dtype=torch.uint8)
        self.flags.share_memory_()  # type: ignore[no-untyped-call]
        _TABLES[self.token] = self.flags

    @property
    def slots(self) -> int:
        return int(self.flags.shape[1])

    @property
    def workers(self) -> int:
        return int(self.flags.shape[0])

    def busy(self) -> int:
        """Slots handed out and not yet back (all workers)."""
        return int(self.flags.sum())

    def close(self) -> None:
        _TABLES.pop(self.token, None)

    def __getstate__(self) -> dict[str, Any]:
        return {"token": self.token, "flags": self.flags}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.token, self.flags = state["token"], state["flags"]


class WorkerRing:
    """One worker's slots: shared storages reused batch after batch."""

    def __init__(self, table: RingTable, row: int) -> None:
        self.table = table
        self.row = row
        self.flags = table.flags[row]
        self._storages: list[Any] = [None] * table.slots
        self._fields: list[tuple[str, ...]] = [()] * table.slots
        self.reused = 0  # batches stacked into a slot that had been used before
        self.fresh = 0  # batches that found no free slot and took fresh shared memory
        #: whether the last batch stacked into pages touched before (None: nothing stacked)
        self.touched: bool | None = None

    def acquire(self) -> int | None:
        """The first free slot, or None when every slot is still held by the main process.
        Lowest first, so only as many slots are ever touched (and kept in memory) as batches
        are out at once; the rest stay unallocated."""
        for k in range(len(self._storages)):
            if int(self.flags[k]) == 0:
                return k
        self.fresh += 1
        return None

    def allocator(self, slot: int) -> Callable[[Sequence[tuple[str, Any, Any]]], dict[str, Any]]:
        """For :func:`~visiondata.loaders._decode.collate.collate`: ``alloc(specs)`` returns,
        for each ``(field, shape, dtype)``, an uninitialised tensor in slot ``slot``'s storage
        (grown if too small), and remembers the fields for :meth:`send` (none until it is
        called: a batch with nothing to stack hands its slot straight back)."""
        self._fields[slot] = ()
        self.touched = None

        def alloc(specs: Sequence[tuple[str, Any, Any]]) -> dict[str, Any]:
            import torch

            offsets, sizes, total = [], [], 0
            for _, shape, dtype in specs:
                nbytes = torch.Size(shape).numel() * torch.empty(0, dtype=dtype).element_size()
                offsets.append(total)
                sizes.append(nbytes)
                total += -(-nbytes // _ALIGN) * _ALIGN
            storage = self._storages[slot]
            if storage is None or storage.nbytes() < total:
                storage = torch.UntypedStorage._new_shared(max(total, 1))  # type: ignore[no-untyped-call]
                self._storages[slot] = storage
                self.touched = False
            else:
                self.reused += 1
                self.touched = True
            base = torch.empty(0, dtype=torch.uint8).set_(storage)
            out = {}
            for (field, shape, dtype), offset, nbytes in zip(specs, offsets, sizes, strict=True):
                out[field] = base[offset : offset + nbytes].view(dtype).view(shape)
            self._fields[slot] = tuple(out)
            return out

        return alloc

    def send(self, slot: int, batch: Any) -> RingBatch:
        """Mark ``slot`` busy and wrap ``batch`` so the main process hands the slot back."""
        self.flags[slot] = 1
        return RingBatch(batch, self.table.token, self.row, slot, self._fields[slot])


class RingBatch:
    """A batch whose stacked tensors (``fields``) live in a ring slot. Unpickled, it is the
    batch itself, with the slot handed back once none of those tensors is referenced."""

    __slots__ = ("batch", "fields", "row", "slot", "token")

    def __init__(
        self, batch: dict[str, Any], token: str, row: int, slot: int, fields: tuple[str, ...]
    ) -> None:
        self.batch, self.token, self.row, self.slot, self.fields = batch, token, row, slot, fields

    def __reduce__(self) -> tuple[Any, ...]:
        return (_arrived, (self.batch, self.token, self.row, self.slot, self.fields))


def _arrived(
    batch: dict[str, Any], token: str, row: int, slot: int, fields: tuple[str, ...]
) -> dict[str, Any]:
    """In the main process: hand the slot back when the slot's tensors are all freed."""
    flags = _TABLES.get(token)
    if flags is None:  # unpickled somewhere that did not make the table: never handed back
        return batch
    storages: dict[int, Any] = {}
    for f in fields:
        s = batch[f].untyped_storage()
        storages.setdefault(s.data_ptr(), s)
    left = [len(storages)]
    lock = threading.Lock()

    def release() -> None:
        with lock:
            left[0] -= 1
            if left[0] == 0:
                flags[row, slot] = 0

    for s in storages.values():
        weakref.finalize(s, release)
    if not storages:
        flags[row, slot] = 0
    return batch
