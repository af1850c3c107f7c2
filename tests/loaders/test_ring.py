"""The ring of reused shared-memory batch buffers, between a real forked worker and this process:
a slot is reused only after every tensor of its batch (views included) is freed here; a worker
that finds no free slot stacks into fresh shared memory instead of waiting or overwriting."""

from __future__ import annotations

import gc
import pickle
from collections.abc import Iterator
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as tmp
from visiondata.loaders import Loader, World
from visiondata.loaders._decode.collate import collate
from visiondata.loaders._stream.ring import RingTable, WorkerRing

from .loader_fakes import make_shards, png_bytes


def _samples(i: int) -> list[dict[str, Any]]:
    return [
        {
            "__key__": f"b{i}s{j}",
            "x": torch.full((3, 40, 50), (10 * i + j) % 256, dtype=torch.uint8),
            "m": torch.full((40, 50), i, dtype=torch.int32),
            "cls": j,
        }
        for j in range(4)
    ]


def _pickled(sent: Any) -> bytes:
    """``sent`` as DataLoader's queues pickle it (shared storages as descriptors)."""
    return bytes(ForkingPickler.dumps(sent))


def _worker(table: RingTable, todo: Any, done: Any) -> None:
    ring = WorkerRing(table, 0)
    while (i := todo.get(timeout=60)) is not None:
        slot = ring.acquire()
        if slot is None:
            done.put((i, None, collate(_samples(i))))
        else:
            done.put((i, slot, ring.send(slot, collate(_samples(i), ring.allocator(slot)))))
    done.put(("counts", ring.reused, ring.fresh))


@pytest.fixture()
def worker() -> Iterator[tuple[RingTable, Any, Any]]:
    ctx = tmp.get_context("fork")
    table = RingTable(workers=1, slots=3)
    todo, done = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_worker, args=(table, todo, done), daemon=True)
    proc.start()
    yield table, todo, done
    if proc.is_alive():
        todo.put(None)
    proc.join(timeout=30)
    table.close()
    assert proc.exitcode == 0


def _check(batch: dict[str, Any], i: int) -> None:
    assert batch["__key__"] == [f"b{i}s{j}" for j in range(4)]
    assert batch["x"].shape == (4, 3, 40, 50) and batch["m"].shape == (4, 40, 50)
    for j in range(4):
        assert bool((batch["x"][j] == (10 * i + j) % 256).all())
    assert bool((batch["m"] == i).all())
    assert batch["cls"].tolist() == [0, 1, 2, 3]


def _get(todo: Any, done: Any, i: int) -> tuple[int | None, dict[str, Any]]:
    todo.put(i)
    got, slot, batch = done.get(timeout=60)
    assert got == i
    _check(batch, i)
    return slot, batch


def test_slots_come_back_when_the_batch_is_freed(worker: tuple[RingTable, Any, Any]) -> None:
    table, todo, done = worker
    held = {}
    for i in range(3):  # three slots, three batches held
        slot, held[i] = _get(todo, done, i)
        assert slot == i
    assert table.busy() == 3
    slot, extra = _get(todo, done, 3)  # no free slot: fresh shared memory, nothing overwritten
    assert slot is None
    for i in range(3):
        _check(held[i], i)
    view = held[1]["x"][2]  # a view keeps its slot
    del held[0], held[1], extra
    gc.collect()
    assert table.flags[0].tolist() == [0, 1, 1]
    slot, b4 = _get(todo, done, 4)
    assert slot == 0  # the freed slot, reused
    assert bool((view == (10 + 2) % 256).all())  # untouched while held
    del view, b4
    gc.collect()
    assert table.flags[0].tolist() == [0, 0, 1]
    for i in range(5, 12):  # steady state: each batch dropped before the next
        slot, b = _get(todo, done, i)
        assert slot is not None
        del b
    del held
    gc.collect()
    assert table.busy() == 0
    todo.put(None)
    assert done.get(timeout=60) == ("counts", 8, 1)  # 8 reuses of touched pages, 1 fresh


