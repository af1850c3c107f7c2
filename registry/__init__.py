"""visiondata.registry: dataset cards with typed, sourced coverage and bias figures.

This package never imports torch.
"""

from __future__ import annotations

import typing
from importlib import metadata

from .errors import CardNotFoundError, CardValidationError, Problem, QueryError, VisionDataError
from .query import run_query as _run_query  # light: duckdb and pyarrow load on first use
from .schema import Card, Edition, Figure, Transfer, Verification
from .store import get_card, list_cards, load_card

if typing.TYPE_CHECKING:
    import pyarrow

__all__ = [
    "Card",
    "CardNotFoundError",
    "CardValidationError",
    "Edition",
    "Figure",
    "Problem",
    "QueryError",
    "Transfer",
    "Verification",
    "VisionDataError",
    "__version__",
    "get_card",
    "list_cards",
    "load_card",
    "query",
]

try:
    __version__ = metadata.version("visiondata")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"


def query(sql: str) -> pyarrow.Table:
    """Run read-only SQL over the catalogue's tables (see ``visiondata cards query --help``)."""
    # The submodule is imported above, not here: importing visiondata.registry.query the first
    # time binds the package attribute `query` to the module, which would shadow this function.
    return _run_query(sql)
