"""What a site is built from: the validated cards, each with the YAML file it was read from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import CardValidationError, Problem
from ..schema import Card

__all__ = ["SiteCard", "card_folders", "load_cards"]


@dataclass(frozen=True)
class SiteCard:
    """A card and the file it came from (copied beside its page, byte for byte)."""

    card: Card
    path: Path


def card_folders(extra: Sequence[Path] | None = None, *, shipped: bool = True) -> list[Path]:
    """The folders a site is built from: the shipped cards (unless ``shipped`` is false), then
    ``extra`` (default: the folders of ``VISIONDATA_CARDS_PATH``, as every command reads)."""
    from .. import store

    if extra is None:
        extra = store.card_dirs()[1:]
    return [*([store.shipped_dir()] if shipped else []), *extra]


def load_cards(folders: Sequence[Path]) -> list[SiteCard]:
    """Every card of ``folders``, sorted by id; the first card of an id wins, as in the store.

    A site publishes what it is given, so an invalid card is not left out quietly: it raises
    CardValidationError listing every problem of every invalid file, and a folder that does
    not exist raises it too (naming the folder)."""
    from ..store import card_files
    from ..validate import parse_card_file

    problems = [
        Problem(str(f), 0, "(folder)", "no such folder of card files")
        for f in folders
        if not f.is_dir()
    ]
    found: dict[str, SiteCard] = {}
    for path in card_files([f for f in folders if f.is_dir()]):  # the store's order and rules
        parsed = parse_card_file(path)
        if parsed.card is None:
            problems += parsed.problems
            continue
        found.setdefault(parsed.card.id, SiteCard(parsed.card, path))
    if problems:
        raise CardValidationError(problems)
    return [found[k] for k in sorted(found)]
