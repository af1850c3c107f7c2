"""Registering commands and arguments: one helper for each, and the kinds of argument values.

Every argument that takes a value names its *kind* through ``type=``: a :class:`Kind` that
checks the value where it is given (argparse calls it while parsing) and says what it expected::

    p = add_command(sub, "info", "show a shard set", cmd_info)
    p.add_argument("out", type=SHARD_SET)
    p.add_argument("--workers", type=count(1), default=1)
    add_format(p)

Paths are checked without opening them (a FIFO is refused as "not a regular file" instead of
blocking), so a missing path, a file where a folder belongs or a path below a regular file is
answered in one line before any work starts. Checks that need the data (does this split
exist?) happen in the handlers, which raise :class:`~visiondata.registry.errors.UsageError`.

The kinds are data (:attr:`Kind.kind` names one of :data:`KINDS`), so a test can walk the
parser, find every argument's kind and try the bad values of that kind on every command.
"""

from __future__ import annotations

import argparse
import difflib
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError

__all__ = [
    "CARD",
    "CARD_FILE",
    "CARD_PATHS",
    "CONTENTS",
    "KINDS",
    "NEW_ID",
    "OUTPUT_DIR",
    "OUTPUT_FILE",
    "SHARD_SET",
    "SHARD_SOURCE",
    "SQL",
    "TEXT",
    "Kind",
    "add_command",
    "add_format",
    "add_group",
    "command_name",
    "count",
    "did_you_mean",
    "input_dir",
    "input_file",
    "input_path",
    "number",
    "read_text",
    "term",
]

#: Every kind of argument value, with what it expects (the test of bad input is built from it).
KINDS: dict[str, str] = {
    "text": "any text",
    "sql": "one read-only SQL statement",
    "new-id": "a new card id: lowercase words joined by hyphens",
    "term": "a term of a controlled vocabulary",
    "card": "a card id or alias",
    "column": "a column of the input table",
    "label": "a label present in the data",
    "split": "a split present in the data",
    "split-name": "a split name: letters, digits, '_' and '-'",
    "count": "a whole number",
    "number": "a number",
    "input-file": "an existing regular file",
    "input-dir": "an existing folder",
    "input-path": "an existing file or folder",
    "shard-set": "a folder holding manifest.json (from `visiondata convert`), or a URL",
    "output-file": "a file to write (its folder is created)",
    "output-dir": "a folder to write into (created if missing)",
}


#: What an input file holds, for :attr:`Kind.content`: how content that is not UTF-8 is met.
CONTENTS: dict[str, str] = {
    "utf-8": "UTF-8 text, decoded where it is given: anything else is a usage error (2)",
    "card": "a card: content that does not parse is a problem found (1), listed by validate",
    "table": "CSV (UTF-8) or Parquet, read by the command: unreadable content is a usage error (2)",
}


@dataclass(frozen=True)
class Kind:
    """An argument value's kind: ``check`` turns the text into the value or raises
    ``argparse.ArgumentTypeError`` with ``'<value>: <what is wrong> (expected ...)'``.

    ``example`` is a value that fits (for paths, the name of the kind of fixture a test
    builds, e.g. ``@shards``); ``content`` says what an input file holds (:data:`CONTENTS`)."""

    kind: str
    expected: str
    check: Callable[[str, Kind], Any] | None = None
    example: str | None = None
    content: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown argument kind {self.kind!r} (expected one of {list(KINDS)})")
        if self.content is not None and self.content not in CONTENTS:
            raise ValueError(f"unknown content {self.content!r} (expected one of {list(CONTENTS)})")

    def __call__(self, value: str) -> Any:
        return value if self.check is None else self.check(value, self)

    def refuse(self, value: str, problem: str) -> argparse.ArgumentTypeError:
        return argparse.ArgumentTypeError(f"{value}: {problem} (expected {self.expected})")

    @property
    def __name__(self) -> str:  # argparse names the type in its own messages
        return self.kind


# -- paths ------------------------------------------------------------------------------------


