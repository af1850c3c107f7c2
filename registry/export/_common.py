"""Small helpers shared by the exporters."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import UsageError
from ..schema import Card

#: The ``format`` of a visiondata shard-set manifest (written by the loaders' converters).
MANIFEST_FORMAT = "visiondata.manifest"

__all__ = ["manifest_data_files", "notes_of", "size_category", "spdx_url", "split_size"]

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


def manifest_data_files(path: Path) -> dict[str, list[str]]:
    """Split -> shard file names (relative to the manifest's directory) of a shard set's
    ``manifest.json`` (``path`` is the file or its directory). Only the split and shard names
    are read here; ``visiondata shards verify`` checks the rest."""
    file = path / "manifest.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{file}: cannot read the shard manifest: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{file}: not a JSON shard manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise UsageError(
            f"{file}: not a visiondata shard manifest (expected format {MANIFEST_FORMAT!r})"
        )
    out: dict[str, list[str]] = {}
    splits = data.get("splits")
    for split, info in splits.items() if isinstance(splits, dict) else []:
        shards = info.get("shards") if isinstance(info, dict) else None
        names = [s.get("name") for s in shards or [] if isinstance(s, dict)]
        if not names or not all(isinstance(n, str) for n in names):
            raise UsageError(f"{file}: split {split!r} lists no shard names")
        out[str(split)] = [str(n) for n in names]
    if not out:
        raise UsageError(f"{file}: the manifest has no split with shards")
    return out
