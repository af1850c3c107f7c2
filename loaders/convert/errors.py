"""The converters' exceptions. Each also subclasses the matching built-in."""

from __future__ import annotations

from collections.abc import Sequence

# mypy cannot follow the editable install's package mapping (loaders/ -> visiondata.loaders),
# so the cross-package import is opaque to it; at run time it is the registry's base error.
from visiondata.registry.errors import VisionDataError  # type: ignore[import-not-found]

__all__ = ["ConversionError", "ItemError", "MissingExtraError"]


class ConversionError(VisionDataError, ValueError):  # type: ignore[misc]
    """A conversion cannot go on: bad options, bad source layout, or bad items under
    ``on_error="raise"``. ``problems`` lists ``(item, reason)`` pairs where there are any."""

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        self.problems = list(problems)
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.problems))


class ItemError(ConversionError):
    """One input item is bad (corrupt image, missing file, duplicate key, path escaping SRC,
    unexpected file type). The message names the item and the reason."""

    def __init__(self, item: str, reason: str) -> None:
        self.item = item
        self.reason = reason
        super().__init__(f"{item}: {reason}", [(item, reason)])

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.item, self.reason))


class MissingExtraError(VisionDataError, ImportError):  # type: ignore[misc]
    """A module of the ``loaders`` extra is not installed."""

    def __init__(self, module: str) -> None:
        super().__init__(
            f"the converters need {module!r}, which is not installed; "
            "install the loaders extra: pip install 'visiondata[loaders]'"
        )
        self.name = module

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.name,))
