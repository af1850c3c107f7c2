"""Small helpers shared by the exporters."""

from __future__ import annotations

import re

from ..schema import Card

__all__ = ["notes_of", "size_category", "spdx_url", "split_size"]

_SPDX_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")


def notes_of(card: Card, kind: str) -> list[str]:
    """The texts of the card's notes of one kind, in card order."""
    return [n.text.strip() for n in card.notes if n.kind == kind]


def split_size(num_examples: int | None) -> str:
    """A split size for prose: ``12,345``, or ``no fixed size`` for generators."""
    return "no fixed size" if num_examples is None else f"{num_examples:,}"


def spdx_url(license_id: str) -> str | None:
    """The SPDX page of a license id, or None for 'other' / 'unknown'."""
    if license_id.casefold() in ("other", "unknown") or not _SPDX_LIKE.match(license_id):
        return None
    return f"https://spdx.org/licenses/{license_id}.html"


#: Hugging Face size categories, by exclusive upper bound.
_SIZES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)


def size_category(n: int) -> str:
    """The Hugging Face ``size_categories`` bucket of ``n`` examples."""
    for upper, name in _SIZES:
        if n < upper:
            return name
    return "n>1T"
