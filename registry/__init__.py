"""visiondata.registry: dataset cards with typed, sourced coverage and bias figures.

This package never imports torch.
"""

from __future__ import annotations

import typing
from importlib import metadata

from .errors import (
    CardNotFoundError,
    CardValidationError,
    Problem,
    QueryError,
    QueryLimitError,
    VisionDataError,
)
from .query import DEFAULT_MEMORY_LIMIT as _DEFAULT_MEMORY_LIMIT
from .query import DEFAULT_THREADS as _DEFAULT_THREADS
from .query import DEFAULT_TIMEOUT as _DEFAULT_TIMEOUT
from .query import run_query as _run_query  # light: duckdb and pyarrow load on first use
from .store import get_card, list_cards, load_card

if typing.TYPE_CHECKING:
    import pyarrow

    from .schema import Card, Edition, Figure, Transfer, Verification

__all__ = [
    "Card",
    "CardNotFoundError",
    "CardValidationError",
    "Edition",
    "Figure",
    "Problem",
    "QueryError",
    "QueryLimitError",
    "Transfer",
    "Verification",
    "VisionDataError",
    "__version__",
    "get_card",
    "list_cards",
    "load_card",
    "query",
]


_MODELS = ("Card", "Edition", "Figure", "Transfer", "Verification")


def __getattr__(name: str) -> typing.Any:
    # the models load on first use (pydantic builds them on import), so that `visiondata cards
    # list` and `cards query`, which read the catalogue cache, never import pydantic
    if name in _MODELS:
        from . import schema

        value = getattr(schema, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


try:
    __version__ = metadata.version("visiondata")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"


def query(
    sql: str,
    *,
    timeout: float | None = _DEFAULT_TIMEOUT,
    max_rows: int | None = None,
    memory_limit: str = _DEFAULT_MEMORY_LIMIT,
    threads: int = _DEFAULT_THREADS,
) -> pyarrow.Table:
    """Run read-only SQL over the catalogue's tables (see ``visiondata cards query --help``).

    Bounded like ``cards query``: interrupted after ``timeout`` seconds (None: no limit),
    refused when it returns more than ``max_rows`` rows, run under DuckDB's ``memory_limit``
    with ``threads`` threads; a limit that stops it raises QueryLimitError."""
    # The submodule is imported above, not here: importing visiondata.registry.query the first
    # time binds the package attribute `query` to the module, which would shadow this function.
    return _run_query(
        sql, timeout=timeout, max_rows=max_rows, memory_limit=memory_limit, threads=threads
    )
