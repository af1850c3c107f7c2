"""SQL over the catalogue: tables, the read-only engine, its errors, and the CLI around it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from visiondata.registry import Card, QueryError, list_cards, query
from visiondata.registry.cli import main
from visiondata.registry.cli.catalogue import STATS_QUERIES
from visiondata.registry.query import connect, execute, execute_rows, run_query
from visiondata.registry.store import load_card
from visiondata.registry.tables import TABLES, build_tables, render_markdown, render_text

from .conftest import VALID_CARD


def rows(sql: str) -> list[dict[str, object]]:
    result: list[dict[str, object]] = query(sql).to_pylist()
    return result


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> list[Card]:
    path = tmp_path_factory.mktemp("toy") / "toy-set.yaml"
    path.write_text(VALID_CARD, encoding="utf-8")
    return [load_card(path)]


# --- tables -----------------------------------------------------------------------------------


def test_every_table_matches_its_documented_columns() -> None:
    built = build_tables(list_cards())
    assert list(built) == list(TABLES)
    for name, table in built.items():
        assert table.column_names == TABLES[name].column_names
        for col in TABLES[name].columns:
            assert col.description.strip(), f"{name}.{col.name} has no description"
            assert table.schema.field(col.name).metadata == {
                b"description": col.description.encode()
            }


def test_tables_hold_every_card_split_figure_and_reference() -> None:
    cards = list_cards()
    counts = rows(
        "SELECT (SELECT count(*) FROM cards) AS cards, (SELECT count(*) FROM splits) AS splits, "
        "(SELECT count(*) FROM figures) AS figures, (SELECT count(*) FROM refs) AS refs"
    )[0]
    assert counts == {
        "cards": len(cards),
        "splits": sum(len(c.splits) for c in cards),
        "figures": sum(len(c.figures) for c in cards),
        "refs": sum(len(c.references) for c in cards),
    }


def test_toy_card_rows(toy: list[Card]) -> None:
    card = run_query("SELECT * FROM cards", toy).to_pylist()[0]
    assert card["id"] == "toy-set" and card["tasks"] == ["image-classification"]
    assert card["class_count"] == 2 and card["total_examples"] == 120 and card["num_figures"] == 2
    classes = run_query("SELECT index, name FROM classes ORDER BY index", toy)
    assert classes.to_pylist() == [{"index": 0, "name": "cat"}, {"index": 1, "name": "dog"}]
    fig = run_query("SELECT * FROM figures WHERE category = 'female'", toy).to_pylist()[0]
    assert fig["value"] == 0.4 and fig["population_n"] == 100 and fig["citation_key"] == "doe2020"
    assert fig["provenance_kind"] == "declared" and fig["verification_status"] == "verified"


def test_duckdb_tables_equal_the_arrow_tables() -> None:
    cards = list_cards()
    con = connect(cards)
    for name, table in build_tables(cards).items():
        loaded = execute(con, f'SELECT * FROM "{name}"')
        assert loaded.column_names == table.column_names
        assert loaded.to_pylist() == table.to_pylist(), name


def test_docs_are_generated_from_the_table_definitions() -> None:
    text, md = render_text(), render_markdown()
    for name, table in TABLES.items():
        assert f"## {name}" in md
        for col in table.columns:
            assert f"| `{col.name}` |" in md and col.description in text


# --- the README's questions over the shipped cards ----------------------------------------------


def test_readme_questions_show_their_real_output() -> None:
    """Every SQL block under "Seven questions" in the README is followed by its output as
    ``cards query`` prints it today."""
    from visiondata.registry.cli.catalogue import render

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("### Seven questions", 1)[1].split("\n## ", 1)[0]
    pairs = re.findall(r"```sql\n(.*?)```\n\n```text\n(.*?)```", section, flags=re.S)
    assert len(pairs) == 7
    con = connect()
    for sql, shown in pairs:
        columns, found = execute_rows(con, sql)
        assert render(columns, found, "table") + "\n" == shown, sql


def test_face_sets_with_lighter_skin_share_above_080() -> None:
    found = rows(
        "SELECT card_id, value FROM figures WHERE axis = 'demographic.skin_type' "
        "AND category = 'lighter' AND value > 0.8 ORDER BY card_id"
    )
    ids = [r["card_id"] for r in found]
    assert "adience" in ids and "ijb-a" not in ids
    assert {"card_id": "adience", "value": 0.862} in found
    ijba = rows(
        "SELECT value FROM figures WHERE card_id = 'ijb-a' "
        "AND axis = 'demographic.skin_type' AND category = 'lighter'"
    )
    assert ijba == [{"value": 0.796}]


def test_withdrawn_datasets_and_tiny_images_lineage() -> None:
    gone = rows("SELECT id, status_reason FROM cards WHERE status IN ('withdrawn', 'deprecated')")
    tiny = [r for r in gone if r["id"] == "tiny-images"]
    assert tiny and tiny[0]["status_reason"]
    children = rows(
        "SELECT id FROM cards WHERE list_contains(derived_from, 'tiny-images') ORDER BY id"
    )
    assert {"cifar-10", "cifar-100"} <= {r["id"] for r in children}


def test_label_error_rates_above_one_percent_are_fractions_of_test_sets() -> None:
    found = rows(
        "SELECT card_id, value FROM figures WHERE axis = 'label_quality' AND metric = 'error_rate' "
        "AND unit = 'fraction' AND value > 0.01 AND population_split IN ('test', 'validation')"
    )
    assert found and all(isinstance(r["value"], float) and r["value"] > 0.01 for r in found)
    assert "imagenet-1k" in {r["card_id"] for r in found}


def test_list_columns_unnest_and_filter() -> None:
    by_task = rows(
        "SELECT task, count(*) AS n FROM (SELECT unnest(tasks) AS task FROM cards) GROUP BY task"
    )
    assert sum(r["n"] for r in by_task) == sum(len(c.tasks) for c in list_cards())  # type: ignore[misc]


def test_column_comments_are_queryable() -> None:
    found = rows(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'figures' AND column_name = 'as_of'"
    )
    assert found and "ISO date" in str(found[0]["comment"])


# --- errors and read-only -----------------------------------------------------------------------


def test_syntax_error_gives_duckdb_message_and_the_tables() -> None:
    with pytest.raises(QueryError) as info:
        query("SELEC id FROM cards")
    text = str(info.value)
    assert "syntax error" in text and "SELEC" in text
    assert "figures(card_id, figure_index, figure_id, axis" in text and "cards(id, name" in text
    assert isinstance(info.value, ValueError)


def test_unknown_column_and_table_are_named() -> None:
    with pytest.raises(QueryError, match=r'"skin_share" not found') as info:
        query("SELECT skin_share FROM figures")
    assert "Tables and columns" in str(info.value)
    with pytest.raises(QueryError, match="Table with name datasets does not exist"):
        query("SELECT * FROM datasets")


def test_references_keyword_gets_a_hint() -> None:
    with pytest.raises(QueryError, match='write "references"'):
        query("SELECT * FROM references")
    assert query('SELECT count(*) AS n FROM "references"').num_rows == 1


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE cards",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO cards (id) VALUES ('x')",
        "UPDATE figures SET value = 0",
        "DELETE FROM figures",
        "COPY cards TO 'cards.csv'",
        "ATTACH 'other.db'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "SELECT 1; DROP TABLE cards",
    ],
)
def test_writes_and_settings_are_refused(sql: str) -> None:
    with pytest.raises(QueryError, match=r"read-only|exactly one"):
        query(sql)


def test_no_file_or_network_access() -> None:
    with pytest.raises(QueryError, match="disabled by configuration"):
        query("SELECT * FROM read_csv('/etc/hostname')")


def test_python_variables_are_not_visible() -> None:
    secret = pa.table({"x": [1]})  # noqa: F841 - DuckDB could scan it by name if allowed
    with pytest.raises(QueryError, match="does not exist"):
        query("SELECT * FROM secret")


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_query_formats(capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT id, year, tasks FROM cards WHERE id = 'adience'"
    assert main(["cards", "query", sql, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["id"] == "adience" and isinstance(data[0]["tasks"], list)
    assert main(["cards", "query", sql, "--format", "csv"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header == "id,year,tasks" and line.startswith("adience,") and '""' in line
    assert main(["cards", "query", sql]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[0].split() == ["id", "year", "tasks"] and "1 row(s)" in out.err


def test_cli_query_error_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cards", "query", "SELECT nope FROM cards"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("visiondata: cards query: SELECT nope FROM cards: Binder Error")
    assert len(err.splitlines()) == 1


def test_query_help_lists_every_column() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "visiondata.registry.cli", "cards", "query", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    for table in TABLES.values():
        for col in table.columns:
            assert col.name in out


def test_export_tables_writes_parquet_with_descriptions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cards", "export-tables", str(tmp_path / "t")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(TABLES)
    figures = pq.read_table(tmp_path / "t" / "figures.parquet")
    assert figures.num_rows == sum(len(c.figures) for c in list_cards())
    assert figures.schema.field("value").metadata == {b"description": b"the number, in `unit`"}


def test_stats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cards", "stats", "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert list(stats) == list(STATS_QUERIES)
    cards = list_cards()
    head = stats["catalogue"][0]
    assert head["cards"] == len(cards) and head["figures"] == sum(len(c.figures) for c in cards)
    assert sum(r["figures"] for r in stats["figures by axis"]) == head["figures"]
    assert {r["id"] for r in stats["cards without any figure"]} == {
        c.id for c in cards if not c.figures
    }
    dates = [r["as_of"] for r in stats["oldest as_of dates"]]
    assert dates == sorted(dates)
    assert main(["cards", "stats"]) == 0
    assert "## figures by axis" in capsys.readouterr().out


# --- start-up -----------------------------------------------------------------------------------


def test_cards_list_imports_no_heavy_module() -> None:
    code = (
        "import sys\nfrom visiondata.registry.cli import main\nmain(['cards', 'list'])\n"
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'pandas', 'matplotlib', 'mlcroissant') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_query_cold_start_is_fast() -> None:
    code = (
        "import sys\nfrom visiondata.registry.cli import main\n"
        "main(['cards', 'query', 'SELECT count(*) AS n FROM cards', '--format', 'json'])\n"
        "print(sorted(m for m in ('pyarrow', 'numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # the CLI path loads the tables through DuckDB's JSON reader: no pyarrow, numpy or pandas
    # (how long it takes is measured by benchmarks, not asserted here)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_package_query_is_not_shadowed_by_its_submodule() -> None:
    import visiondata.registry as registry
    import visiondata.registry.query  # noqa: F401 - importing it must not rebind registry.query

    assert callable(registry.query) and registry.query("SELECT 1 AS x").to_pylist() == [{"x": 1}]
