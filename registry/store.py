"""Finding and loading cards: the shipped ones plus directories in ``VISIONDATA_CARDS_PATH``."""

from __future__ import annotations

import difflib
import fnmatch
import os
import warnings
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import CardNotFoundError, CardValidationError, VisionDataWarning
from .schema import Card
from .validate import parse_card_file

__all__ = [
    "ENV_VAR",
    "card_dirs",
    "card_files",
    "get_card",
    "list_cards",
    "load_card",
    "shipped_dir",
]

ENV_VAR = "VISIONDATA_CARDS_PATH"


def shipped_dir() -> Path:
    """The directory of the cards that ship inside the package."""
    return Path(str(resources.files("visiondata.cards")))


def card_dirs() -> list[Path]:
    """Shipped cards first, then each directory of ``VISIONDATA_CARDS_PATH`` (os.pathsep-separated)."""
    extra = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return [shipped_dir(), *extra]


def card_files(dirs: list[Path] | None = None) -> Iterator[Path]:
    for d in card_dirs() if dirs is None else dirs:
        if d.is_dir():
            yield from sorted(d.glob("*.yaml"))


def load_card(path: str | os.PathLike[str]) -> Card:
    """Load and fully validate one card file; raises CardValidationError listing every problem."""
    parsed = parse_card_file(Path(path))
    if parsed.card is None:
        raise CardValidationError(parsed.problems)
    return parsed.card


class InvalidCardWarning(VisionDataWarning):
    """A card file in the catalogue is invalid and was left out of it."""


@lru_cache(maxsize=4)
def _catalogue(key: tuple[str, ...]) -> tuple[tuple[Card, ...], tuple[str, ...]]:
    cards: dict[str, Card] = {}
    invalid: list[str] = []
    for path in card_files([Path(k) for k in key]):
        parsed = parse_card_file(path)
        if parsed.card is None:
            invalid.append(str(path))
            continue
        cards.setdefault(
            parsed.card.id, parsed.card
        )  # shipped cards win; validate reports the clash
    return tuple(sorted(cards.values(), key=lambda c: c.id)), tuple(invalid)


def _all_cards() -> tuple[Card, ...]:
    cards, invalid = _catalogue(tuple(str(d) for d in card_dirs()))
    if invalid:
        warnings.warn(
            f"left out {len(invalid)} invalid card file(s): {', '.join(invalid)}"
            " (run `visiondata cards validate` for every problem)",
            InvalidCardWarning,
            stacklevel=3,
        )
    return cards


def list_cards(
    pattern: str | None = None, *, task: str | None = None, modality: str | None = None
) -> list[Card]:
    """Every card, sorted by id, optionally filtered by an fnmatch ``pattern`` on id or alias,
    a task and a modality (as in timm's ``list_models("resnet*")``)."""
    out = []
    for card in _all_cards():
        names = [card.id, *card.aliases]
        if pattern and not any(fnmatch.fnmatch(n.casefold(), pattern.casefold()) for n in names):
            continue
        if task and task not in card.tasks:
            continue
        if modality and modality not in card.modalities:
            continue
        out.append(card)
    return out


def get_card(name: str) -> Card:
    """The card whose id or alias is ``name`` (case-insensitive).

    Raises CardNotFoundError (a KeyError) naming the closest ids and aliases."""
    folded = name.casefold()
    index: dict[str, Card] = {}
    for card in _all_cards():
        for n in (card.id, *card.aliases):
            index.setdefault(n.casefold(), card)
    if folded in index:
        return index[folded]
    close = difflib.get_close_matches(folded, list(index), n=3, cutoff=0.5)
    suggestions = list(dict.fromkeys(index[c].id if c == index[c].id else c for c in close))
    raise CardNotFoundError(name, suggestions)
