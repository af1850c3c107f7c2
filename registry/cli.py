"""The ``visiondata`` command. Command groups live in their own modules and register here.

Nothing imported at start-up may import torch: loader commands import it inside their
handlers, so ``visiondata cards ...`` stays fast and works without the loaders extra.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from .errors import CardNotFoundError, UsageError, VisionDataError

__all__ = ["COMMAND_MODULES", "UsageError", "main"]

#: Modules with a ``register(subparsers)`` function, in the order shown by ``--help``.
COMMAND_MODULES = [
    "visiondata.registry.cli_cards",
    "visiondata.registry.cli_bias",
    "visiondata.loaders.cli_shards",
    "visiondata.loaders.cli_audit",
    "visiondata.loaders.cli_bench",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="visiondata",
        description="Dataset cards with typed, sourced bias figures, and streaming loaders.",
    )
    parser.add_argument("--version", action="version", version=f"visiondata {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", parser_class=_Parser)
    groups.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(groups)
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


if __name__ == "__main__":  # python -m visiondata.registry.cli: use the one imported module
    from .cli import main as _main

    sys.exit(_main())
