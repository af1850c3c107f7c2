"""Every error the loaders, the shard layer, the converters and the audits raise on purpose.

The whole tree, drawn once (each class also subclasses the built-in named after it, so
``except ValueError`` keeps working)::

    VisionDataError                         visiondata.registry.errors: the one base
    ├── MissingExtraError (ImportError)     visiondata.registry.errors: an extra is not installed
    └── LoaderError
        ├── LoaderOptionError (ValueError)  a wrong option name or value; lists the valid ones
        ├── StateError (ValueError)         a resume state that does not fit this loader
        ├── SourceError (ValueError)        a source that cannot be resolved
        │   ├── UnsafeURLError              pipe:/shell URLs; shard names outside the set
        │   └── ManifestError               a manifest missing, unreadable or inconsistent
        ├── ChecksumError (ValueError)      a shard's bytes differ from its manifest (fatal)
        ├── TransientError (OSError)        remote reads kept failing after every retry
        ├── TooManyErrorsError (RuntimeError)  more bad samples than max_error_rate allows
        ├── WorkerTimeoutError (TimeoutError)  no batch from the workers within worker_timeout
        ├── WorkerDiedError (RuntimeError)  a worker process killed by a signal or exited
        ├── EngineError (RuntimeError)      the Ray cluster cannot be reached, a task timed out
        ├── SampleError (ValueError)        a sample the writer cannot write (key, extension)
        ├── ConversionError (ValueError)    a conversion cannot go on
        │   ├── ItemError                   one input item is bad
        │   └── OutputLockedError           another process is writing the same output split
        └── BadSampleError (ValueError)     one sample cannot be used: shard, key, reason
            ├── DecodeError                 a member's bytes do not decode
            │   ├── ImageDecodeError        an image that does not decode
            │   ├── VideoDecodeError        a video that does not decode
            │   └── DecompressionBombError  more pixels than max_pixels, refused before decoding
            ├── MissingFieldError           a field the loader was asked for is absent
            ├── PickleRefusedError          a pickle-family member, not opted in
            └── BadMemberError              the tar itself is bad at this sample
                ├── TarFormatError          not a valid header; disagrees with the manifest
                ├── TruncatedShardError     the shard ends inside this sample
                ├── UnsafeMemberError       a link, device, directory or a name outside the set
                ├── MemberTooLargeError     a member over max_member_bytes
                └── DuplicateMemberError    a key or a member repeated

    VisionDataWarning (UserWarning)
    └── BadSampleWarning                    one per sample skipped under on_error="skip"
"""

from __future__ import annotations

from collections.abc import Sequence

from visiondata.registry.errors import MissingExtraError, VisionDataError, VisionDataWarning

__all__ = [
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
]


class LoaderError(VisionDataError):
    """Base class of every error the loaders raise on purpose."""


class LoaderOptionError(LoaderError, ValueError):
    """A loader option has a wrong name or value; the message lists the valid ones."""


class StateError(LoaderError, ValueError):
    """A state dict does not fit this loader (other version, data or options)."""


class SourceError(LoaderError, ValueError):
    """A source (manifest, directory, URL list, brace pattern, glob) cannot be resolved."""


class UnsafeURLError(SourceError):
    """A ``pipe:`` or other shell-command URL, or a manifest entry that points outside the
    manifest's own folder (absolute path, ``..``, another scheme or host)."""


class ManifestError(SourceError):
    """A manifest is missing, unreadable or inconsistent; the message names the file."""


class ChecksumError(LoaderError, ValueError):
    """A shard's bytes do not match the manifest's size or sha256. Always fatal."""


class TransientError(LoaderError, OSError):
    """Reading remote bytes kept failing (or stalled) after every retry; names the URL."""


class TooManyErrorsError(LoaderError, RuntimeError):
    """More samples were bad than ``max_error_rate`` allows."""


class WorkerTimeoutError(LoaderError, TimeoutError):
    """The worker processes sent no batch for ``worker_timeout`` seconds (one stuck in a read
    or a lock, a transform that never returns). Names the worker that owed the batch; every
    worker's Python stack is printed on stderr first, and the workers are stopped."""


class WorkerDiedError(LoaderError, RuntimeError):
    """A worker process ended without being asked: killed by a signal (a crash in C code, the
    out-of-memory killer) or exited. Names the worker, its pid and how it ended; a worker
    killed by a crash prints every thread's Python stack on stderr first, and the other
    workers are stopped. (A ``RuntimeError``, as DataLoader's own report of it is.)"""


class EngineError(LoaderError, RuntimeError):
    """The engine cannot run the plan: the Ray cluster cannot be reached, a task ran past its
    timeout, or a task was lost after every retry. Finished shards are kept for a rerun."""


class SampleError(LoaderError, ValueError):
    """A sample cannot be written: bad key, bad extension, duplicate key."""


class ConversionError(LoaderError, ValueError):
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


class OutputLockedError(ConversionError):
    """Another process is converting into the same output folder and split."""


class BadSampleError(LoaderError, ValueError):
    """One sample cannot be used. Carries the shard, the key and the reason.

    ``offset`` is the byte offset in the shard where the problem is, when known.
    """

    def __init__(
        self,
        shard: str,
        key: str | None = None,
        reason: str | None = None,
        offset: int | None = None,
    ) -> None:
        if key is None or reason is None:
            # built from a message alone (a decoder that does not know the shard, or torch's
            # DataLoader rebuilding the error in the main process)
            self.shard, self.key, self.reason, self.offset = "", "", shard, offset
            super().__init__(shard)
            return
        self.shard = shard
        self.key = key
        self.reason = reason
        self.offset = offset
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{shard}: sample {key!r}{where}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        if not self.shard and not self.key:
            return (type(self), (self.reason, None, None, self.offset))
        return (type(self), (self.shard, self.key, self.reason, self.offset))


class DecodeError(BadSampleError):
    """A member's bytes cannot be decoded (corrupt image, bad JSON, a ``cls`` that is not an
    integer, ...)."""


class ImageDecodeError(DecodeError):
    """An image member does not decode (raised by the image decoders, which do not know the
    shard; the loader reports it with the shard and key)."""


class VideoDecodeError(DecodeError):
    """A video member does not decode, or has no frames to sample."""


class DecompressionBombError(DecodeError):
    """An image (or video frame) declares more pixels than ``max_pixels``; refused from its
    header, before any pixel is allocated."""


class MissingFieldError(BadSampleError):
    """A sample lacks a field the loader was asked for."""


class PickleRefusedError(BadSampleError):
    """A field would need pickle to decode and was not opted in with ``allow_pickle``."""


class BadMemberError(BadSampleError):
    """The tar archive itself is bad at this sample (the shard core's member policy)."""


class TarFormatError(BadMemberError):
    """The tar bytes are not a valid archive at this point, or disagree with the manifest."""


class TruncatedShardError(BadMemberError):
    """The shard ends before this sample is complete (every earlier sample was delivered)."""


class UnsafeMemberError(BadMemberError):
    """A member that is not a regular file (link, device, fifo, directory), or whose name is
    absolute, holds ``..``, is empty or is only an extension."""


class MemberTooLargeError(BadMemberError):
    """A member (inflated size, for gzip shards) larger than ``max_member_bytes``."""


class DuplicateMemberError(BadMemberError):
    """The same member twice in one sample, or the same key twice in one shard."""


class BadSampleWarning(VisionDataWarning):
    """Issued (in the main process) for each sample skipped under ``on_error='skip'``."""
