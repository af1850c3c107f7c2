"""Mutation testing of the pure and security-relevant core; run through ``bash .ci/mutation``.

Mutants come from cosmic-ray's operators (its parser and its mutation positions); running them
is done here, because cosmic-ray starts a fresh interpreter per mutant and the suite's imports
(torch, numpy, pydantic) cost more than most modules' targeted tests. So: the repository is
copied to a scratch folder (the working tree is never touched), third-party modules are imported
once, and each mutant is written into the copy and tested in a forked child that imports
visiondata afresh from the copy and runs the module's own targeted tests with ``-x``.

Two kinds of mutant are not run:
- mutations inside annotations: with ``from __future__ import annotations`` (every module here)
  annotations are strings never evaluated, so these are equivalent by rule;
- binary-operator replacements outside an operator's neighbours (``+`` becomes ``-`` but not
  ``<<``, ``**`` or ``^``): selective mutation, the far replacements crash at once and say
  nothing a neighbour does not.
Every other mutant counts. A surviving mutant is either killed by a new test or, if it cannot
change behaviour, listed in ``.ci/mutation-equivalents.txt`` (one line each: path, the line
before, the line after, why; tab-separated, lines stripped). The score is killed over total
minus equivalents; the floor is 95% per module.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import importlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENTS = REPO / ".ci" / "mutation-equivalents.txt"
FLOOR = 0.95

#: module -> its targeted tests, fastest and most specific first (``-x`` stops at the first
#: failure, so a killed mutant usually costs one test)
#: the pure tests of tests/loaders/test_elastic.py (the rest start loaders)
_ELASTIC_PURE = [
    "tests/loaders/test_elastic.py::test_batch_sizes",
    "tests/loaders/test_elastic.py::test_later_layout_balances_the_ranks",
    "tests/loaders/test_elastic.py::test_the_rest_of_the_epoch_exactly_once",
]

MODULES: dict[str, list[str]] = {
    "loaders/_stream/shuffle.py": [
        "tests/loaders/test_pure_core.py::TestShuffle",
        "tests/loaders/test_shuffle.py",
        "tests/loaders/test_shuffle_stats.py",
    ],
    "loaders/_stream/partition.py": [
        "tests/loaders/test_pure_core.py::TestPartition",
        "tests/loaders/test_partition.py",
        *_ELASTIC_PURE,
    ],
    "loaders/_stream/mixing.py": [
        "tests/loaders/test_pure_core.py::TestMixing",
        "tests/loaders/test_shuffle.py",
        "tests/loaders/test_partition.py",
    ],
    "loaders/_stream/state.py": [
        "tests/loaders/test_pure_core.py::TestState",
        "tests/loaders/test_resume.py",
    ],
    "loaders/_stream/elastic.py": [
        "tests/loaders/test_pure_core.py::TestElastic",
        *_ELASTIC_PURE,
    ],
    "registry/checks.py": [
        "tests/registry/test_checks_exact.py",
        "tests/registry/test_validate_corpus.py",
        "tests/registry/test_schema_v2.py",
    ],
    "loaders/shards/members.py": [
        "tests/loaders/test_pure_shards.py::TestMembers",
    ],
    "loaders/shards/manifest.py": [
        "tests/loaders/test_pure_shards.py::TestManifest",
    ],
    "loaders/shards/tar.py": [
        "tests/loaders/test_pure_shards.py::TestTar",
        "tests/loaders/test_pure_shards.py::TestTarSamples",
        "tests/loaders/test_pure_shards.py::TestTarEdges",
        "tests/loaders/test_pure_shards.py::TestScanBreaks",
        "tests/loaders/test_pure_shards.py::TestTarPinned",
        "tests/loaders/test_pure_shards.py::TestTarFields",
        "tests/loaders/test_pure_shards.py::TestTarCorruptPositions",
        "tests/loaders/test_tarstream.py",
    ],
    "loaders/shards/sources.py": [
        "tests/loaders/test_pure_shards.py::TestSources",
        "tests/loaders/test_sources.py",
    ],
}

#: the hand-worked test files: the first stage of every module
_FAST = re.compile(r"/test_pure_|/test_checks_exact")

#: selective mutation: each binary operator is replaced only by its neighbours
_NEIGHBOURS = {
    "Add": {"Sub", "Mul"},
    "Sub": {"Add", "FloorDiv"},
    "Mul": {"Add", "FloorDiv", "Div"},
    "Div": {"Mul", "FloorDiv"},
    "FloorDiv": {"Mul", "Div", "Mod"},
    "Mod": {"FloorDiv", "Mul"},
    "Pow": {"Mul"},
    "LShift": {"RShift", "Mul"},
    "RShift": {"LShift", "FloorDiv"},
    "BitOr": {"BitAnd", "BitXor"},
    "BitAnd": {"BitOr", "BitXor"},
    "BitXor": {"BitOr", "BitAnd"},
}


@dataclass
class Mutant:
    module: str
    operator: str
    occurrence: int
    line: int
    before: str
    after: str
    code: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.module, self.before, self.after)

    def describe(self) -> str:
        return f"{self.module}:{self.line} {self.operator}: `{self.before}` -> `{self.after}`"


@dataclass
class Result:
    module: str
    total: int = 0
    killed: int = 0
    equivalent: int = 0
    timeouts: int = 0
    annotations: int = 0
    unselected: int = 0
    survivors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    finished: bool = True

    @property
    def score(self) -> float:
        scored = self.total - self.equivalent
        return self.killed / scored if scored else 1.0


def load_equivalents() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for n, raw in enumerate(EQUIVALENTS.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split("\t")
        if len(parts) != 4 or not parts[3].strip():
            sys.exit(f"{EQUIVALENTS}:{n}: expected path, before, after, why (tab-separated)")
        out[(parts[0], parts[1], parts[2])] = parts[3]
    return out


def _annotation_lines(source: str) -> set[tuple[int, int]]:
    """(line, col) of every character position covered by an annotation."""
    spans: set[tuple[int, int]] = set()
    for node in ast.walk(ast.parse(source)):
        notes: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            notes.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            notes.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            notes.append(node.annotation)
        for note in notes:
            if note is None or note.end_lineno is None or note.end_col_offset is None:
                continue
            for line in range(note.lineno, note.end_lineno + 1):
                first = note.col_offset if line == note.lineno else 0
                last = note.end_col_offset if line == note.end_lineno else 10_000
                spans.update((line, c) for c in range(first, last))
    return spans


def _selected(operator: str) -> bool:
    name = operator.rsplit("/", 1)[-1]
    if not name.startswith("ReplaceBinaryOperator_"):
        return True
    _, src, dst = name.split("_")
    return dst in _NEIGHBOURS.get(src, set())


def mutants(module: str, result: Result) -> Iterator[Mutant]:
    from cosmic_ray import plugins
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.mutating import mutate_code

    source = (REPO / module).read_text(encoding="utf-8")
    annotations = _annotation_lines(source)
    lines = source.split("\n")
    tree = get_ast(source)
    for name in plugins.operator_names():
        cls = plugins.get_operator(name)
        if cls.arguments():
            continue
        op = cls()
        positions = [p for node in ast_nodes(tree) for p in op.mutation_positions(node)]
        for occurrence, (start, _end) in enumerate(positions):
            result.total += 1
            if (start[0], start[1]) in annotations:
                result.annotations += 1
                result.equivalent += 1
                continue
            if not _selected(name):
                result.total -= 1
                result.unselected += 1
                continue
            try:
                code = mutate_code(source, op, occurrence)
            except Exception:  # cosmic-ray cannot apply this one (e.g. `except (A, B)`)
                code = None
            if code is None:
                result.total -= 1
                continue
            new = code.split("\n")
            changed = [
                (a, b)
                for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=lines, b=new).get_opcodes()
                if tag != "equal"
                for a, b in [(" ".join(lines[i1:i2]).strip(), " ".join(new[j1:j2]).strip())]
            ]
            before, after = changed[0] if changed else ("", "")
            yield Mutant(module, name, occurrence, start[0], before, after, code)


def make_copy(scratch: Path) -> Path:
    repo = scratch / "repo"
    ignore = shutil.ignore_patterns(
        "__pycache__", ".venv", ".git", "*.egg-info", ".hypothesis", ".mypy_cache"
    )
    repo.mkdir(parents=True)
    for name in ("registry", "loaders", "cards", "tests"):
        shutil.copytree(REPO / name, repo / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "CONTRIBUTING.md", "CHANGELOG.md"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, repo / name)
    shared = (REPO.parent / "shared").resolve()
    if shared.exists():
        (scratch / "shared").symlink_to(shared)
    links = scratch / "path" / "visiondata"
    links.mkdir(parents=True)
    for name in ("registry", "loaders", "cards"):
        (links / name).symlink_to(repo / name)
    return repo


def warm() -> None:
    """Import the heavy third-party modules once, before any fork (not pytest plugins such as
    hypothesis: pytest refuses to rewrite what is already imported)."""
    heavy = ("pytest", "numpy", "yaml", "pydantic", "duckdb", "pyarrow", "PIL.Image")
    for name in (*heavy, "torch", "fsspec", "av"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def run_tests(repo: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    """'passed', 'failed' or 'timeout', and the seconds taken, of the tests in a forked child."""
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        code = 3
        try:
            os.setsid()
            os.chdir(repo)
            if not os.environ.get("MUTATION_VERBOSE"):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            import pytest

            # no plugin autoloading (they cost more than most modules' tests): only the
            # timeout plugin, which the project's pytest options name
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
            args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "pytest_timeout"]
            code = int(pytest.main([*args, "--timeout", str(int(timeout)), *tests]))
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = started + timeout
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout", time.monotonic() - started
            time.sleep(0.02)
    except BaseException:  # stopped: take the child (and what it started) down too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        raise
    code = os.waitstatus_to_exitcode(status)
    if code == 5:
        sys.exit(f"no tests collected from {tests}")
    return ("passed" if code == 0 else "failed"), time.monotonic() - started


def run_module(module: str, repo: Path, equivalents: dict, budget_end: float) -> Result:
    result = Result(module)
    tests = [t for t in MODULES[module] if (repo / t.split("::")[0]).exists()]
    target = repo / module
    original = target.read_text(encoding="utf-8")
    lines = {ln.strip() for ln in original.splitlines()}
    for path, before, _after in equivalents:
        if path == module and before not in lines:  # the code it spoke of has changed
            print(f"{EQUIVALENTS.name}: {module}: stale (no such line now): {before}", flush=True)
    # two stages: the module's own fast tests, then (only for a mutant they miss) the rest
    fast = [t for t in tests if _FAST.search(t)] or tests[:1]
    stages = [fast, tests] if len(fast) < len(tests) else [tests]
    timeouts = []
    for stage in stages:
        outcome, base = run_tests(repo, stage, 600)
        if outcome != "passed":
            sys.exit(f"{module}: the targeted tests fail without a mutation: {stage}")
        timeouts.append(max(10.0, 3 * base + 5))
    started = time.monotonic()
    try:
        for m in mutants(module, result):
            if time.monotonic() > budget_end:
                result.finished = False
                break
            if m.key in equivalents:
                result.equivalent += 1
                continue
            target.write_text(m.code, encoding="utf-8")
            try:
                for stage, timeout in zip(stages, timeouts, strict=True):
                    outcome, _ = run_tests(repo, stage, timeout)
                    if outcome != "passed":
                        break
            finally:
                target.write_text(original, encoding="utf-8")
            done = result.killed + len(result.survivors) + 1
            if done % 25 == 0:
                print(f"  {done} run, {len(result.survivors)} survived", flush=True)
            if outcome == "passed":
                result.survivors.append(m.describe())
                print(f"  survived: {m.describe()}", flush=True)
            else:
                result.killed += 1
                result.timeouts += outcome == "timeout"
    finally:
        target.write_text(original, encoding="utf-8")
    if not result.finished:  # count only what ran
        result.total = result.killed + result.equivalent + len(result.survivors)
    result.seconds = time.monotonic() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--minutes", type=float, default=600.0, help="stop after this long")
    parser.add_argument("--report", type=Path, help="write the results here as JSON")
    parser.add_argument("--count", action="store_true", help="only count the mutants")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"not in the mutation scope: {unknown}; known: {sorted(MODULES)}")
    equivalents = load_equivalents()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))  # clean up the scratch copy
    if args.count:
        for module in args.modules or list(MODULES):
            r = Result(module)
            n = sum(1 for _ in mutants(module, r))
            print(
                f"{module}: {n} to run, {r.annotations} in annotations, {r.unselected} unselected"
            )
        return 0
    budget_end = time.monotonic() + args.minutes * 60
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    results = []
    with tempfile.TemporaryDirectory(prefix="visiondata-mutation-") as scratch:
        repo = make_copy(Path(scratch))
        path = str(Path(scratch) / "path")
        os.environ["PYTHONPATH"] = os.pathsep.join([path, os.environ.get("PYTHONPATH", "")])
        sys.path.insert(0, path)
        warm()
        for module in args.modules or list(MODULES):
            if time.monotonic() > budget_end:
                break
            print(f"== {module}", flush=True)
            r = run_module(module, repo, equivalents, budget_end)
            results.append(r)
            status = "" if r.finished else " (stopped: out of time)"
            print(
                f"{module}: {r.killed}/{r.total - r.equivalent} killed = {r.score:.1%}"
                f" ({r.equivalent} equivalent, {r.annotations} of them annotations;"
                f" {r.timeouts} by timeout; {r.seconds:.0f} s){status}",
                flush=True,
            )
    print("== mutation scores")
    for r in results:
        print(f"{r.score:7.1%}  {r.killed:5d}/{r.total - r.equivalent:<5d} {r.module}")
    if args.report:
        args.report.write_text(
            json.dumps([r.__dict__ | {"score": r.score} for r in results], indent=2) + "\n"
        )
    low = [r.module for r in results if r.score < FLOOR]
    if low:
        print(f"below the {FLOOR:.0%} floor: {', '.join(low)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
