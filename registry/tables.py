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

from .schema import Card, Figure, Split, Transfer, Verification

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
            ("access", "string", "open | registration | request | unavailable | unreleased"),
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
            ("num_transfers", "int64", "number of transfer figures on the card (it as the source)"),
            ("editions", "list<string>", "ids of the card's editions (releases), oldest first"),
            ("schema_version", "int64", "card schema version the file is written in"),
            (
                "year_verification",
                "string",
                "verification status of the release year (NULL if no year_source)",
            ),
            (
                "license_verification",
                "string",
                "verification status of the license (NULL if unstated)",
            ),
            (
                "status_verification",
                "string",
                "verification status of the status (NULL if unstated)",
            ),
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
                "verified | secondary | unverified | disputed | superseded (NULL if unstated)",
            ),
            (
                "count_kind",
                "string",
                "release | paper | computed | available: what kind of count num_examples is",
            ),
            ("formula", "string", "for computed counts: the arithmetic (NULL otherwise)"),
            ("as_of", "string", "for available counts: when they were counted"),
            ("edition", "string", "the edition the split belongs to (NULL if not stated)"),
            ("citation_key", "string", "key of the source of the count (NULL if none)"),
            ("locator", "string", "where in the source the count is"),
            ("verification_note", "string", "the source actually read (when not verified)"),
        ),
        "folds": _table(
            "split of an official fold (overlapping train/test splits such as UCF101 split1)",
            ("card_id", "string", "the card's id"),
            ("fold", "string", "fold name (split1, split2, ...)"),
            ("split", "string", "split name within the fold (train, test, ...)"),
            ("num_examples", "int64", "examples in the split"),
            ("bound", "string", "exact | lower | upper | approx"),
            ("count_kind", "string", "release | paper | computed | available"),
            ("edition", "string", "the edition the fold belongs to (NULL if not stated)"),
            ("citation_key", "string", "key of the source of the count"),
            ("locator", "string", "where in the source the count is"),
            ("verification_status", "string", "verification status of the count"),
            ("note", "string", "the fold's note"),
        ),
        "editions": _table(
            "edition (release) of a dataset",
            ("card_id", "string", "the card's id"),
            ("edition", "string", "edition id, as splits, figures and transfers name it"),
            ("name", "string", "the edition's name (e.g. Kinetics-700-2020)"),
            ("year", "int64", "year of the edition's release (NULL if unstated)"),
            ("changes", "string", "what changed in this edition"),
            ("citation_key", "string", "key of the reference describing it (NULL if none)"),
            ("locator", "string", "where in that reference"),
        ),
        "figures": _table(
            "typed coverage or bias figure",
            ("card_id", "string", "the card's id"),
            ("figure_index", "int64", "position in the card's figures list (0-based)"),
            ("figure_id", "string", "the figure's id, stable and unique within the card"),
            (
                "axis",
                "string",
                "what the figure measures (demographic.skin_type, class_balance, ...)",
            ),
            ("metric", "string", "proportion, imbalance_ratio, error_rate, ..."),
            ("category", "string", "the group a share is of (lighter, female, ...); NULL if none"),
            (
                "subject",
                "string",
                "the model, system, method or people a performance figure is about (else NULL)",
            ),
            ("subject_version", "string", "the subject's version (NULL if none)"),
            ("subject_kind", "string", "model | system | method | human"),
            ("edition", "string", "the edition measured (NULL if not stated)"),
            ("scope", "string", "this-dataset | pooled (measured over several datasets together)"),
            ("pooled_with", "list<string>", "for pooled figures: the other cards measured with it"),
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
            (
                "verification_status",
                "string",
                "verified | secondary | unverified | disputed | superseded (computed from the "
                "inputs for derived figures)",
            ),
            ("verification_note", "string", "the source actually read, or the dispute"),
            ("verification_url", "string", "for secondary: the verbatim copy read"),
            (
                "derivation_inputs",
                "list<string>",
                "for derived figures: the figure ids, splits.<name> or classes.count used",
            ),
            ("derivation_operation", "string", "ratio | difference | sum | complement | ..."),
            ("derivation_formula", "string", "the arithmetic over the inputs"),
            ("dispute_with", "list<string>", "ids of the figures this one disagrees with"),
            ("note", "string", "free-text note on the figure"),
        ),
        "transfers": _table(
            "transfer figure: trained on the card's data (the source), tested on another card's",
            ("card_id", "string", "the source card's id (trained on)"),
            ("target_card", "string", "the target card's id (tested on)"),
            ("transfer_id", "string", "the transfer's id, unique within the source card"),
            ("task", "string", "task term"),
            (
                "setting",
                "string",
                "source-only | adapted | target-only | zero-shot | fine-tuned",
            ),
            ("subject", "string", "the model or method trained and tested"),
            ("subject_version", "string", "its version (NULL if none)"),
            ("backbone", "string", "the backbone network (NULL if not stated)"),
            ("metric", "string", "miou, accuracy, ..."),
            ("value", "float64", "the number, in `unit`"),
            ("unit", "string", "percent, fraction, percentage_points, ..."),
            ("bound", "string", "exact | lower | upper | approx"),
            ("split", "string", "the target split tested (NULL if not stated)"),
            ("n", "int64", "size of the tested population (NULL if not stated)"),
            ("provenance_kind", "string", "declared | measured | computed"),
            ("citation", "string", "key of the source in the source card's references"),
            ("locator", "string", "where in the source the number is"),
            ("as_of", "string", "when the number was published (ISO date prefix)"),
            ("verification_status", "string", "verified | secondary | unverified | ..."),
            (
                "source_edition",
                "string",
                "edition of the source card trained on (NULL if unstated)",
            ),
            ("target_edition", "string", "edition of the target card tested on (NULL if unstated)"),
            ("note", "string", "free-text note"),
            ("subject_kind", "string", "model | system | method | human"),
            ("population_unit", "string", "what was counted on the target (image, clip, ...)"),
            ("verification_note", "string", "the source actually read (when not verified)"),
            ("verification_url", "string", "for secondary: the verbatim copy read"),
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


def _status(record: Verification | None) -> str | None:
    return record.status if record is not None else None


def _card_row(c: Card) -> dict[str, Any]:
    sized = all(s.num_examples is not None for s in c.splits.values())
    return {
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
        "total_examples": c.total_examples if sized else None,
        "tasks": list(c.tasks),
        "modalities": list(c.modalities),
        "derived_from": list(c.derived_from),
        "collection_sources": list(c.collection.sources),
        "annotation_methods": list(c.annotation.methods),
        "num_figures": len(c.figures),
        "num_transfers": len(c.transfers),
        "editions": [e.id for e in c.editions],
        "schema_version": c.schema_version,
        "year_verification": _status(c.year_source.verification) if c.year_source else None,
        "license_verification": _status(c.license.verification),
        "status_verification": _status(c.status.verification),
    }


def _split_row(c: Card, name: str, s: Split) -> dict[str, Any]:
    return {
        "card_id": c.id,
        "split": name,
        "num_examples": s.num_examples,
        "bound": s.bound,
        "labels_public": s.labels_public,
        "unit": s.unit,
        "verification_status": _status(s.verification),
        "count_kind": s.count_kind,
        "formula": s.formula,
        "as_of": s.as_of,
        "edition": s.edition,
        "citation_key": s.citation,
        "locator": s.locator,
        "verification_note": s.verification.note if s.verification else None,
    }


def _fold_rows(c: Card) -> list[dict[str, Any]]:
    return [
        {
            "card_id": c.id,
            "fold": fold,
            "split": name,
            "num_examples": s.num_examples,
            "bound": s.bound,
            "count_kind": s.count_kind,
            "edition": s.edition,
            "citation_key": s.citation,
            "locator": s.locator,
            "verification_status": _status(s.verification),
            "note": f.note,
        }
        for fold, f in c.folds.items()
        for name, s in f.splits.items()
    ]


def _figure_row(c: Card, i: int, f: Figure) -> dict[str, Any]:
    ver = c.verification_of(f)
    subject, der = f.subject, f.derivation
    return {
        "card_id": c.id,
        "figure_index": i,
        "figure_id": f.id,
        "axis": f.axis,
        "metric": f.metric,
        "category": f.category,
        "subject": subject.name if subject else None,
        "subject_version": subject.version if subject else None,
        "subject_kind": subject.kind if subject else None,
        "edition": f.edition,
        "scope": f.scope,
        "pooled_with": list(f.pooled_with),
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
        "verification_status": ver.status,
        "verification_note": ver.note,
        "verification_url": ver.url,
        "derivation_inputs": list(der.inputs) if der else [],
        "derivation_operation": der.operation if der else None,
        "derivation_formula": der.formula if der else None,
        "dispute_with": list(f.dispute.with_) if f.dispute else [],
        "note": f.note,
    }


def _transfer_row(c: Card, t: Transfer) -> dict[str, Any]:
    return {
        "card_id": c.id,
        "target_card": t.target,
        "transfer_id": t.id,
        "task": t.task,
        "setting": t.setting,
        "subject": t.subject.name,
        "subject_version": t.subject.version,
        "backbone": t.backbone,
        "metric": t.metric,
        "value": t.value,
        "unit": t.unit,
        "bound": t.bound,
        "split": t.population.split,
        "n": t.population.n,
        "provenance_kind": t.provenance.kind,
        "citation": t.provenance.citation,
        "locator": t.provenance.locator,
        "as_of": t.provenance.as_of,
        "verification_status": t.verification.status,
        "source_edition": t.source_edition,
        "target_edition": t.target_edition,
        "note": t.note,
        "subject_kind": t.subject.kind,
        "population_unit": t.population.unit,
        "verification_note": t.verification.note,
        "verification_url": t.verification.url,
    }


def table_rows(cards: Iterable[Card]) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows as plain dicts (a pure function of the cards)."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    for c in cards:
        rows["cards"].append(_card_row(c))
        rows["splits"] += [_split_row(c, name, s) for name, s in c.splits.items()]
        rows["folds"] += _fold_rows(c)
        rows["editions"] += [
            {
                "card_id": c.id,
                "edition": e.id,
                "name": e.name,
                "year": e.year,
                "changes": e.changes,
                "citation_key": e.citation,
                "locator": e.locator,
            }
            for e in c.editions
        ]
        rows["figures"] += [_figure_row(c, i, f) for i, f in enumerate(c.figures)]
        rows["transfers"] += [_transfer_row(c, t) for t in c.transfers]
        rows["references"] += [
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
            for key, r in c.references.items()
        ]
        if c.classes and c.classes.names:
            rows["classes"] += [
                {"card_id": c.id, "index": i, "name": n} for i, n in enumerate(c.classes.names)
            ]
        rows["notes"] += [
            {"card_id": c.id, "kind": n.kind, "text": n.text, "citation_key": n.citation}
            for n in c.notes
        ]
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