def _stat(path: Path) -> os.stat_result | None:
    """``os.stat`` of ``path``, None when it does not exist; raises for a path below a file."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _path_problem(path: Path, want: str) -> str | None:
    """Why ``path`` is not an existing ``want`` ('file', 'dir' or 'any'), or None."""
    try:
        st = _stat(path)
    except NotADirectoryError:
        return "a part of the path is a file, not a folder"
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return exc.strerror or str(exc)
    if st is None:
        return "no such file or folder"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not a file" if want == "file" else None
    if want == "dir":
        return "is a file, not a folder"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return None


def _writable_problem(path: Path, want: str) -> str | None:
    """Why ``path`` cannot be written as a ``want`` ('file' or 'dir'), or None."""
    problem = _path_problem(path, want)
    if problem in (None, "no such file or folder"):
        # missing is fine when the nearest existing ancestor is a folder
        for parent in path.absolute().parents:
            parent_problem = _path_problem(parent, "dir")
            if parent_problem is None:
                return None
            if parent_problem != "no such file or folder":
                return f"cannot be created: {parent} {parent_problem}"
        return None
    return problem


def _check_input(want: str) -> Callable[[str, Kind], Path]:
    def check(value: str, kind: Kind) -> Path:
        path = Path(value)
        problem = _path_problem(path, want)
        if problem is None and kind.content == "utf-8" and path.is_file():
            problem = _not_utf8(path)
        if problem is not None:
            raise kind.refuse(value, problem)
        return path

    return check


def _not_utf8(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8"
    return None


def _check_output(want: str) -> Callable[[str, Kind], Path]:
    def check(value: str, kind: Kind) -> Path:
        problem = _writable_problem(Path(value), want)
        if problem is not None:
            raise kind.refuse(value, problem)
        return Path(value)

    return check


def input_file(expected: str, *, example: str, content: str | None = None) -> Kind:
    """An existing regular file holding ``content`` (see :data:`CONTENTS`)."""
    return Kind("input-file", expected, _check_input("file"), example, content)


def input_dir(expected: str, *, example: str) -> Kind:
    return Kind("input-dir", expected, _check_input("dir"), example)


def input_path(expected: str, *, example: str, content: str | None = None) -> Kind:
    """An existing file or folder."""
    return Kind("input-path", expected, _check_input("any"), example, content)


def _check_shard_set(value: str, kind: Kind) -> str:
    if "://" in value and not value.startswith("file://"):
        if kind is not SHARD_SOURCE:
            raise kind.refuse(value, "a URL, but this command reads local shard sets only")
        from ..extras import require_protocol

        require_protocol(value)  # the extra its scheme needs (s3: remote, hf: hf)
        return value
    path = Path(value[len("file://") :] if value.startswith("file://") else value)
    manifest = path if path.name == "manifest.json" else path / "manifest.json"
    problem = _path_problem(path, "file" if path == manifest else "dir")
    if problem is None:
        problem = _path_problem(manifest, "file")
        if problem == "no such file or folder":
            problem = "holds no manifest.json"
        elif problem is not None:
            problem = f"manifest.json {problem}"
    if problem is None:
        try:
            manifest.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"manifest.json: byte at offset {exc.start} is not UTF-8"
        except OSError as exc:
            problem = f"manifest.json: {exc.strerror or exc}"
    if problem is not None:
        raise kind.refuse(value, problem)
    return value


def _check_new_id(value: str, kind: Kind) -> str:
    import re

    from ..schema import ID_PATTERN  # only when an id is given

    if not re.match(ID_PATTERN, value):
        raise kind.refuse(value, "not lowercase words joined by hyphens")
    return value


SHARD_SET = Kind(
    "shard-set",
    "a folder holding manifest.json, written by `visiondata convert`",
    _check_shard_set,
    "@shards",
)
SHARD_SOURCE = Kind(
    "shard-set",
    "a folder or URL holding manifest.json, written by `visiondata convert`",
    _check_shard_set,
    "@shards",
)
OUTPUT_DIR = Kind("output-dir", "a folder to write into", _check_output("dir"), "@new-dir")
OUTPUT_FILE = Kind("output-file", "a file to write", _check_output("file"), "@new-file")
CARD_FILE = input_file("a card file (YAML, UTF-8)", example="@card-file", content="utf-8")
CARD_PATHS = input_path(
    "a card file or a folder of card files", example="@card-file", content="card"
)
CARD = Kind("card", "a card id or alias (see `visiondata cards list`)", example="coco-2017")
NEW_ID = Kind(
    "new-id", "lowercase words joined by hyphens, e.g. my-dataset-2024", _check_new_id, "new-set"
)
SQL = Kind("sql", "one read-only SQL statement", example="SELECT 1 AS one")
TEXT = Kind("text", "any text", example="x")


def read_text(path: Path, expected: str = "UTF-8 text") -> str:
    """The text of ``path``; a file that is not UTF-8 is a UsageError naming it and the byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path}: byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8 "
            f"(expected {expected})"
        ) from None


