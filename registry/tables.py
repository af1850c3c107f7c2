"""The catalogue as tables: one definition of every table and column, and the Arrow builder.

``TABLES`` is the single place where the queryable tables and their columns are described;
``visiondata cards query --help``, the DuckDB column comments, the Parquet field metadata
written by ``cards export-tables`` and :func:`render_markdown` are all generated from it.
:func:`table_rows` turns cards into rows; :func:`build_tables` makes pyarrow tables of them
(imported only there), and :mod:`.query` loads the same rows into DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .schema import Card

if TYPE_CHECKING:
    import pyarrow

__all__ = [
    "ALIASES",
    "TABLES",
    "Column",
    "Table",
    "arrow_schema",
    "build_tables",
    "render_markdown",
    "render_summary",
    "render_text",
    "sql_type",
    "table_rows",
]

#: Column types, by name: the names used in ``TABLES``, with the pyarrow type and the DuckDB
#: type each stands for.
_TYPES: Mapping[str, tuple[Callable[[Any], Any], str]] = MappingProxyType(
    {
        "string": (lambda pa: pa.string(), "VARCHAR"),
        "int64": (lambda pa: pa.int64(), "BIGINT"),
        "float64": (lambda pa: pa.float64(), "DOUBLE"),
        "bool": (lambda pa: pa.bool_(), "BOOLEAN"),
        "list<string>": (lambda pa: pa.list_(pa.string()), "VARCHAR[]"),
    }
)


def sql_type(column_type: str) -> str:
    """The DuckDB type of a ``TABLES`` column type."""
    return _TYPES[column_type][1]


@dataclass(frozen=True)
class Column:
    """One column: its name, type (a key of ``_TYPES``) and a one-line description."""

    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Table:
    """One table: what a row is, and its columns in order."""

    row: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _table(row: str, *columns: tuple[str, str, str]) -> Table:
    for _, type_, _ in columns:
        if type_ not in _TYPES:  # a typo here must fail at import, not in a user's query
            raise ValueError(
                f"unknown column type {type_!r} (expected one of: {', '.join(_TYPES)})"
            )
    return Table(row, tuple(Column(*c) for c in columns))


TABLES: Mapping[str, Table] = MappingProxyType(
    {
        "cards": _table(
            "dataset card",
            (
                "id",
                "string",
                "card id (the YAML file name); every other table's card_id refers to it",
            ),
            ("name", "string", "full dataset name"),
            ("aliases", "list<string>", "other names the dataset goes by"),
            ("year", "int64", "year of first public release"),
            ("homepage", "string", "official homepage URL"),
            ("domain", "string", "real | synthetic | mixed"),
            ("license_id", "string", "SPDX license id, or 'other' / 'unknown'"),
            ("license_name", "string", "license name as the card gives it"),
            ("commercial_use", "string", "allowed | prohibited | unclear"),
            ("access", "string", "open | registration | request | unavailable"),
            ("status", "string", "active | deprecated | withdrawn"),
            (
                "status_date",
                "string",
                "when the dataset was deprecated or withdrawn (ISO date prefix)",
            ),
            ("status_reason", "string", "why it was deprecated or withdrawn"),
            ("status_citation", "string", "reference key for the status change"),
            ("example_unit", "string", "what one example is (image, video clip, question, ...)"),
            ("class_count", "int64", "number of classes (NULL when the card has no classes)"),
            (
                "total_examples",
                "int64",
                "sum of the split sizes (NULL if a split has no fixed size)",
            ),
            ("tasks", "list<string>", "task terms (see `visiondata cards vocab`)"),
            ("modalities", "list<string>", "modality terms"),
            ("derived_from", "list<string>", "ids of the cards this dataset was built from"),
            (
                "collection_sources",
                "list<string>",
                "where the raw data came from (flickr, youtube, ...)",
            ),
            (
                "annotation_methods",
                "list<string>",
                "how labels were made (crowdsourced, expert, ...)",
            ),
            ("num_figures", "int64", "number of typed figures on the card"),
        ),
        "splits": _table(
            "official split of a card",
            ("card_id", "string", "the card's id"),
            ("split", "string", "split name (train, validation, test, all, ...)"),
            (
                "num_examples",
                "int64",
                "examples in the split (NULL for generators with no fixed size)",
            ),
            ("bound", "string", "exact | lower | upper | approx: how num_examples is known"),
            ("labels_public", "bool", "whether the split's labels are released"),
            ("unit", "string", "what is counted when not the card's example_unit (else NULL)"),
            (
                "verification_status",
                "string",
                "verified | unverified | disputed | superseded (NULL if unstated)",
            ),
        ),
        "figures": _table(
            "typed coverage or bias figure",
            ("card_id", "string", "the card's id"),
            ("figure_index", "int64", "position in the card's figures list (0-based)"),
            (
                "axis",
                "string",
                "what the figure measures (demographic.skin_type, class_balance, ...)",
            ),
            ("metric", "string", "proportion, imbalance_ratio, error_rate, ..."),
            ("category", "string", "the group a share is of (lighter, female, ...); NULL if none"),
            ("value", "float64", "the number, in `unit`"),
            ("unit", "string", "fraction (0..1), percent, count, ratio, ..."),
            ("bound", "string", "exact | lower | upper | approx"),
            ("population_unit", "string", "what is counted (image, subject, class, ...)"),
            ("population_split", "string", "the split measured (NULL if not stated)"),
            ("population_n", "int64", "size of the population measured (NULL if not stated)"),
            ("provenance_kind", "string", "declared | measured | computed | derived"),
            ("citation_key", "string", "key of the source in the references table"),
            ("locator", "string", "where in the source the number is (table, section, page)"),
            (
                "as_of",
                "string",
                "when the figure was true (ISO date prefix: YYYY, YYYY-MM, YYYY-MM-DD)",
            ),
            ("tool", "string", "program and version that computed a computed figure"),
            ("verification_status", "string", "verified | unverified | disputed | superseded"),
            ("verification_note", "string", "the source actually read, or the dispute"),
            ("note", "string", "free-text note on the figure"),
        ),
        "references": _table(
            "publication or page a card cites (`references` is an SQL keyword: "
            'write "references", or use its alias refs)',
            ("card_id", "string", "the card's id"),
            ("key", "string", "citation key used by the card's citation fields"),
            ("title", "string", "title"),
            ("authors", "list<string>", "authors, in order"),
            ("year", "int64", "publication year"),
            ("venue", "string", "journal, conference or site"),
            ("url", "string", "URL"),
            ("doi", "string", "DOI"),
        ),
        "classes": _table(
            "class name (only for cards that list their class names)",
            ("card_id", "string", "the card's id"),
            ("index", "int64", "position in the card's class list (0-based)"),
            ("name", "string", "class name"),
        ),
        "notes": _table(
            "note on a card: a bias, limitation or other caveat in plain words",
            ("card_id", "string", "the card's id"),
            (
                "kind",
                "string",
                "bias | limitation | sensitive | collection | annotation | maintenance | license",
            ),
            ("text", "string", "the note"),
            ("citation_key", "string", "key of the supporting reference (NULL if none)"),
        ),
    }
)

#: Extra names under which a table can be queried.
ALIASES: Mapping[str, str] = MappingProxyType({"refs": "references"})


def table_rows(cards: Iterable[Card]) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows as plain dicts (a pure function of the cards)."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    for c in cards:
        rows["cards"].append(
            {
                "id": c.id,
                "name": c.name,
                "aliases": list(c.aliases),
                "year": c.year,
                "homepage": c.homepage,
                "domain": c.domain,
                "license_id": c.license.id,
                "license_name": c.license.name,
                "commercial_use": c.license.commercial_use,
                "access": c.access,
                "status": c.status.state,
                "status_date": c.status.date,
                "status_reason": c.status.reason,
                "status_citation": c.status.citation,
                "example_unit": c.example_unit,
                "class_count": c.classes.count if c.classes else None,
                "total_examples": None
                if any(s.num_examples is None for s in c.splits.values())
                else c.total_examples,
                "tasks": list(c.tasks),
                "modalities": list(c.modalities),
                "derived_from": list(c.derived_from),
                "collection_sources": list(c.collection.sources),
                "annotation_methods": list(c.annotation.methods),
                "num_figures": len(c.figures),
            }
        )
        for name, s in c.splits.items():
            rows["splits"].append(
                {
                    "card_id": c.id,
                    "split": name,
                    "num_examples": s.num_examples,
                    "bound": s.bound,
                    "labels_public": s.labels_public,
                    "unit": s.unit,
                    "verification_status": s.verification.status if s.verification else None,
                }
            )
        for i, f in enumerate(c.figures):
            rows["figures"].append(
                {
                    "card_id": c.id,
                    "figure_index": i,
                    "axis": f.axis,
                    "metric": f.metric,
                    "category": f.category,
                    "value": f.value,
                    "unit": f.unit,
                    "bound": f.bound,
                    "population_unit": f.population.unit,
                    "population_split": f.population.split,
                    "population_n": f.population.n,
                    "provenance_kind": f.provenance.kind,
                    "citation_key": f.provenance.citation,
                    "locator": f.provenance.locator,
                    "as_of": f.provenance.as_of,
                    "tool": f.provenance.tool,
                    "verification_status": f.verification.status,
                    "verification_note": f.verification.note,
                    "note": f.note,
                }
            )
        for key, r in c.references.items():
            rows["references"].append(
                {
                    "card_id": c.id,
                    "key": key,
                    "title": r.title,
                    "authors": list(r.authors),
                    "year": r.year,
                    "venue": r.venue,
                    "url": r.url,
                    "doi": r.doi,
                }
            )
        if c.classes and c.classes.names:
            rows["classes"] += [
                {"card_id": c.id, "index": i, "name": n} for i, n in enumerate(c.classes.names)
            ]
        for n in c.notes:
            rows["notes"].append(
                {"card_id": c.id, "kind": n.kind, "text": n.text, "citation_key": n.citation}
            )
    return rows


def arrow_schema(name: str) -> pyarrow.Schema:
    """The Arrow schema of one table, each field carrying its description as metadata."""
    import pyarrow as pa

    table = TABLES[name]
    fields = [
        pa.field(c.name, _TYPES[c.type][0](pa), metadata={"description": c.description})
        for c in table.columns
    ]
    return pa.schema(fields, metadata={"description": f"one row per {table.row}"})


def build_tables(cards: Sequence[Card]) -> dict[str, pyarrow.Table]:
    """Every table of ``TABLES`` built from ``cards``: a pure function of the cards.

    Rows go through pyarrow's JSON reader rather than ``Table.from_pylist``: converting Python
    objects makes pyarrow import pandas, which alone would triple a cold query's start-up."""
    import io
    import json

    import pyarrow as pa
    import pyarrow.json as pa_json

    out = {}
    for name, rows in table_rows(cards).items():
        schema = arrow_schema(name)
        if not rows:  # schema.empty_table() would import pandas too
            out[name] = pa.Table.from_batches([], schema=schema)
            continue
        data = "\n".join(json.dumps(r) for r in rows).encode()
        options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
        table = pa_json.read_json(io.BytesIO(data), parse_options=options)
        # same types, so no cast (which would import pyarrow.compute): only the metadata is added
        out[name] = pa.Table.from_arrays(table.select(schema.names).columns, schema=schema)
    return out


def render_text() -> str:
    """Tables and columns as plain text, for ``--help``."""
    lines = []
    for name, table in TABLES.items():
        lines.append(f"{name}: one row per {table.row}")
        lines += [f"  {c.name:<20} {c.type:<13} {c.description}" for c in table.columns]
    return "\n".join(lines)


def render_summary() -> str:
    """One line per table with its column names: short enough for an error message."""
    return "\n".join(f"  {name}({', '.join(t.column_names)})" for name, t in TABLES.items())


def render_markdown() -> str:
    """The table reference as Markdown, generated from ``TABLES``."""
    lines = [
        "# Catalogue tables",
        "",
        "Generated from `registry/tables.py`; query them with `visiondata cards query`.",
        "",
    ]
    for name, table in TABLES.items():
        lines += [f"## {name}", "", f"One row per {table.row}.", "", "| column | type | meaning |"]
        lines.append("| --- | --- | --- |")
        lines += [f"| `{c.name}` | {c.type} | {c.description} |" for c in table.columns]
        lines.append("")
    return "\n".join(lines)
