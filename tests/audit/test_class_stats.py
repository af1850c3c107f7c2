"""Class-balance statistics: exact values on known histograms, properties on random ones."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from visiondata.loaders.audit.classstats import (
    effective_classes,
    entropy,
    gini,
    imbalance_ratio,
    normalized_entropy,
)

counts = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60)
nonempty = counts.filter(lambda c: sum(c) > 0)


def test_known_values() -> None:
    assert imbalance_ratio([12, 6, 3]) == 4.0
    assert imbalance_ratio([12, 0, 3]) == 4.0  # empty classes are left out of max/min
    assert gini([5, 5, 5, 5]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(3 / 4)
    assert gini([1, 2, 3]) == pytest.approx(2 / 9)
    assert normalized_entropy([7, 7]) == pytest.approx(1.0)
    assert normalized_entropy([10, 0]) == 0.0
    assert effective_classes([3, 3, 3]) == pytest.approx(3.0)
    assert effective_classes([10, 0, 0]) == pytest.approx(1.0)
    assert entropy([1, 1]) == pytest.approx(math.log(2))


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        gini([3, -1])


@given(nonempty)
def test_ranges(c: list[int]) -> None:
    k = len(c)
    assert imbalance_ratio(c) >= 1.0
    assert 0.0 <= gini(c) <= (k - 1) / k + 1e-9
    assert 0.0 <= normalized_entropy(c) <= 1.0
    assert 1.0 - 1e-9 <= effective_classes(c) <= sum(1 for x in c if x) + 1e-9


@given(nonempty, st.integers(min_value=1, max_value=50))
def test_scale_invariant(c: list[int], factor: int) -> None:
    scaled = [x * factor for x in c]
    assert gini(scaled) == pytest.approx(gini(c), abs=1e-9)
    assert normalized_entropy(scaled) == pytest.approx(normalized_entropy(c), abs=1e-9)
    assert effective_classes(scaled) == pytest.approx(effective_classes(c), rel=1e-9)
    assert imbalance_ratio(scaled) == pytest.approx(imbalance_ratio(c))


@given(nonempty, st.randoms(use_true_random=False))
def test_order_does_not_matter(c: list[int], rnd: object) -> None:
    shuffled = list(c)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert gini(shuffled) == pytest.approx(gini(c), abs=1e-12)
    assert normalized_entropy(shuffled) == pytest.approx(normalized_entropy(c), abs=1e-12)


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=1000))
def test_balanced_is_balanced(k: int, n: int) -> None:
    c = [n] * k
    assert gini(c) == pytest.approx(0.0, abs=1e-12)
    assert imbalance_ratio(c) == 1.0
    assert effective_classes(c) == pytest.approx(k)
    assert normalized_entropy(c) == pytest.approx(1.0)
