"""The card catalogue: the required ids exist, lineage and citations resolve, headline figures
are present with their values."""

from __future__ import annotations

import pytest
from visiondata.registry import Figure, get_card, list_cards

REQUIRED = [
    "coil-100",
    "corel-5k",
    "caltech-101",
    "caltech-256",
    "labelme",
    "pascal-voc-2007",
    "pascal-voc-2012",
    "msrc-21",
    "uiuc-cars",
    "scene-15",
    "tiny-images",
    "cifar-10",
    "cifar-100",
    "mnist",
    "sun397",
    "imagenet-1k",
    "imagenet-21k",
    "places365",
    "coco-2017",
    "lvis-v1",
    "ade20k",
    "cityscapes",
    "open-images-v7",
    "inaturalist-2017",
    "cub-200-2011",
    "dollar-street",
    "laion-400m",
    "covid-ct-md",
    "ucf101",
    "hmdb51",
    "kinetics-400",
    "kinetics-700",
    "ava",
    "moments-in-time",
    "activitynet",
    "charades",
    "epic-kitchens-100",
    "something-something-v2",
    "mpi-sintel",
    "gta5",
    "carla",
    "virtualhome",
    "ppb",
    "ijb-a",
    "adience",
    "celeba",
    "lfw",
    "fairface",
    "vqa-v1",
    "vqa-v2",
]

LINEAGE = {
    "cifar-10": "tiny-images",
    "cifar-100": "tiny-images",
    "imagenet-1k": "imagenet-21k",
    "lvis-v1": "coco-2017",
    "vqa-v1": "coco-2017",
}


def _figures(card_id: str, axis: str, metric: str, category: str | None = None) -> list[Figure]:
    return [
        f
        for f in get_card(card_id).figures
        if f.axis == axis and f.metric == metric and (category is None or f.category == category)
    ]


def test_the_fifty_required_cards_exist() -> None:
    ids = {c.id for c in list_cards()}
    assert len(REQUIRED) == 50
    assert sorted(set(REQUIRED) - ids) == []


def test_lineage() -> None:
    for child, parent in LINEAGE.items():
        assert parent in get_card(child).derived_from, child
    ids = {c.id for c in list_cards()}
    for card in list_cards():
        assert set(card.derived_from) <= ids, card.id


def test_every_citation_resolves_and_every_card_cites_its_numbers() -> None:
    for card in list_cards():
        for f in card.figures:
            assert f.provenance.citation in card.references, (card.id, f.provenance.citation)
        for name, split in card.splits.items():
            assert split.citation is None or split.citation in card.references, (card.id, name)


@pytest.mark.parametrize(("card_id", "value"), [("ijb-a", 0.796), ("adience", 0.862)])
def test_gender_shades_lighter_skin_shares(card_id: str, value: float) -> None:
    (fig,) = _figures(card_id, "demographic.skin_type", "proportion", "lighter")
    assert fig.value == value and fig.unit == "fraction"
    # the abstract was read in a verbatim copy of the PMLR PDF, whose address is recorded
    assert fig.provenance.kind == "measured" and fig.verification.status == "secondary"
    assert fig.verification.url and fig.verification.url.startswith("https://")
    assert "gender shades" in get_card(card_id).references[fig.provenance.citation].title.lower()


def test_coco_class_imbalance() -> None:
    (fig,) = _figures("coco-2017", "class_balance", "imbalance_ratio")
    assert fig.value == pytest.approx(1325.58) and fig.unit == "ratio"
    assert fig.population.split == "train"


def test_imagenet_validation_label_errors() -> None:
    figs = _figures("imagenet-1k", "label_quality", "error_rate")
    by_bound = {f.bound: f for f in figs}
    assert by_bound["lower"].value == 0.06 and by_bound["lower"].verification.status == "verified"
    assert by_bound["exact"].value == pytest.approx(2916 / 50000)
    assert all(f.population.split == "validation" for f in figs)


@pytest.mark.parametrize(("card_id", "value"), [("cifar-10", 0.033), ("cifar-100", 0.10)])
def test_cifar_test_train_near_duplicates(card_id: str, value: float) -> None:
    (fig,) = _figures(card_id, "split_leakage", "duplicate_rate")
    assert fig.value == pytest.approx(value) and fig.population.split == "test"
    assert fig.verification.status == "verified"


def test_tiny_images_is_withdrawn_with_when_why_and_source() -> None:
    card = get_card("tiny-images")
    assert card.status.state == "withdrawn"
    assert card.status.date == "2020-06-29"
    assert card.status.reason and "derogatory" in card.status.reason
    assert card.status.citation in card.references
    assert card.access == "unavailable"
