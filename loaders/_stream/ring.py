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

A slot's memory crosses to the main process once, not with every batch. Sent the usual way, a
shared tensor travels as a file descriptor (the main process connects to the worker to fetch
it), is mapped afresh, and its pages are faulted in again when the main process first reads
them: measured, 0.31 ms to receive a 64 x 3 x 224 x 224 batch and 0.66 ms to copy it out of a
fresh mapping, against 0.004 ms for a message without the descriptor and 0.10 ms to copy from
pages already mapped. So each slot's storage carries an id (62 random bits: not the worker's
pid, which a later worker in the same row may be given again, so its id could match a storage
the main process kept from the dead one and its batch would be read from stale memory); the
main process keeps the storage it received and writes its id in a second shared table
(``acked``), and while a slot's id is acknowledged the worker sends only where each tensor lies
in it. The batch's tensors are then views of one fresh tensor over the kept storage (through
NumPy, which gives it a storage object of its own), so "every tensor of the batch freed" is
still that object's finaliser. Only the process that made the table writes ``acked``, after it
holds the storage, so a batch sent without its storage always finds it there.
"""

from __future__ import annotations

import secrets
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from .._decode.collate import nbytes_of, view_in

__all__ = ["RingBatch", "RingTable", "WorkerRing"]

_ALIGN = 64
#: the tables of this process by token (the main process's, for batches coming back)
_TABLES: dict[str, _Kept] = {}


class _Kept:
    """What the main process holds for one table: its flags and acknowledgements, and each
    slot's storage as received (a uint8 NumPy view of it) with that storage's id."""

    __slots__ = ("acked", "flags", "slots")

    def __init__(self, flags: Any, acked: Any) -> None:
        self.flags, self.acked = flags, acked
        self.slots: dict[tuple[int, int], tuple[int, Any]] = {}


class RingTable:
    """The busy flags of every worker's slots: a shared uint8 tensor ``[workers, slots]``."""

    def __init__(self, workers: int, slots: int) -> None:
        import torch

        self.token = uuid.uuid4().hex
        self.flags = torch.zeros((max(1, workers), slots), dtype=torch.uint8)
        self.flags.share_memory_()  # type: ignore[no-untyped-call]
        #: the id of the storage the main process holds for each slot (0: none)
        self.acked = torch.zeros((max(1, workers), slots), dtype=torch.int64)
        self.acked.share_memory_()  # type: ignore[no-untyped-call]
        _TABLES[self.token] = _Kept(self.flags, self.acked)

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
        """Forget the slots' storages; a worker still sending sends each storage again."""
        if _TABLES.pop(self.token, None) is not None:
            self.acked.zero_()

    def __getstate__(self) -> dict[str, Any]:
        return {"token": self.token, "flags": self.flags, "acked": self.acked}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.token, self.flags, self.acked = state["token"], state["flags"], state["acked"]


