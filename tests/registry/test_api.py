"""The Python API: list_cards, get_card, load_card, extra card directories, a closed __all__."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import visiondata.registry as registry
from visiondata.registry import (
    CardNotFoundError,
    CardValidationError,
    VisionDataError,
    get_card,
    list_cards,
    load_card,
)

from .conftest import VALID_CARD


def test_public_api_is_closed() -> None:
    public = {
        n
        for n, v in vars(registry).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType) and n != "annotations"
    }
    # the models load on first use (PEP 562), so they may not be in vars() yet
    assert public | {"__version__"} <= set(registry.__all__)
    assert all(getattr(registry, name) is not None for name in registry.__all__)
    public = {n for n, v in vars(registry).items() if not n.startswith("_")}
    assert public - {"annotations", "typing", "metadata"} <= set(registry.__all__) | {
        n for n, v in vars(registry).items() if isinstance(v, types.ModuleType)
    }


def test_listing_cards_imports_no_models() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from visiondata.registry import store; store.list_rows(); "
        "print('pydantic' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert again.stdout.strip() == "False"  # the second run reads the catalogue cache


def test_get_card_by_id_and_alias_case_insensitive() -> None:
    assert get_card("coco-2017").id == "coco-2017"
    assert get_card("ms-coco").id == "coco-2017"
    assert get_card("MS-COCO").id == "coco-2017"


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(CardNotFoundError) as err:
        get_card("coco-2071")
    assert isinstance(err.value, KeyError) and isinstance(err.value, VisionDataError)
    assert "coco-2017" in err.value.suggestions
    assert str(err.value).startswith(
        "no dataset card has the id or alias 'coco-2071'; did you mean coco-2017"
    )


def test_list_cards_filters() -> None:
    ids = [c.id for c in list_cards()]
    assert ids == sorted(ids) and "coco-2017" in ids
    assert next(c.id for c in list_cards("coco*")) == "coco-2017"
    assert all("object-detection" in c.tasks for c in list_cards(task="object-detection"))
    assert all("video" in c.modalities for c in list_cards(modality="video"))


def test_extra_card_directory(monkeypatch: pytest.MonkeyPatch, card_dir: Path) -> None:
    (card_dir / "toy-set.yaml").write_text(VALID_CARD)
    monkeypatch.setenv("VISIONDATA_CARDS_PATH", str(card_dir))
    assert get_card("toys").id == "toy-set"
    assert "toy-set" in [c.id for c in list_cards()]
    monkeypatch.delenv("VISIONDATA_CARDS_PATH")
    with pytest.raises(CardNotFoundError):
        get_card("toy-set")


def test_load_card_raises_with_every_problem(card_dir: Path) -> None:
    bad = card_dir / "toy-set.yaml"
    bad.write_text(
        VALID_CARD.replace("domain: real", "domain: unreal").replace("\nyear: 2020", "\nyear: x")
    )
    with pytest.raises(CardValidationError) as err:
        load_card(bad)
    assert isinstance(err.value, ValueError)
    assert {p.path for p in err.value.problems} == {"domain", "year"}
    assert f"{bad}:" in str(err.value)


def test_total_examples_sums_splits(card_dir: Path) -> None:
    path = card_dir / "toy-set.yaml"
    path.write_text(VALID_CARD)
    assert load_card(path).total_examples == 120


def test_invalid_extra_card_is_left_out_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, card_dir: Path
) -> None:
    from visiondata.registry.store import InvalidCardWarning

    (card_dir / "toy-set.yaml").write_text(VALID_CARD.replace("domain: real", "domain: dreamt"))
    monkeypatch.setenv("VISIONDATA_CARDS_PATH", str(card_dir))
    with pytest.warns(
        InvalidCardWarning, match=r"left out 1 invalid card file\(s\): .*toy-set.yaml"
    ):
        ids = [c.id for c in list_cards()]
    assert "toy-set" not in ids and "coco-2017" in ids
