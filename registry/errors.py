"""The registry's exceptions. Each also subclasses the matching built-in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CardNotFoundError",
    "CardValidationError",
    "MissingExtraError",
    "Problem",
    "QueryError",
    "QueryLimitError",
    "UsageError",
    "VisionDataError",
    "VisionDataWarning",
]


class VisionDataError(Exception):
    """Base class of every error visiondata raises on purpose (registry, shard layer, loaders,
    converters, audits: the whole tree is drawn in ``visiondata.loaders.errors``)."""


class VisionDataWarning(UserWarning):
    """Base class of every warning visiondata issues on purpose."""


class MissingExtraError(VisionDataError, ImportError):
    """A module that an optional extra provides is not installed; says which extra to install."""

    def __init__(self, module: str, extra: str = "loaders", what: str = "this feature") -> None:
        self.module, self.extra, self.what = module, extra, what
        super().__init__(
            f"{module!r} is not installed ({what} needs it); install the {extra} extra: "
            f'pip install "visiondata[{extra}]"'
        )
        self.name = module

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.module, self.extra, self.what))


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in a card, located by file, line and field path."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class CardValidationError(VisionDataError, ValueError):
    """A card (or several) failed validation; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        head = f"{len(self.problems)} problem(s) in card data:"
        super().__init__("\n".join([head, *(str(p) for p in self.problems)]))


class CardNotFoundError(VisionDataError, KeyError):
    """No card has the requested id or alias."""

    def __init__(self, name: str, suggestions: Sequence[str] = ()) -> None:
        self.name = name
        self.suggestions = list(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        self.message = f"no dataset card has the id or alias {name!r}{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class UsageError(VisionDataError, ValueError):
    """A command-line argument is wrong; the CLI exits 2 with this one-line reason."""


class QueryError(VisionDataError, ValueError):
    """A catalogue query failed (syntax error, unknown table or column, write attempt)."""


class QueryLimitError(QueryError):
    """A catalogue query ran past its time, memory or row limit and was stopped."""