def test_a_table_this_process_did_not_make_hands_nothing_back() -> None:
    """A RingBatch unpickled where no table is registered stays a plain batch."""

    table = RingTable(workers=1, slots=1)
    ring = WorkerRing(table, 0)
    slot = ring.acquire()
    assert slot == 0
    sent = ring.send(slot, collate(_samples(7), ring.allocator(slot)))
    table.close()
    batch = pickle.loads(pickle.dumps(sent))
    _check(batch, 7)
    assert table.busy() == 1  # not handed back: the worker takes fresh memory instead


def test_a_slots_storage_crosses_once() -> None:
    """A slot's storage goes to the main process with the first batch stacked into it; later
    batches in the same slot send only where their tensors lie (no descriptor, a small
    message), until the slot grows (a new storage) or the table is closed."""

    table = RingTable(workers=1, slots=2)
    ring = WorkerRing(table, 0)

    def one(i: int, samples: list[dict[str, Any]]) -> tuple[bool, int, dict[str, Any]]:
        slot = ring.acquire()
        assert slot == 0  # the batch before was freed: its slot is the first free one
        sent = ring.send(slot, collate(samples, ring.allocator(slot)))
        data = _pickled(sent)
        carried = sent.storage is not None
        del sent
        return carried, len(data), pickle.loads(data)

    carried = []
    for i in range(3):
        with_storage, size, batch = one(i, _samples(i))
        _check(batch, i)
        carried.append(with_storage)
        if not with_storage:
            assert size < 2000, size
        del batch
        gc.collect()
        assert table.busy() == 0
    assert carried == [True, False, False]
    bigger = [
        dict(s, x=torch.full((3, 80, 50), j, dtype=torch.uint8)) for j, s in enumerate(_samples(3))
    ]
    with_storage, _, batch = one(3, bigger)  # grown: a new storage, sent again
    assert with_storage and batch["x"].shape == (4, 3, 80, 50)
    assert [int(batch["x"][j].max()) for j in range(4)] == [0, 1, 2, 3]
    del batch
    gc.collect()
    assert one(4, bigger)[0] is False
    gc.collect()
    table.close()  # forgotten here: the next batch brings its storage again
    assert int(table.acked.sum()) == 0


def test_a_slot_sends_only_what_lies_in_it() -> None:
    """Stacked as samples come: a short batch (samples skipped) sends its first rows, and a
    field that stopped stacking midway goes as its list, not as the slot's bytes."""

    from visiondata.loaders._decode.collate import Stacker

    table = RingTable(workers=1, slots=1)
    ring = WorkerRing(table, 0)
    slot = ring.acquire()
    assert slot == 0
    stacker = Stacker(6, ring.allocator(slot))
    samples = _samples(5)[:3]
    samples[2]["m"] = torch.zeros((7, 7), dtype=torch.int32)  # m no longer stacks
    for s in samples:
        stacker.add(s)
    sent = ring.send(slot, stacker.finish())
    assert [f for f, *_ in sent.layout] == ["x"]
    batch = pickle.loads(_pickled(sent))
    del sent
    assert batch["x"].shape == (3, 3, 40, 50)
    assert [int(batch["x"][j].max()) for j in range(3)] == [50, 51, 52]
    assert [tuple(t.shape) for t in batch["m"]] == [(40, 50), (40, 50), (7, 7)]
    assert [int(t.max()) for t in batch["m"]] == [5, 5, 0]
    assert batch["cls"].tolist() == [0, 1, 2]
    del batch
    gc.collect()
    assert table.busy() == 0
    table.close()


def test_a_batch_after_its_table_closed_says_so() -> None:
    """Sent without its storage (acknowledged), then the table closed (the loader gone): the
    batch cannot be rebuilt, and says why instead of failing on a missing storage."""

    table = RingTable(workers=1, slots=1)
    ring = WorkerRing(table, 0)
    for i in range(2):
        slot = ring.acquire()
        assert slot == 0
        sent = ring.send(slot, collate(_samples(i), ring.allocator(slot)))
        data = _pickled(sent)
        del sent
        if i == 0:
            batch = pickle.loads(data)  # brings the storage; acknowledged
            _check(batch, 0)
            del batch
            gc.collect()
    table.close()
    with pytest.raises(RuntimeError, match="after its loader's ring was closed"):
        pickle.loads(data)


