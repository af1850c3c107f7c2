"""visiondata.loaders: stream sharded WebDataset tars into PyTorch (``pip install visiondata[loaders]``).

Every public name is listed once, in :data:`_EXPORTS`, and loads lazily (PEP 562), so
``import visiondata.loaders`` does not import torch, numpy or fsspec; the first use of
``Loader`` does. Modules whose names start with ``_`` are private. The public subpackages are
``visiondata.loaders.shards`` (the torch-free shard layer: manifest, tar reader and writer),
``visiondata.loaders.convert`` (the converters) and ``visiondata.loaders.audit``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names as _EXPORTS (a test keeps the two in step)
    from ._decode.collate import Ragged
    from ._decode.detection import DetectionTransform
    from ._decode.imageops import (
        CenterCrop,
        ColorJitter,
        GaussianBlur,
        RandomGrayscale,
        RandomResizedCrop,
    )
    from ._decode.video import ClipSampler
    from ._device import IMAGENET_MEAN, IMAGENET_STD, DevicePrefetcher, normalize_uint8
    from ._engine import RayOptions
    from ._engine._ray import RayEngine
    from ._stream.loader import Loader, LoaderStats, load
    from ._stream.world import World, detect_world
    from .errors import (
        BadMemberError,
        BadSampleError,
        BadSampleWarning,
        ChecksumError,
        ConversionError,
        DecodeError,
        DecompressionBombError,
        DuplicateMemberError,
        EngineError,
        ImageDecodeError,
        ItemError,
        LoaderError,
        LoaderOptionError,
        ManifestError,
        MemberTooLargeError,
        MissingExtraError,
        MissingFieldError,
        OutputLockedError,
        PickleRefusedError,
        SampleError,
        SourceError,
        StateError,
        TarFormatError,
        TooManyErrorsError,
        TransientError,
        TruncatedShardError,
        UnsafeMemberError,
        UnsafeURLError,
        VideoDecodeError,
        WorkerDiedError,
        WorkerTimeoutError,
    )

_ERRORS = (
    "BadMemberError",
    "BadSampleError",
    "BadSampleWarning",
    "ChecksumError",
    "ConversionError",
    "DecodeError",
    "DecompressionBombError",
    "DuplicateMemberError",
    "EngineError",
    "ImageDecodeError",
    "ItemError",
    "LoaderError",
    "LoaderOptionError",
    "ManifestError",
    "MemberTooLargeError",
    "MissingExtraError",
    "MissingFieldError",
    "OutputLockedError",
    "PickleRefusedError",
    "SampleError",
    "SourceError",
    "StateError",
    "TarFormatError",
    "TooManyErrorsError",
    "TransientError",
    "TruncatedShardError",
    "UnsafeMemberError",
    "UnsafeURLError",
    "VideoDecodeError",
    "WorkerDiedError",
    "WorkerTimeoutError",
)

#: public name -> the private module that defines it: the one list of public names.
_EXPORTS: dict[str, str] = {
    "Loader": "_stream.loader",
    "LoaderStats": "_stream.loader",
    "load": "_stream.loader",
    "World": "_stream.world",
    "detect_world": "_stream.world",
    "DevicePrefetcher": "_device",
    "normalize_uint8": "_device",
    "IMAGENET_MEAN": "_device",
    "IMAGENET_STD": "_device",
    "RandomResizedCrop": "_decode.imageops",
    "CenterCrop": "_decode.imageops",
    "ColorJitter": "_decode.imageops",
    "GaussianBlur": "_decode.imageops",
    "RandomGrayscale": "_decode.imageops",
    "DetectionTransform": "_decode.detection",
    "ClipSampler": "_decode.video",
    "Ragged": "_decode.collate",
    "RayEngine": "_engine._ray",
    "RayOptions": "_engine",
    **dict.fromkeys(_ERRORS, "errors"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        try:
            module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        except ModuleNotFoundError as exc:
            # a module of an optional extra: say which extra to install (registry/extras.py)
            from visiondata.registry.errors import MissingExtraError
            from visiondata.registry.extras import EXTRAS

            top = (exc.name or "").split(".")[0]
            extra = next((e for e, modules in EXTRAS.items() if top in modules), None)
            if extra is None:
                raise
            raise MissingExtraError(top, extra, f"visiondata.loaders.{name}") from exc
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
