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
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, NoReturn

from ..errors import UsageError
from .args import command_name, did_you_mean
from .exits import handle

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


_ARG = re.compile(r"^argument (\S+): (.*)$", re.S)
_CHOICE = re.compile(r"^invalid choice: '?(.*?)'? \(choose from (.*)\)$", re.S)


def parse_error_line(message: str) -> str:
    """argparse's ``message`` as ``<what was given>: <what was expected>``."""
    m = _ARG.match(message)
    if m is None:
        return message
    name, rest = m.groups()
    option = name.startswith("-")
    choice = _CHOICE.match(rest)
    if choice is not None:
        value, choices = choice.groups()
        names = [c.strip().strip("'") for c in choices.split(",")]
        given = f"{name} {value!r}" if option else repr(value)
        return (
            f"{given}: unknown {'value' if option else 'command'}{did_you_mean(value, names)} "
            f"(expected one of: {', '.join(names)})"
        )
    if rest.startswith("invalid ") and " value: " in rest:  # a type= that is not a Kind
        kind, value = rest[len("invalid ") :].split(" value: ", 1)
        wanted = {"int": "a whole number", "float": "a number"}.get(kind, f"a {kind} value")
        return f"{name} {value}: expected {wanted}"
    return f"{name} {rest}" if option else rest


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, and an ``epilog`` that may be a function (built only
    when help is shown, so a costly epilog costs nothing on every other run)."""

    def format_help(self) -> str:
        if callable(self.epilog):
            self.epilog = self.epilog()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        line = parse_error_line(message)
        where = command_name(self)
        prefix = "visiondata: " if where == "visiondata" else f"visiondata: {where}: "
        self.exit(2, f"{prefix}{line} (see {self.prog} --help)\n")

    def unknown(self, extra: Sequence[str]) -> NoReturn:
        """Refuse the arguments this (sub)command does not know, with "did you mean"."""
        options = [o for a in self._actions for o in a.option_strings]
        first = next((e.split("=")[0] for e in extra if e.startswith("-")), "")
        hint = did_you_mean(first, options) if first else ""
        self.error(f"unknown argument(s) {' '.join(extra)}{hint}")


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of ``command`` (e.g. 'cards list') under ``parser``."""
    for word in command.split():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) and word in action.choices:
                parser = action.choices[word]
                break
    return parser


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="visiondata",
        description="Dataset cards with typed, sourced bias figures, and streaming loaders.",
        epilog="exit status: 0 done; 1 a problem was found (listed on standard output); "
        "2 a usage or input error; 70 an internal error (a bug); 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"visiondata {__version__}")
    parser.set_defaults(cli_command="visiondata")
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
    """Run ``visiondata`` with ``argv`` (default ``sys.argv[1:]``); the exit status.

    Every error ends here (:mod:`.exits`): one line on standard error and a status (1 a
    problem found, 2 usage or input, 130 Ctrl-C); an unexpected one keeps its traceback."""
    command = "visiondata"
    try:
        warnings.showwarning = _show_warning
        parser = build_parser()
        root = parser if isinstance(parser, _Parser) else _Parser(prog="visiondata")
        args, extra = parser.parse_known_args(argv)
        command = args.cli_command
        if extra:
            sub = _subparser(parser, command)
            (sub if isinstance(sub, _Parser) else root).unknown(extra)
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BrokenPipeError:  # e.g. `visiondata cards list | head`
        _quiet_stdout()
        return 0
    except BaseException as exc:
        return handle(exc, command)


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
