"""The registry under hostile input: YAML alias bombs, oversized cards, runaway queries.

No wall-clock assertions: each case runs under a subprocess timeout far above what the
defence needs and far below what the attack would take, and must end with one line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from visiondata.registry import QueryError, QueryLimitError, query
from visiondata.registry.yamlfile import MAX_CARD_BYTES, load_yaml

from .conftest import VALID_CARD, run_cli


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A few hundred bytes that expand to width**levels nodes (9**9 = 387 million)."""
    lines = ["id: toy-set", 'a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_from_the_event_stream() -> None:
    bomb = alias_bomb()
    assert len(bomb) < 600
    loaded = load_yaml(bomb)  # a builder that expanded aliases would not return
    assert loaded.data is None
    assert loaded.problems[0] == (
        2,
        "(yaml)",
        "YAML anchor &a0 is not allowed: cards use no anchors or aliases",
    )
    assert (3, "(yaml)", "YAML alias *a0 is not allowed (write the value out)") in loaded.problems


def test_an_alias_anywhere_in_a_card_is_refused_with_its_line() -> None:
    text = VALID_CARD.replace("tasks: [image-classification]", "tasks: &t [image-classification]")
    text = text.replace("modalities: [image]", "modalities: *t")
    line = text.splitlines().index("modalities: *t") + 1
    problems = load_yaml(text).problems
    assert (line, "(yaml)", "YAML alias *t is not allowed (write the value out)") in problems


@pytest.mark.slow
def test_alias_bomb_in_the_catalogue_costs_one_warning(tmp_path: Path) -> None:
    (tmp_path / "toy-set.yaml").write_text(alias_bomb())
    out = run_cli("cards", "list", env={"VISIONDATA_CARDS_PATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "coco-2017" in out.stdout
    warning = [line for line in out.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and "toy-set.yaml" in warning[0], out.stderr
    check = run_cli("cards", "validate", str(tmp_path / "toy-set.yaml"))
    assert check.returncode == 1
    assert check.stdout.startswith(f"{tmp_path / 'toy-set.yaml'}:2: (yaml): YAML anchor &a0")


@pytest.mark.slow
def test_oversized_card_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "toy-set.yaml"
    big.write_text(VALID_CARD + "# padding\n" * (MAX_CARD_BYTES // 10 + 1))
    out = run_cli("cards", "validate", str(big))
    assert out.returncode == 1
    assert out.stdout == (
        f"{big}:1: (file): the file is {big.stat().st_size:,} bytes (expected a card of at most "
        "256 KiB); not parsed\n"
    )
    assert load_yaml("x: 1\n" * (MAX_CARD_BYTES // 4)).problems[0][1] == "(file)"


@pytest.mark.slow
def test_a_fifo_among_the_cards_is_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "toy-set.yaml")  # reading it would block forever
    out = run_cli("cards", "validate", str(tmp_path))
    assert out.returncode == 1
    assert "toy-set.yaml:1: (file): not a regular file" in out.stdout


RECURSIVE = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"
CROSS = "SELECT count(*) FROM range(1000000) a, range(1000000) b"


@pytest.mark.slow
@pytest.mark.parametrize("sql", [RECURSIVE, CROSS], ids=["recursive-cte", "cross-join"])
def test_runaway_query_is_stopped_by_its_timeout(sql: str) -> None:
    out = run_cli("cards", "query", sql, "--timeout", "1")
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.splitlines()) == 1
    assert "still running after the 1 s timeout, interrupted" in out.stderr
    with pytest.raises(QueryLimitError, match=r"still running after the 0\.5 s timeout"):
        query(sql, timeout=0.5)


@pytest.mark.slow
def test_sixty_million_rows_print_max_rows_and_say_how_many_were_cut() -> None:
    out = run_cli("cards", "query", "SELECT range AS n FROM range(60000000)", "--max-rows", "3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["n", "0", "1", "2"]
    assert out.stderr == (
        "60,000,000 row(s), 59,999,997 not shown (--max-rows 3; 0 shows every row)\n"
    )
    with pytest.raises(QueryLimitError, match="more than max_rows=1000 rows"):
        query("SELECT * FROM range(60000000)", max_rows=1000)


def test_memory_limit_is_duckdbs_own() -> None:
    sql = "SELECT count(*) FROM (SELECT DISTINCT range FROM range(50000000))"
    with pytest.raises(QueryLimitError, match="needs more memory than the limit"):
        query(sql, memory_limit="64MB")  # and nothing spills to disk: no temp_directory
    with pytest.raises(QueryError, match="memory_limit='lots'"):
        query("SELECT 1", memory_limit="lots")


@pytest.mark.parametrize(
    "sql",
    [
        "EXPLAIN ANALYZE DELETE FROM cards",
        "explain analyze UPDATE figures SET value = 0",
        "-- a comment first\nEXPLAIN ANALYZE INSERT INTO notes SELECT * FROM notes",
        "EXPLAIN (FORMAT json) DROP TABLE cards",
    ],
)
def test_explain_of_a_write_is_refused_like_the_write(sql: str) -> None:
    with pytest.raises(QueryError, match="the catalogue is read-only: got a"):
        query(sql)
    out = run_cli("cards", "query", sql)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1


def test_explain_of_a_read_still_works() -> None:
    assert query("EXPLAIN ANALYZE SELECT count(*) FROM cards").num_rows >= 1
