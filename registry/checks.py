"""Rules that span several fields of one card. Pure functions: data in, problems out.

Each check returns ``(path, message)`` pairs; :mod:`.validate` adds file and line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from .schema import Card
from .vocab import EXCLUSIVE_AXES
from .yamlfile import Path

__all__ = ["SHARE_TOLERANCE", "check_bibtex", "check_card", "check_todo_markers"]

Found = tuple[Path, str]

#: Shares of one axis and population may exceed 1 by this much (published shares are rounded).
SHARE_TOLERANCE = 0.011


def check_todo_markers(data: Any, path: Path = ()) -> Iterator[Found]:
    """Every string still holding a ``TODO`` marker left by ``visiondata cards new``."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from check_todo_markers(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from check_todo_markers(value, (*path, i))
    elif isinstance(data, str) and "TODO" in data:
        yield path, f"unfilled TODO marker: {data.strip()[:80]!r}"


def check_bibtex(text: str) -> Iterator[Found]:
    """The card's ``citation`` must be BibTeX that parses into at least one entry."""
    import bibtexparser  # imported here: only validation needs it

    library = bibtexparser.parse_string(text)
    for block in library.failed_blocks:
        raw = getattr(block, "raw", "").strip().splitlines()
        first = raw[0][:60] if raw else ""
        reason = type(block).__name__
        if getattr(block, "error", None) is not None:
            reason += f" ({block.error})"
        yield ("citation",), f"BibTeX does not parse: {reason} at {first!r}"
    if not library.failed_blocks and not library.entries:
        yield ("citation",), "BibTeX holds no entry (expected e.g. @article{key, title={...}, ...})"
    for entry in library.entries:
        missing = [f for f in ("title", "year") if f not in entry.fields_dict]
        if missing:
            yield ("citation",), f"BibTeX entry {entry.key!r} lacks {', '.join(missing)}"


def _citations(card: Card) -> Iterator[tuple[Path, str]]:
    if card.status.citation:
        yield ("status", "citation"), card.status.citation
    for name, split in card.splits.items():
        if split.citation:
            yield ("splits", name, "citation"), split.citation
    if card.classes and card.classes.citation:
        yield ("classes", "citation"), card.classes.citation
    for i, fig in enumerate(card.figures):
        yield ("figures", i, "provenance", "citation"), fig.provenance.citation
    for i, note in enumerate(card.notes):
        if note.citation:
            yield ("notes", i, "citation"), note.citation


def check_citations(card: Card) -> Iterator[Found]:
    known = sorted(card.references)
    for path, key in _citations(card):
        if key not in card.references:
            yield path, f"citation key {key!r} is not in references (known: {', '.join(known)})"


def check_shares(card: Card) -> Iterator[Found]:
    """Shares of mutually exclusive categories, for one population and source, sum to <= 1."""
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, fig in enumerate(card.figures):
        if fig.metric != "proportion" or fig.axis not in EXCLUSIVE_AXES or fig.bound == "upper":
            continue
        if fig.verification.status == "superseded":
            continue
        pop = fig.population
        key = (
            fig.axis,
            pop.unit,
            pop.split,
            fig.unit,
            fig.provenance.citation,
            fig.provenance.locator,
        )
        groups[key].append(i)
    for (axis, unit_counted, split, unit, citation, _), members in groups.items():
        scale = 100.0 if unit == "percent" else 1.0
        total = sum(card.figures[i].value for i in members) / scale
        if total > 1 + SHARE_TOLERANCE:
            cats = ", ".join(str(card.figures[i].category) for i in members)
            where = f"{unit_counted}" + (f" in split {split}" if split else "")
            yield (
                ("figures", members[-1], "value"),
                f"shares of {axis} over {where} from {citation!r} sum to {total * scale:g}"
                f" {unit} (categories {cats}); expected at most {scale:g}",
            )


def check_card(card: Card) -> list[Found]:
    """Every cross-field problem of one parsed card."""
    found = list(check_citations(card))
    found += check_shares(card)
    found += check_bibtex(card.citation)
    return found
