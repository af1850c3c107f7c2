"""Edges of the ``visiondata`` command: YAML the loader refuses, symlink loops, plug-in
command groups (working, broken, with argparse's own types), a closed pipe, the error
handler on OS errors, and the table/CSV text of odd values."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
from visiondata.registry.cli import main
from visiondata.registry.cli.exits import handle
from visiondata.registry.cli.output import cell, emit, render

from .conftest import VALID_CARD, VISIONDATA

# -- cards the YAML loader refuses, through `cards validate` ----------------------------------

_CLASSES = "classes:\n  count: 2\n  names: [cat, dog]\n"
LOADER_CASES = {
    "omap-tag": (
        VALID_CARD.replace(_CLASSES, "classes: !!omap\n  - count: 2\n"),
        "46: classes: YAML tag '!!omap' is not allowed: tags that construct objects are refused",
    ),
    "set-tag": (
        VALID_CARD.replace("tasks: [image-classification]", "tasks: !!set {x}"),
        "30: tasks: YAML tag '!!set' is not allowed: tags that construct objects are refused",
    ),
    "merge-key": (
        VALID_CARD.replace(_CLASSES, "classes:\n  <<: {note: x}\n" + _CLASSES[len("classes:\n") :]),
        "47: classes: YAML merge keys ('<<') are not allowed; write the keys out",
    ),
    "list-key": (
        VALID_CARD.replace(_CLASSES, _CLASSES + "  ? [a, b]\n  : pair\n"),
        "49: classes: mapping keys must be plain strings",
    ),
    "two-documents": (
        VALID_CARD + "---\nid: other\n",
        "81: (yaml): more than one YAML document (expected one card per file)",
    ),
    "list-for-a-mapping": (
        VALID_CARD.replace(_CLASSES, "classes: [cat, dog]\n"),
        "46: classes: Input should be a valid dictionary or instance of Classes (got a list)",
    ),
}


@pytest.mark.parametrize("case", sorted(LOADER_CASES))
def test_yaml_the_loader_refuses_is_one_problem_with_its_line(
    case: str, card_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, problem = LOADER_CASES[case]
    path = card_dir / "toy-set.yaml"
    path.write_text(text)
    assert main(["cards", "validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{path}:{problem}"]
    assert err == (
        f"visiondata: cards validate: {path}: 1 card(s) checked: 0 valid, 1 invalid, 1 problem(s)\n"
    )


def test_a_yaml_date_is_read_as_its_iso_text(
    card_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = card_dir / "toy-set.yaml"
    path.write_text(VALID_CARD.replace('period: "2019"', "period: 2019-05-01"))
    assert main(["cards", "validate", str(path)]) == 0
    from visiondata.registry import load_card

    assert load_card(path).collection.period == "2019-05-01"


# -- symlinks -----------------------------------------------------------------------------------


def _loop(folder: Path) -> Path:
    (folder / "toy-set.yaml").symlink_to(folder / "loop-b.yaml")
    (folder / "loop-b.yaml").symlink_to(folder / "toy-set.yaml")
    return folder / "toy-set.yaml"


def test_a_symlink_loop_given_as_the_card_is_a_usage_error(
    card_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = _loop(card_dir)
    assert main(["cards", "validate", str(loop)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"visiondata: cards validate: {loop}: {os.strerror(errno.ELOOP)} (expected a card file "
        "or a folder of card files) (see visiondata cards validate --help)\n"
    )


def test_a_card_that_cannot_be_stat_ed_is_a_problem_of_that_file(card_dir: Path) -> None:
    from visiondata.registry.validate import parse_card_file

    loop = _loop(card_dir)
    (card_dir / "gone-set.yaml").symlink_to(card_dir / "nowhere.yaml")
    looped = parse_card_file(loop)
    assert looped.card is None
    assert [(p.line, p.path, p.message) for p in looped.problems] == [
        (1, "(file)", f"cannot read: {os.strerror(errno.ELOOP)}")
    ]
    gone = parse_card_file(card_dir / "gone-set.yaml")
    assert [p.message for p in gone.problems] == [f"cannot read: {os.strerror(errno.ENOENT)}"]


def test_a_symlink_loop_in_a_folder_given_to_validate_is_listed_as_a_problem(
    card_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = _loop(card_dir)
    assert main(["cards", "validate", str(card_dir)]) == 1
    out, _ = capsys.readouterr()
    assert f"{loop}:1: (file): cannot read: {os.strerror(errno.ELOOP)}" in out.splitlines()


def test_a_dangling_symlink_in_the_cards_path_is_left_out_with_a_warning(
    card_dir: Path,
) -> None:
    (card_dir / "gone-set.yaml").symlink_to(card_dir / "nowhere.yaml")
    env = {**os.environ, "VISIONDATA_CARDS_PATH": str(card_dir)}
    out = subprocess.run(
        [*VISIONDATA, "cards", "list", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "left out 1 invalid card file(s)" in out.stderr


# -- plug-in command groups ---------------------------------------------------------------------

PLUGIN = """\
def register(groups):
    p = groups.add_parser("plug", help="a third-party group")
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--x", type=float, default=0.5)
    p.set_defaults(func=lambda a: print("plug", a.n, a.x) or 0, cli_command="plug")
