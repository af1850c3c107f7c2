"""Class-balance statistics, image hashes and namethat options on degenerate or invalid input."""

from __future__ import annotations

import numpy as np
import pytest
from visiondata.loaders.audit.classstats import (
    effective_classes,
    entropy,
    gini,
    imbalance_ratio,
    normalized_entropy,
)
from visiondata.loaders.audit.namethat import name_that_dataset
from visiondata.loaders.audit.phash import dhash, phash


@pytest.mark.parametrize(
    "fn", [imbalance_ratio, gini, entropy, normalized_entropy, effective_classes]
)
def test_negative_class_counts_are_refused(fn: object) -> None:
    with pytest.raises(ValueError) as err:
        fn([3, -2, 5])  # type: ignore[operator]
    assert str(err.value) == "class counts must be >= 0, got -2"


def test_no_samples_at_all() -> None:
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0
    assert entropy([0, 0, 0]) == 0.0
    assert normalized_entropy([0, 0]) == 0.0
    assert normalized_entropy([7]) == 1.0  # one class is balanced by definition
    assert effective_classes([0, 0]) == 0.0
    assert imbalance_ratio([0, 4]) == 1.0  # one non-empty class


@pytest.mark.parametrize("shape", [(7, 32), (32, 7), (64,), (8, 8, 3)])
def test_phash_needs_a_2d_image_of_at_least_8x8(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError) as err:
        phash(np.zeros(shape))
    assert str(err.value) == f"phash needs a 2-D grey image of at least 8x8, got shape {shape}"


def test_dhash_shape_and_bits() -> None:
    with pytest.raises(ValueError) as err:
        dhash(np.zeros((9, 8)))
    assert str(err.value) == "dhash needs an 8x9 grey array, got shape (9, 8)"
    ramp = np.tile(np.arange(9, dtype=float), (8, 1))  # every pixel brighter than its left
    assert dhash(ramp) == 2**64 - 1
    assert dhash(ramp[:, ::-1]) == 0


@pytest.mark.parametrize(
    ("sources", "per_source", "message"),
    [
        (["a"], 10, "namethat needs at least 2 sources, got 1"),
        (["a", "b"], 4, "per_source must be at least 5, got 4"),
    ],
)
def test_namethat_options(sources: list[str], per_source: int, message: str) -> None:
    with pytest.raises(ValueError) as err:
        name_that_dataset(sources, per_source=per_source)
    assert str(err.value) == message
