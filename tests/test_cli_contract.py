"""The CLI's contracts: one exit-status table for the whole error tree, one table of extras
that matches pyproject.toml, hints that name the right extra, ``--format json`` on every
command that reports, and the contributor's first card."""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import visiondata.loaders.errors as loader_errors
import visiondata.registry.errors as registry_errors
from visiondata.registry.cli import build_parser, main
from visiondata.registry.cli.exits import EXIT_CODES, EXIT_PROBLEM, EXIT_USAGE, status_of
from visiondata.registry.errors import VisionDataError
from visiondata.registry.extras import EXTRAS

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

#: import name -> distribution name, for the modules in registry/extras.py
DISTRIBUTIONS = {"PIL": "pillow", "sklearn": "scikit-learn"}


def _error_classes() -> list[type[BaseException]]:
    return [
        cls
        for module in (registry_errors, loader_errors)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and issubclass(cls, VisionDataError)
    ]


def test_every_error_class_has_one_exit_status_from_the_table() -> None:
    classes = _error_classes()
    assert len(classes) > 20
    for cls in classes:
        assert status_of(cls) in (EXIT_PROBLEM, EXIT_USAGE), cls
    names = {f"{c.__module__}.{c.__qualname__}" for c in classes}
    assert set(EXIT_CODES) <= names  # the table names no class that does not exist


def test_extras_table_matches_pyproject() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        wanted = {DISTRIBUTIONS.get(m, m).lower() for m in modules}
        declared = {
            r.split(">")[0].split("<")[0].split("[")[0].strip().lower() for r in extras[extra]
        }
        assert wanted == declared, extra


def test_webdataset_is_only_in_the_extra_whose_code_imports_it() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    holding = {
        name for name, reqs in extras.items() if any(r.startswith("webdataset") for r in reqs)
    }
    assert holding == {"bench", "dev"}
    importers = sorted(
        str(p.relative_to(REPO))
        for folder in ("registry", "loaders")
        for p in (REPO / folder).rglob("*.py")
        if "import webdataset" in p.read_text(encoding="utf-8")
    )
    assert importers == ["loaders/_bench.py"]


