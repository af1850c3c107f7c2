"""Every ``visiondata`` command against a matrix of bad inputs, as a user meets them.

The commands are discovered from the parser (``build_parser()``'s subparsers), and the bad
inputs from each argument's kind (``registry/cli/args.py``): a new command, or a new argument,
is covered without writing a test. Each case runs the real command as a subprocess, with
valid values for everything else, and asserts: no traceback, exactly one line on standard
error naming the input, and the documented exit status (``registry/cli/exits.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from visiondata.registry.cli import build_parser
from visiondata.registry.cli.args import Kind

VISIONDATA = [sys.executable, "-m", "visiondata.registry.cli"]
REPO = Path(__file__).resolve().parents[1]

#: Bad values of each argument kind, and the exit status each gets.
BAD: dict[str, list[tuple[str, int]]] = {
    "input-file": [("missing", 2), ("folder", 2), ("fifo", 2), ("under-file", 2)],
    "input-path": [("missing", 2), ("fifo", 2), ("under-file", 2)],
    "input-dir": [("missing", 2), ("file", 2), ("under-file", 2)],
    "shard-set": [
        ("missing", 2),
        ("file", 2),
        ("under-file", 2),
        ("empty-folder", 2),
        ("non-utf8-manifest", 2),
    ],
    "output-dir": [("file", 2), ("under-file", 2)],
    "output-file": [("folder", 2), ("under-file", 2)],
    "count": [("abc", 2), ("-1", 2)],
    "number": [("abc", 2), ("-1", 2)],
    "term": [("no-such-term", 2)],
    "card": [("no-such-card", 2)],
    "split": [("no-such-split", 2)],
    "split-name": [("bad/split", 2)],
    "column": [("no-such-column", 2)],
    "label": [("no-such-label", 2)],
    "new-id": [("Bad_Id", 2)],
    "sql": [("SELEC 1", 2), ("DROP TABLE cards", 2)],
    "text": [],
}
#: Content that is not UTF-8, by what the file should hold (args.CONTENTS): (suffix, status).
NON_UTF8: dict[str, tuple[str, int]] = {
    "utf-8": (".md", 2),
    "card": (".yaml", 1),
    "table": (".csv", 2),
}

PREDICTIONS = "label,pred,group\n" + "".join(
    f"{'cat' if i % 3 else 'dog'},{'cat' if i % 2 else 'dog'},{'a' if i % 4 else 'b'}\n"
    for i in range(40)
)
HF_README = """---
pretty_name: Toy Pictures
license: cc-by-4.0
task_categories: [image-classification]
---
# Toy Pictures

A made-up dataset card for the tests.
"""


# -- the commands, from the parser --------------------------------------------------------------


def leaf_commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaf_commands(sub, (*prefix, name))
            return
    yield " ".join(prefix), parser


def value_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments that take a value (not flags, --help or --version)."""
    return [
        a
        for a in parser._actions
        if a.nargs != 0 and not isinstance(a, argparse._HelpAction | argparse._VersionAction)
    ]


COMMANDS = dict(leaf_commands(build_parser()))
#: Commands whose arguments predate the argument kinds (none left): they would be tried with
#: generic bad values, with the examples of their untyped arguments given here.
UNKINDED: dict[str, dict[str, str]] = {}


def needs_extras(parser: argparse.ArgumentParser) -> bool:
    func = parser.get_default("func")
    return func is not None and func.__module__.startswith("visiondata.loaders")


def test_every_command_is_found_and_every_argument_has_a_kind() -> None:
    assert {"cards list", "cards query", "convert", "shards info", "audit", "bench"} <= set(
        COMMANDS
    )
    missing = [
        f"{name}: {a.dest}"
        for name, parser in COMMANDS.items()
        if name not in UNKINDED
        for a in value_actions(parser)
        if a.choices is None and not isinstance(a.type, Kind)
    ]
    assert missing == [], "give these arguments a kind (registry/cli/args.py)"


# -- the matrix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    command: str
    option: str  # the argument given the bad value (its option string, or its dest)
    bad: str
    status: int

    @property
    def id(self) -> str:
        return f"{self.command}:{self.option}={self.bad}"


def _bad_values(action: argparse.Action) -> list[tuple[str, int]]:
    if isinstance(action.type, Kind):
        found = list(BAD[action.type.kind])
        if action.type.content is not None:
            found.append(("non-utf8", NON_UTF8[action.type.content][1]))
        return found
    if action.choices is not None:
        return [("bogus", 2)]
    if action.type is int:
        return [("abc", 2)]
    return [("missing", 2)] if not action.option_strings else []


#: Given to every command besides its arguments' bad values.
UNKNOWN_OPTION = "--no-such-option"


def cases() -> Iterator[object]:
    for name, parser in COMMANDS.items():
        marks = [pytest.mark.extras] if needs_extras(parser) else []
        unknown = Case(name, UNKNOWN_OPTION, UNKNOWN_OPTION, 2)
        yield pytest.param(unknown, id=unknown.id, marks=marks)
        for action in value_actions(parser):
            option = action.option_strings[-1] if action.option_strings else action.dest
            for bad, status in _bad_values(action):
                case = Case(name, option, bad, status)
                yield pytest.param(case, id=case.id, marks=marks)


