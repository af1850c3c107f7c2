"""Perceptual hash, the band multi-index and duplicate search with planted duplicates."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from visiondata.loaders.audit.dedup import Item, find_duplicates
from visiondata.loaders.audit.phash import DEFAULT_THRESHOLD, HashIndex, hamming
from visiondata.loaders.audit.scan import image_facts

from tests.audit.audit_fakes import crop, jpeg, realdata, texture

hashes = st.integers(min_value=0, max_value=2**64 - 1)


def _flip(h: int, bits: list[int]) -> int:
    for b in bits:
        h ^= 1 << b
    return h


@settings(max_examples=60, deadline=None)
@given(
    st.lists(hashes, min_size=1, max_size=40),
    st.integers(min_value=0, max_value=12),
    st.integers(min_value=4, max_value=8),
    st.data(),
)
def test_index_finds_exactly_what_brute_force_finds(
    stored: list[int], threshold: int, bands: int, data: st.DataObject
) -> None:
    # near copies of stored hashes, so that there is something within the threshold
    base = data.draw(st.sampled_from(stored))
    flips = data.draw(st.lists(st.integers(0, 63), max_size=threshold, unique=True))
    stored = [*stored, _flip(base, flips)]
    index = HashIndex(threshold, bands)
    for h in stored:
        index.add(h)
    query = data.draw(st.sampled_from(stored))
    expected = [
        (i, hamming(query, h)) for i, h in enumerate(stored) if hamming(query, h) <= threshold
    ]
    assert index.query(query) == expected


def test_index_options_are_checked() -> None:
    with pytest.raises(ValueError, match="threshold"):
        HashIndex(64)
    with pytest.raises(ValueError, match="bands"):
        HashIndex(10, 0)
    with pytest.raises(ValueError, match="probes"):
        HashIndex(16, 1)


def test_index_does_not_compare_with_everything() -> None:
    rng = random.Random(1)
    index = HashIndex(10, 4)
    for _ in range(20_000):
        index.add(rng.getrandbits(64))
    probe = rng.getrandbits(64)
    # the candidates come from 4 small buckets' neighbourhoods, not all 20 000 hashes
    assert index.query(probe) == []
    assert len(index) == 20_000


@pytest.mark.parametrize("name", ["000000126107", "000000165518", "000000183709", "000000214753"])
def test_edited_copies_of_real_photos_stay_within_threshold(name: str) -> None:
    from PIL import Image

    im = Image.open(realdata("coco", "val2017", f"{name}.jpg")).convert("RGB")
    h = image_facts(jpeg(im)).phash
    w, hh = im.size
    for copy in (jpeg(im, 40), jpeg(im.resize((w // 2, hh // 2))), jpeg(crop(im, 0.03))):
        other = image_facts(copy).phash
        assert h is not None and other is not None
        assert hamming(h, other) <= DEFAULT_THRESHOLD


def test_different_images_are_far_apart() -> None:
    hs = [image_facts(jpeg(texture(s))).phash for s in range(40)]
    assert all(h is not None for h in hs)
    dists = [hamming(a, b) for i, a in enumerate(hs) for b in hs[i + 1 :]]  # type: ignore[arg-type]
    assert min(dists) > DEFAULT_THRESHOLD


def _item(split: str, key: str, content: int | None, ph: int | None) -> Item:
    return Item(split, key, None if content is None else bytes([content]) * 16, ph)


def test_find_duplicates_rates_and_leakage() -> None:
    items = [
        _item("train", "a", 1, 0),
        _item("train", "a2", 1, 0),  # exact copy of a
        _item("train", "b", 2, 0xFFFF),
        _item("train", "b2", 3, 0xFFFF ^ 0b111),  # near copy of b (3 bits)
        _item("train", "c", 4, 0xFFFF_0000_0000),
        _item("test", "x", 1, 0),  # exact copy of a
        _item("test", "y", 5, 0xFFFF ^ 0b1),  # near b
        _item("test", "z", 6, 0xFFFF_FFFF_0000_0000),  # unique
        _item("test", "bad", None, None),  # undecodable: ignored
    ]
    res = find_duplicates(items, threshold=4)
    train, test = res.per_split["train"], res.per_split["test"]
    assert (train.n, train.exact_extra, train.near_extra) == (5, 1, 2)
    assert (test.n, test.exact_extra, test.near_extra) == (3, 0, 0)
    leaks = {leak.key: leak for leak in res.leaks["test"]}
    assert set(leaks) == {"x", "y"}
    assert leaks["x"].kind == "exact" and leaks["x"].match == "a"
    assert leaks["y"].kind == "near" and leaks["y"].distance in (1, 2)
    assert res.cross["train"]["test"] == 4  # a, a2 (exact x), b, b2 (near y)
    kinds = {(p.key_a, p.key_b, p.kind) for p in res.pairs}
    assert ("a", "a2", "exact") in kinds
    assert not any("z" in (p.key_a, p.key_b) for p in res.pairs)


def test_no_reference_split_means_no_leakage_figures() -> None:
    res = find_duplicates([_item("val", "a", 1, 0), _item("test", "b", 1, 0)])
    assert res.reference is None and res.leaks == {}
    assert res.cross["test"]["val"] == 1
