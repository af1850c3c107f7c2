"""Converters that write WebDataset shards and a manifest from the layouts datasets ship in.

``convert(format, src, out, ...)`` is the one entry point; ``FORMATS`` lists the formats. Each
format is a module with a :class:`~visiondata.loaders.convert.base.Converter` subclass, a
generator of samples with deterministic keys; one driver (``run``) shards, parallelises,
resumes and writes the manifest for all of them.
"""

from __future__ import annotations

from ..errors import ConversionError, ItemError, MissingExtraError
from .dataset import write_shards
from .run import FORMATS, ON_ERROR, ConvertResult, convert, get_converter, parse_size

__all__ = [
    "FORMATS",
    "ON_ERROR",
    "ConversionError",
    "ConvertResult",
    "ItemError",
    "MissingExtraError",
    "convert",
    "get_converter",
    "parse_size",
    "write_shards",
]
