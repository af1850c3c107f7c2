"""The GPU boundary: the CPU path here; the CUDA path where a GPU exists (same code)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from visiondata.loaders import Loader, StateError, World
from visiondata.loaders._device import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DevicePrefetcher,
    _Ring,
    _Transfer,
    normalize_uint8,
)

from .loader_fakes import make_shards, png_bytes


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


# -- the ring on the CPU: the same code, a stand-in for the stream and events -----------------


class StandInEvent:
    def __init__(self, transfer: StandIn) -> None:
        self.transfer = transfer
        self.covers: list[int] = []
        self.done = False

    def record(self) -> None:
        assert self.transfer.on_side, "an event recorded off the side stream"
        self.covers, self.transfer.unrecorded = self.transfer.unrecorded, []
        for ptr in self.covers:
            self.transfer.in_flight[ptr] = self
        self.transfer.log.append(("record", len(self.covers)))

    def synchronize(self) -> None:
        self.done = True
        self.transfer.log.append(("sync", len(self.covers)))


class StandIn:
    """A CPU stand-in for the side stream and its events that checks the ring's bookkeeping:
    a host buffer copied again while the event of its last copy was never waited for is the
    race the CUDA ring must not have (it fails here at once); copies and events belong on the
    side stream; every batch is handed to the main stream before the user gets it."""

    def __init__(self) -> None:
        self.on_side = False
        self.unrecorded: list[int] = []
        self.in_flight: dict[int, StandInEvent] = {}
        self.allocated = 0
        self.handed: set[int] = set()
        self.log: list[tuple[str, int]] = []

    def host_buffer(self, like: torch.Tensor) -> torch.Tensor:
        self.allocated += 1
        return torch.empty(like.shape, dtype=like.dtype)

    @contextlib.contextmanager
    def side(self) -> Iterator[None]:
        self.on_side = True
        try:
            yield
        finally:
            self.on_side = False

    def start_copy(self, buf: torch.Tensor) -> torch.Tensor:
        assert self.on_side, "a copy started off the side stream"
        last = self.in_flight.get(buf.data_ptr())
        assert last is None or last.done, "a pinned buffer was refilled before its copy finished"
        self.unrecorded.append(buf.data_ptr())
        return buf.clone()  # the "device" tensor: new memory, as .to(device) gives

    def event(self) -> StandInEvent:
        return StandInEvent(self)

    def hand_over(self, ready: Mapping[str, Any]) -> None:
        self.handed.update(id(v) for v in ready.values())
        self.log.append(("hand_over", 0))


class StandInPrefetcher(DevicePrefetcher):
    """The prefetcher with the stand-in as its device's side (device="cpu" moves directly)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stand_in = StandIn()

    def _transfer(self) -> _Transfer:
        return self.stand_in


@pytest.mark.parametrize("ring", [2, 3])
def test_ring_on_cpu_gives_the_cpu_paths_batches_and_reuses_its_slots(ring: int) -> None:
    src = _batches(n=9)
    direct = list(DevicePrefetcher(src, device="cpu"))
    pre = StandInPrefetcher(src, device="cpu", ring=ring)
    got = []
    for batch in pre:
        assert id(batch["jpg"]) in pre.stand_in.handed  # handed to the main stream first
        got.append(batch)
    for a, b in zip(direct, got, strict=True):  # checked after the ring went round: no aliasing
        assert torch.equal(a["jpg"], b["jpg"]) and torch.equal(a["cls"], b["cls"])
        assert b["__key__"] == a["__key__"] and b["boxes"] is a["boxes"]
    assert pre.stand_in.allocated == 2 * ring  # jpg and cls, once per slot
    kinds = [k for k, _ in pre.stand_in.log]
    assert kinds.count("record") == 9 and kinds.count("hand_over") == 9
    assert kinds.count("sync") == 9 - ring  # a slot's event is waited for when it comes round
    assert {n for k, n in pre.stand_in.log if k in ("record", "sync")} == {2}
    again = list(pre)  # the next pass reuses the ring (its buffers and events)
    assert pre.stand_in.allocated == 2 * ring and len(again) == 9
    assert torch.equal(again[-1]["jpg"], direct[-1]["jpg"])


def test_ring_waits_for_a_slots_last_copy_before_refilling_it() -> None:
    """Without the wait (the line that synchronizes the slot's event) the stand-in fails."""

    class NoWait(StandInEvent):
        def synchronize(self) -> None:  # a ring that forgot to wait is a ring whose wait is lost
            self.transfer.log.append(("sync", -1))

    class Forgetful(StandIn):
        def event(self) -> StandInEvent:
            return NoWait(self)

    ring = _Ring(2, Forgetful())
    batches = _batches(n=3)
    ring.copy(0, batches[0], dict)
    ring.copy(1, batches[1], dict)
    with pytest.raises(AssertionError, match="refilled before its copy finished"):
        ring.copy(2, batches[2], dict)