def test_a_successor_worker_never_reuses_a_storage_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker started after another died may be given its pid, and it takes the same row:
    slot storage ids must not come from the pid (and a per-process count), or the main
    process would take the new worker's batch for one in the storage it kept of the dead
    one and read it from stale memory."""
    import itertools
    import types

    from visiondata.loaders._stream import ring as ring_module

    # what the ring module would see of the process: the same pid for both generations
    monkeypatch.setattr(
        ring_module, "os", types.SimpleNamespace(getpid=lambda: 4242), raising=False
    )
    table = RingTable(workers=1, slots=1)

    def generation(value: int) -> dict[str, Any]:
        # a fresh process: any per-process counter starts again
        monkeypatch.setattr(ring_module, "_ids", itertools.count(1), raising=False)
        ring = WorkerRing(table, 0)
        slot = ring.acquire()
        assert slot == 0
        samples = [{"__key__": "k", "x": torch.full((3, 8, 8), value, dtype=torch.uint8)}]
        sent = ring.send(slot, collate(samples, ring.allocator(slot)))
        return pickle.loads(_pickled(sent))  # type: ignore[no-any-return]

    first = generation(1)
    assert int(first["x"].max()) == 1
    del first
    gc.collect()
    second = generation(2)
    assert int(second["x"].min()) == 2  # the new worker's pixels, not the kept storage's
    del second
    gc.collect()
    table.close()


# -- through the Loader, with real DataLoader worker processes -------------------------------


def _png_members(i: int, key: str) -> dict[str, bytes]:
    return {"png": png_bytes(i), "cls": str(i % 5).encode()}


@pytest.fixture(scope="module")
def png_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(tmp_path_factory.mktemp("ring"), [30, 26, 24], members=_png_members)


def _intact(batch: dict[str, Any]) -> bool:
    """Each image still shows its own sample's colour (key s000017: red 17)."""
    reds = [int(k[1:]) % 256 for k in batch["__key__"]]
    img = batch["png"]
    return img.shape[0] == len(reds) and all(
        bool((img[j, 0] == r).all()) and bool((img[j, 1] == 7).all()) for j, r in enumerate(reds)
    )


def _ring_loader(root: Path, **kw: Any) -> Loader:
    return Loader(root, batch_size=4, world=World(0, 1), num_workers=2, seed=2, **kw)


def test_batches_reuse_slots_when_dropped(png_root: Path) -> None:
    loader = _ring_loader(png_root)
    assert loader.ring is not None and loader.ring.slots == 4  # prefetch_factor 2 + 2
    for _ in range(3):  # persistent workers: their slots live across epochs
        for batch in loader:
            assert _intact(batch)
        del batch
    st = loader.stats
    assert st.batches == 60 and st.reused_buffers + st.fresh_buffers == 60
    assert st.reused_buffers >= 60 - 2 * 4  # only a slot's first use takes new memory
    assert st.fresh_buffers <= 2 * 4


def test_a_held_batch_is_never_overwritten(png_root: Path) -> None:
    """Hold every batch of an epoch (10 per worker, 4 slots each): the workers run out of free
    slots and stack into fresh memory; another epoch runs; every held batch and every held view
    still shows its own samples. Once they are freed, the slots are used again."""
    loader = _ring_loader(png_root, shuffle=False)
    held = list(loader)
    views = [(b["__key__"][1], b["png"][1]) for b in held]
    fresh_before = loader.stats.fresh_buffers
    assert fresh_before >= 20 - 2 * 4  # no slot free for most of them
    for batch in loader:  # epoch 1 while epoch 0 is held
        assert _intact(batch)
    del batch
    assert all(_intact(b) for b in held)
    assert len(held) == 20
    del held
    gc.collect()
    assert all(bool((v[0] == int(k[1:])).all()) for k, v in views)  # views keep their slot
    del views
    gc.collect()
    reused_before = loader.stats.reused_buffers
    for batch in loader:
        assert _intact(batch)
    del batch
    assert loader.stats.reused_buffers - reused_before >= 20 - 2 * 4


def test_collate_fn_and_in_process_loaders_have_no_ring(png_root: Path) -> None:
    assert Loader(png_root, batch_size=4).ring is None
    loader = _ring_loader(png_root, collate_fn=len)
    assert loader.ring is None
    assert sum(loader) == 80
    assert loader.stats.reused_buffers == loader.stats.fresh_buffers == 0