class WorkerRing:
    """One worker's slots: shared storages reused batch after batch."""

    def __init__(self, table: RingTable, row: int) -> None:
        self.table = table
        self.row = row
        self.flags = table.flags[row]
        self.acked = table.acked[row]
        self._storages: list[Any] = [None] * table.slots
        self._ids: list[int] = [0] * table.slots
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
        """For :class:`~visiondata.loaders._decode.collate.Stacker`: ``alloc(specs)`` returns,
        for each ``(field, shape, dtype)``, an uninitialised tensor in slot ``slot``'s storage
        (grown if too small)."""
        self.touched = None

        def alloc(specs: Sequence[tuple[str, Any, Any]]) -> dict[str, Any]:
            import torch

            offsets, total = [], 0
            for _, shape, dtype in specs:
                offsets.append(total)
                total += -(-nbytes_of(shape, dtype) // _ALIGN) * _ALIGN
            storage = self._storages[slot]
            if storage is None or storage.nbytes() < total:
                storage = torch.UntypedStorage._new_shared(max(total, 1))  # type: ignore[no-untyped-call]
                self._storages[slot] = storage
                self._ids[slot] = secrets.randbits(62) | 1  # never 0, "none held"
                self.touched = False
            else:
                self.reused += 1
                self.touched = True
            base = torch.empty(0, dtype=torch.uint8).set_(storage)
            out = {}
            for (field, shape, dtype), offset in zip(specs, offsets, strict=True):
                out[field] = view_in(base, offset, shape, dtype)
            return out

        return alloc

    def send(self, slot: int, batch: Any) -> RingBatch:
        """Mark ``slot`` busy and wrap ``batch`` so the main process hands the slot back; the
        slot's storage goes with it unless the main process already holds that storage. The
        batch's tensors that lie in the slot (contiguous: rows of what :meth:`allocator` gave)
        travel as their place in it; a batch with none hands its slot straight back."""
        import torch

        self.flags[slot] = 1
        sid = self._ids[slot]
        slot_storage = self._storages[slot]
        layout: list[tuple[str, int, tuple[int, ...], Any]] = []
        if slot_storage is not None:
            start = slot_storage.data_ptr()
            for field, v in batch.items():
                if (
                    isinstance(v, torch.Tensor)
                    and v.is_contiguous()
                    and v.untyped_storage().data_ptr() == start
                ):
                    offset = int(v.storage_offset()) * v.element_size()
                    layout.append((str(field), offset, tuple(v.shape), v.dtype))
        storage = None
        if layout and int(self.acked[slot]) != sid:
            # as a uint8 tensor over it: sent as shared memory between processes, and as a
            # copy of its bytes by plain pickle (a bare storage does not pickle there)
            storage = torch.empty(0, dtype=torch.uint8).set_(slot_storage)
        return RingBatch(batch, self.table.token, self.row, slot, tuple(layout), sid, storage)


class RingBatch:
    """A batch whose stacked tensors (``layout``: field, byte offset, shape, dtype) live in a
    ring slot. Unpickled, it is the batch itself, with the slot handed back once none of
    those tensors is referenced. Pickled, the slot's tensors travel as their place in the
    slot, with the slot's ``storage`` (a uint8 tensor over all of it) only when the main
    process does not hold it yet."""

    __slots__ = ("batch", "layout", "row", "sid", "slot", "storage", "token")

    def __init__(
        self,
        batch: dict[str, Any],
        token: str,
        row: int,
        slot: int,
        layout: tuple[tuple[str, int, tuple[int, ...], Any], ...],
        sid: int,
        storage: Any,
    ) -> None:
        self.batch, self.token, self.row, self.slot = batch, token, row, slot
        self.layout, self.sid, self.storage = layout, sid, storage

    def __reduce__(self) -> tuple[Any, ...]:
        placed = {f for f, *_ in self.layout}
        rest = {f: (None if f in placed else v) for f, v in self.batch.items()}
        sent = (rest, self.token, self.row, self.slot, self.layout, self.sid, self.storage)
        return (_arrived, (sent,))


def _arrived(sent: tuple[Any, ...]) -> dict[str, Any]:
    """In the main process: the batch, its stacked tensors views of the slot's storage (kept
    from the first batch that brought it), and the slot handed back when they are all freed.
    ``sent`` is :meth:`RingBatch.__reduce__`'s: the batch without the slot's tensors, and
    where they lie."""
    import torch

    rest, token, row, slot, layout, sid, storage = sent
    batch: dict[str, Any] = rest

    kept = _TABLES.get(token)
    if kept is None:
        # unpickled somewhere that did not make the table: nothing is acknowledged there, so
        # the storage came along; the slot is never handed back (the worker takes fresh memory)
        if layout and storage is None:
            # sent before the table was closed (the loader is gone): nobody can take this
            # batch any more, and the storage it lies in was let go with the table
            raise RuntimeError(
                f"ring slot {slot} of worker {row}: a batch arrived after its loader's ring "
                "was closed"
            )
        if layout:
            _place(batch, storage, layout)
        return batch
    if not layout:
        kept.flags[row, slot] = 0
        return batch
    if storage is not None:
        kept.slots[row, slot] = (sid, storage.numpy())
        kept.acked[row, slot] = sid
    held, array = kept.slots.get((row, slot), (None, None))
    if held != sid:  # acknowledged only once held: a broken invariant, not bad input
        raise RuntimeError(f"ring slot {slot} of worker {row}: storage {sid} was never received")
    # one tensor with a storage object of its own (NumPy's buffer), so its finaliser says
    # when the batch's last tensor, or view of one, is gone
    whole = torch.from_numpy(array)
    _place(batch, whole, layout)
    flags = kept.flags
    weakref.finalize(whole.untyped_storage(), _release, flags, row, slot)
    return batch


def _place(
    batch: dict[str, Any], base: Any, layout: tuple[tuple[str, int, tuple[int, ...], Any], ...]
) -> None:
    for field, offset, shape, dtype in layout:
        batch[field] = view_in(base, offset, shape, dtype)


def _release(flags: Any, row: int, slot: int) -> None:
    flags[row, slot] = 0
