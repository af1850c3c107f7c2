"""The ``visiondata`` command. Command groups live in their own modules and register here.

Commands are discovered through one mechanism, the ``visiondata.commands`` entry-point group
(``pyproject.toml``): each entry names a ``register(subparsers)`` function. The registry's own
groups come first, then every other group by name. So nothing here imports the loaders: their
commands join when the loaders are installed, and a third-party package can add a group the
same way.

Nothing imported at start-up may import torch: loader commands import it inside their
handlers, so ``visiondata cards ...`` stays fast and works without the loaders extra.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, NoReturn

from ..errors import CardNotFoundError, UsageError, VisionDataError

__all__ = ["ENTRY_POINT_GROUP", "UsageError", "build_parser", "command_registrations", "main"]

#: The entry-point group every command group registers in.
ENTRY_POINT_GROUP = "visiondata.commands"
_OWN = "visiondata.registry."


def command_registrations() -> list[tuple[str, Callable[[Any], None]]]:
    """``(name, register)`` of every command group, the registry's own first, then by name."""
    eps = sorted(
        metadata.entry_points(group=ENTRY_POINT_GROUP),
        key=lambda ep: (not ep.value.startswith(_OWN), ep.name),
    )
    out: list[tuple[str, Callable[[Any], None]]] = []
    for ep in eps:
        if ep.value.startswith("visiondata."):
            out.append((ep.name, ep.load()))  # our own: an import error is a bug, let it show
            continue
        try:
            out.append((ep.name, ep.load()))
        except Exception as exc:  # a broken plug-in must not take the command down
            warnings.warn(
                f"command group {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2
            )
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="visiondata",
        description="Dataset cards with typed, sourced bias figures, and streaming loaders.",
    )
    parser.add_argument("--version", action="version", version=f"visiondata {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", parser_class=_Parser)
    groups.required = True
    for _name, register in command_registrations():
        register(groups)
    return parser


def _show_warning(
    message: Warning | str, category: type[Warning], *args: object, **kwargs: object
) -> None:
    print(f"visiondata: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except UsageError as exc:
        print(f"visiondata: error: {exc}", file=sys.stderr)
        return 2
    except CardNotFoundError as exc:
        print(f"visiondata: error: {exc}", file=sys.stderr)
        return 2
    except VisionDataError as exc:
        print(f"visiondata: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `visiondata cards list | head`
        return 0
    return int(code or 0)
