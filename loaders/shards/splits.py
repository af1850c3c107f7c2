"""Split names: what manifests call a split, and the other names it goes by. No I/O.

Manifests use the names the dataset cards use: ``train``, ``validation``, ``test`` and the
dataset's own (``train_extra``, ``reid_query``, ...). Source layouts spell them otherwise:
COCO's ``val2017``, VOC's and Cityscapes' ``val``. :func:`official_split` maps a source's name
to the manifest's (the year suffix dropped, then :data:`ALIASES`); the converters record the
source's own name beside it (``source_split``). :func:`split_candidates` lists the names a
request may match, so ``val`` finds ``validation`` and the other way round.
"""

from __future__ import annotations

import re

__all__ = ["ALIASES", "official_split", "split_candidates"]

#: other spellings of the official split names (the left side never names a manifest split)
ALIASES: dict[str, str] = {
    "val": "validation",
    "valid": "validation",
    "dev": "validation",
    "training": "train",
    "testing": "test",
}

_YEAR = re.compile(r"^(?P<name>[A-Za-z][A-Za-z_\-]*?)[_\-]?(19|20)\d\d$")


def official_split(name: str) -> str:
    """The manifest's name for a source's split: ``val2017`` -> ``validation``,
    ``train2014`` -> ``train``, ``val`` -> ``validation``; other names are kept."""
    m = _YEAR.match(name)
    base = m.group("name") if m else name
    return ALIASES.get(base.lower(), base if m else name)


def split_candidates(name: str) -> list[str]:
    """The names a request for split ``name`` may match, best first: itself, its official
    name, and the aliases of that official name."""
    official = official_split(name)
    out = [name, official, *(alias for alias, target in ALIASES.items() if target == official)]
    return list(dict.fromkeys(out))
