"""The catalogue as a website: ``visiondata cards site`` and ``visiondata cards serve``.

:func:`build_site` writes a static site (an index of every card, a page per card with its
figures drawn by axis, a page per axis comparing the cards, a catalogue health page and a query
page) that works from ``file://`` and any static host: no CDN, no external fonts or scripts.
:class:`SiteServer` serves it on 127.0.0.1 with a live SQL box. Charts are drawn with
matplotlib and pages rendered with Jinja: both come with the ``plots`` extra.

Layers, bottom up: :mod:`.inputs` (cards and their files), :mod:`.model` (what pages show),
:mod:`.charts` and :mod:`.health` (what charts show), :mod:`.draw` (matplotlib), :mod:`.render`
(templates), :mod:`.build` (the whole tree), :mod:`.serve` (HTTP). Nothing here imports the CLI.
"""

from __future__ import annotations

from .build import BuildReport, build_site
from .inputs import SiteCard, card_folders, load_cards
from .serve import QueryLimits, QueryRunner, SiteServer

__all__ = [
    "BuildReport",
    "QueryLimits",
    "QueryRunner",
    "SiteCard",
    "SiteServer",
    "build_site",
    "card_folders",
    "load_cards",
]
