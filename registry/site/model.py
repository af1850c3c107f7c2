"""What the pages show, computed from the cards: pure functions, no I/O, no HTML.

Numbers are written one way everywhere (:func:`format_value`), every figure carries the
verification the card computes for it (:class:`FigureRef`), and the index rows are the JSON
the index page filters on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..schema import Card, Figure, Transfer, Verification
from ..vocab import AXES

__all__ = [
    "BOUND_MARK",
    "FigureRef",
    "axis_figures",
    "axis_sections",
    "derived_by",
    "format_value",
    "incoming_transfers",
    "index_entry",
    "safe_url",
    "slug",
    "verified_share",
]

#: How a bound is written before a number.
BOUND_MARK = {"exact": "", "lower": "≥", "upper": "≤", "approx": "≈"}
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]")
_URL = re.compile(r"^https?://[^\s\"'<>`]+$")


def slug(text: str) -> str:
    """``text`` as an HTML id fragment: letters, digits, ``-`` and ``_`` kept, every other
    character written as ``.`` and its code point in hex (one text, one slug, no clashes)."""
    return "".join(ch if _PLAIN_ID.match(ch) else f".{ord(ch):x}" for ch in text)


def safe_url(url: str | None) -> str | None:
    """``url`` if it is a plain http(s) address (the schema checks cards already; this is the
    page's own guard against anything else reaching an ``href``), else None."""
    return url if url is not None and _URL.match(url) else None


def format_value(value: float, unit: str, bound: str = "exact") -> str:
    """A number as the pages write it: the bound mark, thousands separated, shares and
    percentages with their sign (``≥0.5``, ``86.2%``, ``26,580``, ``1.5 pp``)."""
    mark = BOUND_MARK.get(bound, "")
    if unit == "percent":
        return f"{mark}{value:.4g}%"
    if unit == "percentage_points":
        return f"{mark}{value:+.4g} pp"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{mark}{int(value):,}"
    if abs(value) >= 1000:
        return f"{mark}{value:,.1f}"
    return f"{mark}{value:.4g}"


@dataclass(frozen=True)
class FigureRef:
    """A figure with its card and the verification the card computes for it."""

    card: Card
    figure: Figure
    verification: Verification

    @classmethod
    def of(cls, card: Card, figure: Figure) -> FigureRef:
        return cls(card, figure, card.verification_of(figure))

    @property
    def shown(self) -> str:
        f = self.figure
        return format_value(f.value, f.unit, f.bound)

    @property
    def subject(self) -> str | None:
        s = self.figure.subject
        return None if s is None else s.name + (f" {s.version}" if s.version else "")


def verified_share(card: Card) -> float | None:
    """Share of the card's figures and transfers that are verified (derived figures by their
    computed verification); None for a card without any."""
    statuses = [card.verification_of(f).status for f in card.figures]
    statuses += [t.verification.status for t in card.transfers]
    if not statuses:
        return None
    return round(statuses.count("verified") / len(statuses), 3)


def index_entry(card: Card) -> dict[str, Any]:
    """One row of the index (and of ``index.json``): what the table shows and filters on."""
    return {
        "id": card.id,
        "name": card.name,
        "aliases": list(card.aliases),
        "year": card.year,
        "tasks": list(card.tasks),
        "modalities": list(card.modalities),
        "examples": card.total_examples
        if all(s.num_examples is not None for s in card.splits.values())
        else None,
        "example_unit": card.example_unit,
        "license": card.license.id,
        "license_name": card.license.name,
        "commercial_use": card.license.commercial_use,
        "access": card.access,
        "status": card.status.state,
        "figures": len(card.figures),
        "transfers": len(card.transfers),
        "verified_share": verified_share(card),
        "page": f"cards/{card.id}.html",
    }


def derived_by(cards: Iterable[Card]) -> dict[str, list[str]]:
    """For each card id, the ids of the cards that name it in ``derived_from`` (sorted)."""
    out: dict[str, list[str]] = {}
    for card in cards:
        for parent in card.derived_from:
            out.setdefault(parent, []).append(card.id)
    return {k: sorted(v) for k, v in out.items()}


def incoming_transfers(cards: Iterable[Card]) -> dict[str, list[tuple[Card, Transfer]]]:
    """For each card id, the transfers of other cards whose target it is."""
    out: dict[str, list[tuple[Card, Transfer]]] = {}
    for card in cards:
        for t in card.transfers:
            if t.target != card.id:
                out.setdefault(t.target, []).append((card, t))
    return out


def _axis_order(axis: str) -> int:
    return list(AXES).index(axis) if axis in AXES else len(AXES)


def axis_sections(card: Card) -> list[tuple[str, list[FigureRef]]]:
    """The card's figures grouped by axis, axes in vocabulary order, figures in card order."""
    groups: dict[str, list[FigureRef]] = {}
    for f in card.figures:
        groups.setdefault(f.axis, []).append(FigureRef.of(card, f))
    return sorted(groups.items(), key=lambda kv: _axis_order(kv[0]))


def axis_figures(cards: Sequence[Card]) -> dict[str, list[FigureRef]]:
    """Every axis that has figures, in vocabulary order: its figures, by card id."""
    groups: dict[str, list[FigureRef]] = {}
    for card in sorted(cards, key=lambda c: c.id):
        for f in card.figures:
            groups.setdefault(f.axis, []).append(FigureRef.of(card, f))
    return dict(sorted(groups.items(), key=lambda kv: _axis_order(kv[0])))