def test_ring_stale_buffer_a_tensor_field_becomes_a_list() -> None:
    """A slot keeps the buffer of a field that was a tensor; when that field is a list in a
    later batch through the same slot, the list passes through, not the stale buffer."""
    stand_in = StandIn()
    ring = _Ring(2, stand_in)
    img = torch.arange(24, dtype=torch.uint8).view(2, 3, 2, 2)
    ring.copy(0, {"jpg": img, "k": ["a", "b"]}, dict)
    ring.copy(1, {"jpg": img + 1, "k": ["c", "d"]}, dict)
    mixed = [torch.zeros(3, 2, 2, dtype=torch.uint8), torch.ones(3, 4, 4, dtype=torch.uint8)]
    out = ring.copy(2, {"jpg": mixed, "k": ["e", "f"]}, dict)  # slot 0 again
    assert out["jpg"] is mixed and out["k"] == ["e", "f"]
    assert "jpg" in ring.slots[0].buffers  # kept for when the field is a tensor again
    bigger = torch.full((2, 3, 4, 4), 7, dtype=torch.uint8)
    before = stand_in.allocated
    out = ring.copy(3, {"jpg": bigger}, dict)  # slot 1: other shape, new buffer
    assert stand_in.allocated == before + 1 and torch.equal(out["jpg"], bigger)
    out = ring.copy(4, {"jpg": img + 2}, dict)  # slot 0: same shape as its buffer, reused
    assert stand_in.allocated == before + 1 and torch.equal(out["jpg"], img + 2)
    assert [len(s.buffers) for s in ring.slots] == [1, 1]


# -- exact resume through the prefetcher ------------------------------------------------------


def _image_members(i: int, key: str) -> dict[str, bytes]:
    return {"png": png_bytes(i), "cls": str(i % 3).encode()}


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shards(
        tmp_path_factory.mktemp("prefetch") / "set", [5, 3, 6], members=_image_members
    )


DEVICES = [
    "cpu",
    "stand-in",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    ),
]


def _prefetcher(loader: Loader, device: str) -> DevicePrefetcher:
    if device == "stand-in":  # the ring's code on the CPU
        return StandInPrefetcher(loader, device="cpu")
    return DevicePrefetcher(loader, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("via", ["prefetcher", "loader"])
def test_resume_through_the_prefetcher_at_every_batch(
    image_root: Path, num_workers: int, via: str, device: str
) -> None:
    opts: dict[str, Any] = dict(
        batch_size=3, world=World(0, 1), num_workers=num_workers, buffer_size=5, seed=8
    )
    reference = Loader(image_root, **opts)
    whole = [list(b["__key__"]) for b in reference]
    after = [list(b["__key__"]) for b in reference]  # the next epoch
    assert len(whole) == 5
    for k in range(len(whole) + 1):  # k batches received, then a checkpoint
        loader = Loader(image_root, **opts)
        pre = _prefetcher(loader, device)
        got: list[list[str]] = []
        it = iter(pre)
        for _ in range(k):
            batch = next(it)
            assert batch["png"].dtype == torch.float32  # normalized on the way
            got.append(list(batch["__key__"]))
        if 0 < k < len(whole):  # the prefetcher holds the next batch already
            assert loader._snapshot()["batches"] == k + 1
        state = pre.state_dict() if via == "prefetcher" else loader.state_dict()
        assert state == pre.state_dict() == loader.state_dict()
        assert state["batches"] == k
        fresh = Loader(image_root, **opts)
        resumed = _prefetcher(fresh, device)
        resumed.load_state_dict(state)
        rest = [list(b["__key__"]) for b in resumed]
        assert got + rest == whole, f"checkpoint after {k} batches"
        assert [list(b["__key__"]) for b in resumed] == after  # then the next epoch


def test_prefetcher_passes_epochs_through(image_root: Path) -> None:
    loader = Loader(image_root, batch_size=3, world=World(0, 1), seed=8)
    pre = DevicePrefetcher(loader, device="cpu")
    assert len(pre) == len(loader) == 5
    first = [b["__key__"] for b in pre]
    assert pre.state_dict()["epoch"] == 1 and pre.state_dict()["batches"] == 0
    second = [b["__key__"] for b in pre]
    assert first != second and sorted(k for b in first for k in b) == sorted(
        k for b in second for k in b
    )
    with pytest.raises(StateError, match="source \\(list\\) has no state_dict"):
        DevicePrefetcher([], device="cpu").state_dict()