# -- numbers and terms ------------------------------------------------------------------------


def count(minimum: int = 0, what: str = "") -> Kind:
    """A whole number >= ``minimum``."""
    expected = f"a whole number >= {minimum}" + (f": {what}" if what else "")

    def check(value: str, kind: Kind) -> int:
        try:
            n = int(value)
        except ValueError:
            raise kind.refuse(value, "not a whole number") from None
        if n < minimum:
            raise kind.refuse(value, f"less than {minimum}")
        return n

    return Kind("count", expected, check, example=str(max(minimum, 1)))


def number(minimum: float = 0.0, *, inclusive: bool = False, what: str = "") -> Kind:
    """A number > ``minimum`` (>= when ``inclusive``)."""
    op = ">=" if inclusive else ">"
    expected = f"a number {op} {minimum:g}" + (f": {what}" if what else "")

    def check(value: str, kind: Kind) -> float:
        try:
            x = float(value)
        except ValueError:
            raise kind.refuse(value, "not a number") from None
        if x != x or x < minimum or (x == minimum and not inclusive):  # NaN, too small
            raise kind.refuse(value, f"not {op} {minimum:g}")
        return x

    return Kind("number", expected, check, example=f"{minimum + 1:g}")


def term(vocabulary: str, terms: Iterable[str]) -> Kind:
    """A term of a controlled vocabulary, with a "did you mean" hint."""
    known = tuple(terms)

    def check(value: str, kind: Kind) -> str:
        if value not in known:
            raise argparse.ArgumentTypeError(
                f"{value}: unknown {vocabulary}{did_you_mean(value, known)} "
                f"(expected one of: {', '.join(known)})"
            )
        return value

    return Kind("term", f"a {vocabulary} (see `visiondata cards vocab`)", check, known[0])


def did_you_mean(value: str, choices: Iterable[str], n: int = 3) -> str:
    """``'; did you mean a, b?'`` for the choices close to ``value``, else ``''``."""
    close = difflib.get_close_matches(value, list(choices), n=n, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""


# -- commands ---------------------------------------------------------------------------------


def command_name(parser: argparse.ArgumentParser) -> str:
    """``'cards list'`` for the parser of ``visiondata cards list``."""
    prog = parser.prog.split()
    return " ".join(prog[1:]) or prog[0]


def add_command(
    sub: Any,
    name: str,
    help: str,
    func: Callable[[argparse.Namespace], int] | None = None,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` (its help doubles as its description) running ``func``."""
    kwargs.setdefault("description", help)
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, **kwargs)
    parser.set_defaults(cli_command=command_name(parser))
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def add_group(groups: Any, name: str, help: str) -> Any:
    """A command group (``visiondata cards ...``): its subparsers, to add commands to."""
    parser = add_command(groups, name, help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=type(parser))
    sub.required = True
    return sub


def add_format(
    parser: argparse.ArgumentParser,
    choices: Sequence[str] = ("table", "json"),
    shape: str | None = None,
    dest: str = "format",
) -> None:
    """``--format`` with ``choices`` (the first is the default); ``shape`` documents the JSON."""
    help = f"output format (default {choices[0]})"
    if shape:
        help += f"; json: {shape}"
    parser.add_argument("--format", choices=list(choices), default=choices[0], help=help, dest=dest)
