"""Batches are stacked as their samples come: the same batch as stacking a list at the end,
without holding the samples' tensors."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from visiondata.loaders._decode.collate import Ragged, Stacker, collate  # noqa: E402


def _reference(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacking at the end, from the whole list (what the loader did before)."""
    fields: dict[str, None] = {"__key__": None}
    for s in samples:
        fields.update(dict.fromkeys(s))
    out: dict[str, Any] = {}
    for f in fields:
        col = [s.get(f) for s in samples]
        if f == "__key__":
            out[f] = col
        elif col and any(isinstance(v, Ragged) for v in col):
            out[f] = [v.value if isinstance(v, Ragged) else v for v in col]
        elif col and all(isinstance(v, torch.Tensor) for v in col):
            same = all(v.shape == col[0].shape and v.dtype == col[0].dtype for v in col)
            out[f] = torch.stack(col) if same else col
        elif col and all(isinstance(v, int) and not isinstance(v, bool) for v in col):
            out[f] = torch.tensor(col, dtype=torch.int64)
        else:
            out[f] = col
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(torch.equal(a, b))
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _img(k: int, shape: tuple[int, ...] = (3, 4, 5), dtype: Any = None) -> Any:
    return torch.full(shape, k, dtype=dtype or torch.uint8)


CASES = {
    "equal images and ints": [{"__key__": f"k{i}", "jpg": _img(i), "cls": i} for i in range(5)],
    "a later image of another size": [
        {"__key__": "a", "jpg": _img(1)},
        {"__key__": "b", "jpg": _img(2)},
        {"__key__": "c", "jpg": _img(3, (3, 6, 5))},
        {"__key__": "d", "jpg": _img(4)},
    ],
    "a later image of another dtype": [
        {"__key__": "a", "x": _img(1)},
        {"__key__": "b", "x": _img(2, dtype=torch.float32)},
    ],
    "a sample without the field": [
        {"__key__": "a", "jpg": _img(1), "cls": 1},
        {"__key__": "b", "cls": 2},
        {"__key__": "c", "jpg": _img(3), "cls": 3},
    ],
    "a field that appears later": [
        {"__key__": "a", "cls": 1},
        {"__key__": "b", "cls": 2, "mask": _img(2, (4, 5))},
        {"__key__": "c", "cls": 3, "mask": _img(3, (4, 5))},
    ],
    "a field that turns into a string": [
        {"__key__": "a", "x": _img(1)},
        {"__key__": "b", "x": "two"},
    ],
    "ragged boxes, text, scalars": [
        {
            "__key__": f"k{i}",
            "boxes": Ragged(torch.zeros((i, 4))),
            "txt": f"caption {i}",
            "score": torch.tensor(float(i)),
        }
        for i in range(3)
    ],
    "no samples": [],
}


@pytest.mark.parametrize("case", CASES)
def test_stacked_as_they_come_is_stacked_at_the_end(case: str) -> None:
    samples = CASES[case]
    want = _reference(samples)
    got = collate(samples)
    assert list(got) == list(want)
    for f in want:
        assert _same(got[f], want[f]), f


def test_a_short_batch_is_its_first_rows() -> None:
    # bad samples skipped: fewer samples than the batch was made for
    stacker = Stacker(8)
    for i in range(3):
        stacker.add({"__key__": str(i), "jpg": _img(i)})
    assert len(stacker) == 3
    batch = stacker.finish()
    assert batch["jpg"].shape == (3, 3, 4, 5) and batch["jpg"].is_contiguous()
    assert [int(batch["jpg"][i, 0, 0, 0]) for i in range(3)] == [0, 1, 2]


def test_a_full_batch_refuses_one_more() -> None:
    stacker = Stacker(1)
    stacker.add({"__key__": "a", "jpg": _img(1)})
    with pytest.raises(ValueError, match="at most 1 samples"):
        stacker.add({"__key__": "b", "jpg": _img(2)})


def test_the_stacker_keeps_no_sample_tensor() -> None:
    # the memory this is for: a sample's decoded image is free once it is stacked
    stacker = Stacker(4)
    alive = []
    for i in range(4):
        image = _img(i, (3, 64, 64))
        alive.append(weakref.ref(image))
        stacker.add({"__key__": str(i), "jpg": image})
        del image
    gc.collect()
    assert [r() for r in alive] == [None] * 4
    assert stacker.finish()["jpg"].shape == (4, 3, 64, 64)


def test_the_given_memory_is_filled_once() -> None:
    calls = []

    def alloc(specs: Any) -> dict[str, Any]:
        calls.append([(f, tuple(shape), dtype) for f, shape, dtype in specs])
        return {f: torch.empty(shape, dtype=dtype) for f, shape, dtype in specs}

    batch = collate([{"__key__": str(i), "jpg": _img(i), "cls": i} for i in range(3)], alloc)
    assert calls == [[("jpg", (3, 3, 4, 5), torch.uint8)]]  # ints are not given memory
    assert batch["cls"].tolist() == [0, 1, 2]