class Fixtures:
    """Valid inputs (built once), and bad ones (built per case)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, Path] = {}

    def valid(self, example: str, case_dir: Path) -> str:
        if example == "@new-dir":
            return str(case_dir / "new-dir")
        if example == "@new-file":
            return str(case_dir / "new-file.png")
        if example not in self.built:
            self.built[example] = BUILDERS[example](self.root / example.strip("@"))
        return str(self.built[example])

    @staticmethod
    def bad(bad: str, case_dir: Path, content: str | None) -> str:
        regular = case_dir / "a-file.txt"
        regular.write_text("x\n")
        if bad == "missing":
            return str(case_dir / "missing-thing")
        if bad in ("folder", "empty-folder"):
            (case_dir / bad).mkdir()
            return str(case_dir / bad)
        if bad == "file":
            return str(regular)
        if bad == "under-file":
            return str(regular / "below")
        if bad == "fifo":
            os.mkfifo(case_dir / "a-fifo")  # opening it to read would block: never opened
            return str(case_dir / "a-fifo")
        if bad == "non-utf8-manifest":
            (case_dir / "set").mkdir()
            (case_dir / "set" / "manifest.json").write_bytes(b'{"format": "\xff\xfe"}')
            return str(case_dir / "set")
        if bad == "non-utf8":
            suffix = NON_UTF8[content or "utf-8"][0]
            path = case_dir / f"not-utf8{suffix}"
            path.write_bytes(b"id: not-utf8\nname: caf\xe9 \xff\xfe\n")
            return str(path)
        return bad  # a value given as it is


def _shards(root: Path) -> Path:
    from visiondata.loaders.convert import convert

    from .loaders.convert_fakes import make_imagefolder

    make_imagefolder(root / "src")
    convert("imagefolder", root / "src", root / "out", samples_per_shard=5)
    return root / "out"


def _imagefolder(root: Path) -> Path:
    from .loaders.convert_fakes import make_imagefolder

    make_imagefolder(root)
    return root


def _file(name: str, text: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        root.mkdir(parents=True)
        (root / name).write_text(text, encoding="utf-8")
        return root / name

    return build


def _card_file(root: Path) -> Path:
    from .registry.conftest import VALID_CARD

    return _file("toy-set.yaml", VALID_CARD)(root)


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "@shards": _shards,
    "@imagefolder": _imagefolder,
    "@card-file": _card_file,
    "@hf-readme": _file("README.md", HF_README),
    "@predictions": _file("predictions.csv", PREDICTIONS),
}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Fixtures:
    return Fixtures(tmp_path_factory.mktemp("valid"))


def _example(action: argparse.Action, command: str) -> str:
    if isinstance(action.type, Kind) and action.type.example is not None:
        return action.type.example
    if action.dest in UNKINDED.get(command, {}):
        return UNKINDED[command][action.dest]
    assert action.choices is not None, f"{action.dest}: no example value"
    return str(next(iter(action.choices)))


def _valid(action: argparse.Action, command: str, fixtures: Fixtures, case_dir: Path) -> str:
    example = _example(action, command)
    return fixtures.valid(example, case_dir) if example.startswith("@") else example


def argv_for(case: Case, fixtures: Fixtures, case_dir: Path) -> tuple[list[str], str]:
    """The command line with ``case.bad`` in its argument and valid values elsewhere; and the
    bad value as it appears on that line."""
    parser = COMMANDS[case.command]
    argv, shown = case.command.split(), ""
    if case.option == UNKNOWN_OPTION:
        argv.append(UNKNOWN_OPTION)
        shown = UNKNOWN_OPTION
    for action in value_actions(parser):
        option = action.option_strings[-1] if action.option_strings else action.dest
        given = option == case.option
        if not given and not (action.required or not action.option_strings):
            continue  # optional, and not the one under test
        if not given and action.nargs in ("*", "?"):
            continue
        if given:
            kind = action.type if isinstance(action.type, Kind) else None
            value = fixtures.bad(case.bad, case_dir, kind.content if kind else None)
            shown = value
        else:
            value = _valid(action, case.command, fixtures, case_dir)
        values = [value]
        if action.nargs == "+" and not action.option_strings:
            values.append(
                _valid(action, case.command, fixtures, case_dir)
            )  # e.g. namethat needs two sources
        argv += [action.option_strings[-1], *values] if action.option_strings else values
    return argv, shown


@pytest.mark.parametrize("case", list(cases()))
def test_bad_input_gets_one_line_and_its_exit_status(
    case: Case, fixtures: Fixtures, tmp_path: Path
) -> None:
    argv, shown = argv_for(case, fixtures, tmp_path)
    out = subprocess.run(
        [*VISIONDATA, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,  # the guard: a command that opened the FIFO would block here
    )
    err = out.stderr.strip()
    assert "Traceback" not in out.stderr, out.stderr
    assert len(err.splitlines()) == 1, f"{argv}\n{out.stderr}"
    assert shown in err, f"{argv}: the line does not name {shown!r}\n{err}"
    assert err.startswith(f"visiondata: {case.command}: "), err
    assert out.returncode == case.status, f"{argv}\n{out.stderr}"