"""


@pytest.fixture
def plugins(tmp_path: Path) -> dict[str, str]:
    """A folder on PYTHONPATH with two installed third-party groups: one works, one is broken."""
    site = tmp_path / "site"
    dist = site / "toy_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[visiondata.commands]\n"
        "plug = toy_plug:register\n"
        "broken = toy_missing_module_xyz:register\n"
    )
    (site / "toy_plug.py").write_text(PLUGIN)
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VISIONDATA, *args], env=env, capture_output=True, text=True, timeout=120
    )


BROKEN = (
    "visiondata: warning: command group 'broken' (toy_missing_module_xyz:register) failed to "
    "load: No module named 'toy_missing_module_xyz'\n"
)


def test_a_plugin_group_runs_and_a_broken_one_is_one_warning(plugins: dict[str, str]) -> None:
    out = _run(["plug", "--n", "3"], plugins)
    assert (out.returncode, out.stdout, out.stderr) == (0, "plug 3 0.5\n", BROKEN)
    listed = _run(["cards", "list", "--format", "json"], plugins)
    assert listed.returncode == 0 and listed.stderr == BROKEN


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--n", "three"], "--n 'three': expected a whole number"),
        (["--x", "half"], "--x 'half': expected a number"),
    ],
)
def test_a_plugins_argparse_types_get_one_line_errors(
    plugins: dict[str, str], args: list[str], line: str
) -> None:
    out = _run(["plug", *args], plugins)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == BROKEN + f"visiondata: plug: {line} (see visiondata plug --help)\n"


# -- a closed pipe ------------------------------------------------------------------------------


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    proc = subprocess.Popen(
        [*VISIONDATA, "cards", "list", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(1)  # like `| head -c 1`
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0
    assert first == b"[" and err == b""


# -- the error handler on errors as the OS and codecs raise them --------------------------------


def _raised(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_an_os_error_the_table_does_not_name_is_a_problem_with_its_strerror(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = _loop(tmp_path)
    exc = _raised(lambda: loop.read_bytes())
    assert handle(exc, "cards show") == 1
    assert capsys.readouterr() == (
        "",
        f"visiondata: cards show: {loop}: {os.strerror(errno.ELOOP)}\n",
    )


def test_an_os_error_with_two_paths_names_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "missing", tmp_path / "target"
    exc = _raised(lambda: os.rename(src, dst))
    assert handle(exc, "visiondata") == 2
    assert capsys.readouterr().err == f"visiondata: {src} -> {dst}: no such file or folder\n"


def test_text_that_is_not_utf8_names_the_byte(capsys: pytest.CaptureFixture[str]) -> None:
    exc = _raised(lambda: b"card: caf\xe9\n".decode("utf-8"))
    assert handle(exc, "cards new") == 2
    assert capsys.readouterr().err == (
        "visiondata: cards new: byte 0xe9 at offset 9 is not UTF-8 (expected UTF-8 text)\n"
    )


# -- table and CSV text -------------------------------------------------------------------------


def test_odd_values_as_table_json_and_csv_text(capsys: pytest.CaptureFixture[str]) -> None:
    columns = ["id", "ok", "meta", "share"]
    rows = [["a", True, {"k": "é"}, 1 / 3], ["b", False, None, 2.0]]
    assert cell(True) == "true" and cell({"k": "é"}) == '{"k": "é"}'
    assert render(columns, rows, "table").splitlines() == [
        "id  ok     meta        share",
        'a   true   {"k": "é"}  0.333333',
        "b   false                     2",
    ]
    assert render(columns, rows, "csv").splitlines() == [
        "id,ok,meta,share",
        'a,true,"{""k"": ""é""}",0.3333333333333333',
        "b,false,,2.0",
    ]
    emit(columns, rows[1:], "json")
    assert capsys.readouterr().out == (
        '[\n  {\n    "id": "b",\n    "ok": false,\n    "meta": null,\n    "share": 2.0\n  }\n]\n'
    )
    with pytest.raises(ValueError, match=r"^format 'yaml': expected table, json or csv$"):
        render(columns, rows, "yaml")


def test_a_control_character_is_one_problem_on_one_line(
    card_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = card_dir / "toy-set.yaml"
    path.write_bytes(b"id: toy\x07set\n")
    assert main(["cards", "validate", str(path)]) == 1
    out, _ = capsys.readouterr()
    (line,) = out.splitlines()
    assert line.startswith(f"{path}:1: (yaml): YAML error: unacceptable character #x0007")
