"""The loaders' exceptions. Each also subclasses the matching built-in."""

from __future__ import annotations

from visiondata.registry.errors import VisionDataError

__all__ = [
    "BadSampleError",
    "BadSampleWarning",
    "ChecksumError",
    "DecodeError",
    "LoaderError",
    "LoaderOptionError",
    "MissingFieldError",
    "PickleRefusedError",
    "SourceError",
    "StateError",
    "TarFormatError",
    "TooManyErrorsError",
    "TransientError",
    "TruncatedShardError",
    "UnsafeURLError",
]


class LoaderError(VisionDataError):
    """Base class of every error the loaders raise on purpose."""


class LoaderOptionError(LoaderError, ValueError):
    """A loader option has a wrong name or value; the message lists the valid ones."""


class SourceError(LoaderError, ValueError):
    """A source (manifest, directory, URL list, brace pattern) cannot be resolved."""


class UnsafeURLError(SourceError):
    """A ``pipe:`` or other shell-command URL: the loaders never run shell commands."""


class StateError(LoaderError, ValueError):
    """A state dict does not fit this loader (other version, data or options)."""


class ChecksumError(LoaderError, ValueError):
    """A shard's bytes do not match the manifest's size or sha256. Always fatal."""


class TooManyErrorsError(LoaderError, RuntimeError):
    """More samples were bad than ``max_error_rate`` allows."""


class TransientError(LoaderError, OSError):
    """Reading remote bytes kept failing after every retry."""


class BadSampleError(LoaderError, ValueError):
    """One sample cannot be used. Carries the shard, the key and the reason."""

    def __init__(self, shard: str, key: str | None = None, reason: str | None = None) -> None:
        if key is None or reason is None:
            # rebuilt from its message alone (as torch's DataLoader does across processes)
            self.shard, self.key, self.reason = "", "", shard
            super().__init__(shard)
            return
        self.shard = shard
        self.key = key
        self.reason = reason
        super().__init__(f"{shard}: sample {key!r}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        if not self.shard and not self.key:
            return (type(self), (self.reason,))
        return (type(self), (self.shard, self.key, self.reason))


class DecodeError(BadSampleError):
    """A member's bytes cannot be decoded (corrupt image, bad JSON, ...)."""


class MissingFieldError(BadSampleError):
    """A sample lacks a field the loader was asked for."""


class PickleRefusedError(BadSampleError):
    """A field would need pickle to decode and was not opted in with ``allow_pickle``."""


class TarFormatError(BadSampleError):
    """The tar bytes are not a valid archive at this point, or disagree with the manifest."""


class TruncatedShardError(BadSampleError):
    """The shard ends before this sample is complete (every earlier sample was delivered)."""


class BadSampleWarning(UserWarning):
    """Issued (in the main process) for each sample skipped under ``on_error='skip'``."""