BLOCKED = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import name` now raises ImportError
{code}
"""


def _run_blocked(blocked: list[str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKED.format(blocked=blocked, code=code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_loader_without_the_loaders_extra_names_it() -> None:
    out = _run_blocked(
        ["torch"],
        "from visiondata.registry.errors import MissingExtraError\n"
        "try:\n    from visiondata.loaders import Loader\n"
        "except MissingExtraError as exc:\n    print(exc.extra, '|', exc)\n",
    )
    assert out.returncode == 0, out.stderr
    extra, message = out.stdout.strip().split(" | ")
    assert extra == "loaders"
    missing = "torch" if "numpy" not in message else "numpy"  # a base install lacks both
    assert message == (
        f"'{missing}' is not installed (visiondata.loaders.Loader needs it); install the loaders "
        'extra: pip install "visiondata[loaders]"'
    )


@pytest.mark.extras
@pytest.mark.parametrize(
    ("blocked", "source", "extra"),
    [(["s3fs"], "s3://bucket/set", "remote"), (["huggingface_hub"], "hf://datasets/a/b", "hf")],
)
def test_remote_schemes_name_their_extra(blocked: list[str], source: str, extra: str) -> None:
    out = _run_blocked(
        blocked,
        "from visiondata.loaders import Loader, MissingExtraError\n"
        f"try:\n    Loader({source!r}, batch_size=1)\n"
        "except MissingExtraError as exc:\n    print(exc)\n",
    )
    assert out.returncode == 0, out.stderr
    assert f'pip install "visiondata[{extra}]"' in out.stdout, out.stdout


@pytest.mark.extras
@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        (["torch"], ["bench", "{shards}"], "loaders"),
        (["webdataset"], ["bench", "{shards}", "--compare", "webdataset"], "bench"),
        (["datasets"], ["convert", "hf", "{src}", "{out}"], "hf"),
        (["pandas"], ["fairness", "{csv}", "--label", "a", "--pred", "a", "--group", "a"], "audit"),
        (["sklearn"], ["namethat", "{shards}", "{shards}"], "audit"),
        (["sklearn"], ["audit", "{shards}"], "audit"),
    ],
)
def test_commands_name_the_extra_they_need(
    blocked: list[str], argv: list[str], extra: str, tmp_path: Path
) -> None:
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "manifest.json").write_text("{}")
    (tmp_path / "src").mkdir()
    (tmp_path / "p.csv").write_text("a\n1\n")
    given = [
        a.format(
            shards=tmp_path / "shards",
            src=tmp_path / "src",
            out=tmp_path / "out",
            csv=tmp_path / "p.csv",
        )
        for a in argv
    ]
    out = _run_blocked(
        blocked, f"from visiondata.registry.cli import main\nsys.exit(main({given!r}))"
    )
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.splitlines()) == 1 and "Traceback" not in out.stderr
    assert out.stderr.rstrip().endswith(f'pip install "visiondata[{extra}]"'), out.stderr


#: Commands that report (the issue's list, and those that had --format before it).
REPORTING = [
    "cards list",
    "cards show",
    "cards validate",
    "cards query",
    "cards stats",
    "bias show",
    "bias compare",
    "bias transfers",
    "shards info",
    "shards verify",
    "convert",
    "audit",
    "namethat",
    "fairness",
    "bench",
]


def _parsers() -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, (*prefix, name))
                return
        found[" ".join(prefix)] = parser

    walk(build_parser(), ())
    return found


@pytest.mark.parametrize("command", REPORTING)
def test_reporting_commands_take_format_json_with_a_documented_shape(command: str) -> None:
    parser = _parsers()[command]
    (fmt,) = [a for a in parser._actions if "--format" in a.option_strings]
    assert fmt.choices is not None and "json" in fmt.choices
    if command != "shards verify":  # its help is the verify rewrite's
        assert fmt.help is not None and "json: " in fmt.help, fmt.help


def test_validate_json_and_a_fresh_scaffold_lists_each_field_once_in_file_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cards").mkdir()
    assert main(["cards", "new", "my-set-2024", "--dir", str(tmp_path / "cards")]) == 0
    path = tmp_path / "cards" / "my-set-2024.yaml"
    capsys.readouterr()
    assert main(["cards", "validate", str(path), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["checked"], report["valid"], report["invalid"]) == (1, 0, 1)
    problems = report["problems"]
    paths = [p["path"] for p in problems]
    assert len(paths) == len(set(paths)), "a field reported twice"
    assert [p["line"] for p in problems] == sorted(p["line"] for p in problems)
    lines = path.read_text().splitlines()
    for p in problems:  # each problem is on the line of its field, in the order of the fields
        field = str(p["path"]).split(".")[-1].split("[")[0]
        assert field in lines[p["line"] - 1], p
    by_line: dict[int, list[str]] = {}
    for p in problems:
        by_line.setdefault(p["line"], []).append(str(p["path"]).split(".")[-1].split("[")[0])
    for line, fields in by_line.items():
        text = lines[line - 1]
        assert fields == sorted(fields, key=text.index), (line, fields)


def test_an_unexpected_error_keeps_its_traceback_and_asks_for_a_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from visiondata.registry import __version__
    from visiondata.registry.cli import cards

    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cards, "cmd_schema", broken)
    assert main(["cards", "schema"]) == 70
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Traceback (most recent call last):" and "RuntimeError: a bug" in err
    assert err[-1] == (
        f"visiondata: cards schema: internal error RuntimeError; this is a bug in visiondata "
        f"{__version__} (Python {sys.version.split()[0]}): please report it with the command "
        "and the traceback above"
    )


def test_ctrl_c_anywhere_in_a_command_is_130_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from visiondata.registry.cli import cards

    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cards, "cmd_vocab", interrupted)
    assert main(["cards", "vocab"]) == 130
    assert capsys.readouterr().err == "visiondata: cards vocab: interrupted\n"
