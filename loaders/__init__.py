"""visiondata.loaders: stream sharded WebDataset tars into PyTorch (``pip install visiondata[loaders]``).

The public names load lazily (PEP 562), so ``import visiondata.loaders`` does not import
torch, numpy or fsspec; the first use of ``Loader`` does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (
        BadSampleError,
        BadSampleWarning,
        ChecksumError,
        DecodeError,
        LoaderError,
        LoaderOptionError,
        MissingFieldError,
        PickleRefusedError,
        SourceError,
        StateError,
        TarFormatError,
        TooManyErrorsError,
        TransientError,
        TruncatedShardError,
        UnsafeURLError,
    )
    from .loader import Loader, LoaderStats, load
    from .world import World, detect_world

_EXPORTS: dict[str, str] = {
    "Loader": "loader",
    "LoaderStats": "loader",
    "load": "loader",
    "World": "world",
    "detect_world": "world",
    "BadSampleError": "errors",
    "BadSampleWarning": "errors",
    "ChecksumError": "errors",
    "DecodeError": "errors",
    "LoaderError": "errors",
    "LoaderOptionError": "errors",
    "MissingFieldError": "errors",
    "PickleRefusedError": "errors",
    "SourceError": "errors",
    "StateError": "errors",
    "TarFormatError": "errors",
    "TooManyErrorsError": "errors",
    "TransientError": "errors",
    "TruncatedShardError": "errors",
    "UnsafeURLError": "errors",
}

__all__ = [
    "BadSampleError",
    "BadSampleWarning",
    "ChecksumError",
    "DecodeError",
    "Loader",
    "LoaderError",
    "LoaderOptionError",
    "LoaderStats",
    "MissingFieldError",
    "PickleRefusedError",
    "SourceError",
    "StateError",
    "TarFormatError",
    "TooManyErrorsError",
    "TransientError",
    "TruncatedShardError",
    "UnsafeURLError",
    "World",
    "detect_world",
    "load",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
