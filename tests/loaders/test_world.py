"""The world is a value, detected in one place."""

from __future__ import annotations

import pytest
from visiondata.loaders import LoaderOptionError, World, detect_world


def test_detect_from_environment() -> None:
    assert detect_world({}) == World(0, 1)
    assert detect_world({"RANK": "3", "WORLD_SIZE": "4"}) == World(3, 4)
    with pytest.raises(LoaderOptionError, match="expected integers"):
        detect_world({"RANK": "x", "WORLD_SIZE": "4"})
    assert detect_world({"WORLD_SIZE": "1"}) == World(0, 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RANK": "1"}, "RANK='1' is set but WORLD_SIZE is not"),
        ({"WORLD_SIZE": "4"}, "WORLD_SIZE='4' is set but RANK is not"),
    ],
)
def test_half_a_world_is_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(LoaderOptionError, match=message):
        detect_world(env)


def test_world_is_checked() -> None:
    with pytest.raises(LoaderOptionError, match="0 <= rank < world_size"):
        World(2, 2)
    with pytest.raises(LoaderOptionError, match="num_workers >= 1"):
        World(0, 1, worker=0, num_workers=0)
    w = World(1, 2).with_worker(0, 0)
    assert (w.worker, w.num_workers) == (0, 1)
