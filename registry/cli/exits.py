"""The one error handler of ``visiondata``: every error becomes one line and an exit status.

Exit statuses:

====  =====================================================================================
0     done
1     a problem was found: an invalid card, a shard that fails verification, bad items in a
      conversion (each problem is listed on standard output, one per line)
2     a usage or input error: a wrong option value, a missing or unreadable input, an id,
      split or column that does not exist, SQL that is not a read-only query or that ran past
      its limits, a command whose extra is not installed
70    an internal error (a bug): the traceback is printed, then a line asking for a report
130   interrupted (Ctrl-C)
====  =====================================================================================

The line on standard error is ``visiondata: <command>: <what was given>: <what was
expected>``. Which error class gets which status is decided in one table,
:data:`EXIT_CODES`, keyed by class name so the registry names the loaders' errors without
importing them; an error that carries a non-empty ``problems`` list is always status 1.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "EXIT_BUG",
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROBLEM",
    "EXIT_USAGE",
    "OS_ERRORS",
    "exit_code",
    "handle",
    "one_line",
    "status_of",
]

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_BUG = 70  # EX_SOFTWARE in sysexits.h
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C

_R = "visiondata.registry.errors."
_L = "visiondata.loaders.errors."

#: Exit status of each error class raised on purpose (looked up along the class's MRO, so a
#: subclass not named here gets its nearest named base's status).
EXIT_CODES: Mapping[str, int] = MappingProxyType(
    {
        _R + "VisionDataError": EXIT_PROBLEM,
        _R + "CardValidationError": EXIT_PROBLEM,
        _R + "UsageError": EXIT_USAGE,
        _R + "MissingExtraError": EXIT_USAGE,
        _R + "CardNotFoundError": EXIT_USAGE,
        _R + "QueryError": EXIT_USAGE,
        _L + "LoaderOptionError": EXIT_USAGE,
        _L + "StateError": EXIT_USAGE,
        _L + "SourceError": EXIT_USAGE,  # UnsafeURLError, ManifestError: the input given
        _L + "ConversionError": EXIT_USAGE,  # bad options or source layout (no items named)
        _L + "OutputLockedError": EXIT_USAGE,  # OUT is being written by another process
        _L + "ItemError": EXIT_PROBLEM,
        _L + "ChecksumError": EXIT_PROBLEM,
        _L + "TransientError": EXIT_PROBLEM,
        _L + "TooManyErrorsError": EXIT_PROBLEM,
        _L + "WorkerTimeoutError": EXIT_PROBLEM,
        _L + "WorkerDiedError": EXIT_PROBLEM,
        _L + "SampleError": EXIT_PROBLEM,
        _L + "BadSampleError": EXIT_PROBLEM,
        _L + "EngineError": EXIT_PROBLEM,  # the Ray cluster unreachable, a task lost or late
    }
)

#: OS errors a user causes, with what the path was expected to be. Each is a usage error.
OS_ERRORS: Mapping[type[OSError], str] = MappingProxyType(
    {
        FileNotFoundError: "no such file or folder",
        NotADirectoryError: "a part of the path is a file, not a folder",
        IsADirectoryError: "is a folder, not a file",
        FileExistsError: "already exists",
        PermissionError: "permission denied",
    }
)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def status_of(cls: type[BaseException]) -> int | None:
    """:data:`EXIT_CODES`' status for the error class ``cls`` (its nearest named base's)."""
    for base in cls.__mro__:
        code = EXIT_CODES.get(_name(base))
        if code is not None:
            return code
    return None


def exit_code(exc: BaseException) -> int | None:
    """The exit status for ``exc``, or None when it is not an error raised on purpose."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if getattr(exc, "problems", None):
        return EXIT_PROBLEM
    code = status_of(type(exc))
    if code is not None:
        return code
    if isinstance(exc, UnicodeDecodeError):
        return EXIT_USAGE
    if isinstance(exc, OSError) and exc.filename is not None:
        return EXIT_USAGE if _os_base(exc) else EXIT_PROBLEM
    return None


def _os_base(exc: OSError) -> str | None:
    for cls, text in OS_ERRORS.items():
        if isinstance(exc, cls):
            return text
    return None


def one_line(exc: BaseException) -> str:
    """The error as ``<what was given>: <what was expected>``, on one line."""
    if isinstance(exc, OSError) and exc.filename is not None:
        what = _os_base(exc) or exc.strerror or type(exc).__name__
        target = f" -> {exc.filename2}" if exc.filename2 else ""
        return f"{exc.filename}{target}: {what}"
    if isinstance(exc, UnicodeDecodeError):
        return f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not UTF-8 (expected UTF-8 text)"
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    if getattr(exc, "problems", None) and text.endswith(":"):
        text = text[:-1] + " (each listed on standard output)"
    return text


def _problem_lines(exc: BaseException) -> list[str]:
    problems = getattr(exc, "problems", None) or []
    lines = []
    for p in problems:
        if isinstance(p, tuple) and len(p) == 2:
            lines.append(f"{p[0]}: {p[1]}")
        else:
            lines.append(str(p))
    return lines


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("visiondata")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def handle(exc: BaseException, command: str, *, stderr: Any = None) -> int:
    """Report ``exc`` (raised while running ``command``) and return the exit status."""
    err = stderr if stderr is not None else sys.stderr
    code = exit_code(exc)
    prefix = "visiondata: " if command == "visiondata" else f"visiondata: {command}: "
    if code == EXIT_INTERRUPTED:
        print(f"{prefix}interrupted", file=err)
        return code
    if code is None:
        traceback.print_exception(exc, file=err)
        print(
            f"{prefix}internal error {type(exc).__name__}; this is a bug in "
            f"visiondata {_version()} (Python {sys.version.split()[0]}): please report it "
            "with the command and the traceback above",
            file=err,
        )
        return EXIT_BUG
    for line in _problem_lines(exc):
        print(line)
    print(f"{prefix}{one_line(exc)}", file=err)
    return code
