"""A card as a Markdown datasheet following "Datasheets for Datasets" (Gebru et al., 2021).

Each section is a list of (question, answer) pairs; an answer the card cannot give is written
as ``unknown``, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..schema import Card
from ..vocab import ACCESS, ANNOTATION_METHODS, AXES, COLLECTION_SOURCES
from ._common import notes_of, split_size

__all__ = ["QUESTIONS", "UNKNOWN", "render"]

UNKNOWN = "unknown"

Answer = Callable[[Card], str | None]


def _join(texts: Sequence[str]) -> str | None:
    return " ".join(t.strip() for t in texts) or None


def _figures(card: Card, prefixes: tuple[str, ...]) -> str | None:
    lines = []
    for f in card.figures:
        if f.axis.startswith(prefixes):
            what = f"{f.axis} {f.metric}" + (f" {f.category}" if f.category else "")
            if f.subject:
                what += f" of {f.subject.name}"
            if f.edition:
                what += f" (edition {f.edition})"
            pooled = f", pooled with {', '.join(f.pooled_with)}" if f.scope == "pooled" else ""
            lines.append(
                f"{what} = {f.value:g} {f.unit} ({f.provenance.kind}, {f.provenance.citation}; "
                f"{card.verification_of(f).status}{pooled})"
            )
    return "; ".join(lines) or None


def _transfers(card: Card) -> str | None:
    lines = [
        f"{t.subject.name} ({t.setting}, {t.task}) trained here and tested on {t.target}: "
        f"{t.metric} {t.value:g} {t.unit} ({t.provenance.citation}; {t.verification.status})"
        for t in card.transfers
    ]
    return "; ".join(lines) or None


def _editions(card: Card) -> str | None:
    parts = [
        f"{e.id}: {e.name}"
        + (f" ({e.year})" if e.year else "")
        + (f", {e.changes}" if e.changes else "")
        for e in card.editions
    ]
    return "; ".join(parts) or None


def _splits(card: Card) -> str:
    parts = [
        f"{name}: {split_size(s.num_examples)} ({s.count_kind})" for name, s in card.splits.items()
    ]
    if any(s.num_examples is None for s in card.splits.values()):
        return f"Not a fixed number of {card.example_unit}s ({'; '.join(parts)})."
    return f"{card.total_examples:,} {card.example_unit}s in total ({'; '.join(parts)})."


def _classes(card: Card) -> str | None:
    c = card.classes
    if c is None:
        return None
    count = "an open vocabulary (no fixed count)" if c.count is None else f"{c.count}"
    return count + (f" ({c.taxonomy.strip()})" if c.taxonomy else "")


def _status(card: Card) -> str:
    s = card.status
    if s.state == "active":
        return f"active ({ACCESS[card.access]})."
    return f"{s.state} since {s.date}: {s.reason}"


#: The datasheet: section -> (question, how the card answers it).
QUESTIONS: dict[str, list[tuple[str, Answer]]] = {
    "Motivation": [
        ("For what purpose was the dataset created?", lambda c: c.description.strip()),
        ("Who created the dataset and on behalf of which entity?", lambda c: c.collection.who),
        ("Who funded the creation of the dataset?", lambda c: None),
    ],
    "Composition": [
        (
            "What do the instances that comprise the dataset represent?",
            lambda c: f"One instance is one {c.example_unit}.",
        ),
        ("How many instances are there in total?", _splits),
        (
            "What data does each instance consist of?",
            lambda c: (
                "; ".join(f"{k}: {v}" for k, v in c.shards.fields.items()) if c.shards else None
            ),
        ),
        (
            "Is there a label or target associated with each instance?",
            lambda c: ", ".join(c.annotation.annotated) or None,
        ),
        (
            "How many classes are there?",
            _classes,
        ),
        ("Are there recommended data splits?", lambda c: ", ".join(c.splits)),
        (
            "Are there any errors, sources of noise, or redundancies in the dataset?",
            lambda c: _figures(c, ("label_quality", "duplicates", "split_leakage")),
        ),
        (
            "Is the dataset self-contained, or does it rely on external resources?",
            lambda c: _figures(c, ("availability",)),
        ),
        (
            "Does the dataset identify any subpopulations (e.g., by age, gender)?",
            lambda c: _figures(c, ("demographic.", "geography.", "socioeconomic.")),
        ),
        (
            "Does the dataset contain data that might be considered sensitive or offensive?",
            lambda c: _join(
                [
                    *notes_of(c, "sensitive"),
                    *([x] if (x := _figures(c, ("content_safety",))) else []),
                ]
            ),
        ),
    ],
    "Collection Process": [
        (
            "How was the data associated with each instance acquired?",
            lambda c: "; ".join(f"{s} ({COLLECTION_SOURCES[s]})" for s in c.collection.sources),
        ),
        ("Who was involved in the data collection process?", lambda c: c.collection.who),
        ("Over what timeframe was the data collected?", lambda c: c.collection.period),
        (
            "What else is known about the collection?",
            lambda c: _join(
                [*([c.collection.notes] if c.collection.notes else []), *notes_of(c, "collection")]
            ),
        ),
        ("Were any ethical review processes conducted?", lambda c: None),
        (
            "Did the individuals in question consent to the collection and use of their data?",
            lambda c: None,
        ),
    ],
    "Preprocessing, Cleaning, Labeling": [
        (
            "How was the data labeled?",
            lambda c: "; ".join(f"{m} ({ANNOTATION_METHODS[m]})" for m in c.annotation.methods),
        ),
        (
            "On which platform, and how many annotations per item?",
            lambda c: _join([x for x in (c.annotation.platform, c.annotation.per_item) if x]),
        ),
        (
            "What else is known about the labeling?",
            lambda c: _join(
                [*([c.annotation.notes] if c.annotation.notes else []), *notes_of(c, "annotation")]
            ),
        ),
    ],
    "Uses": [
        ("What tasks has the dataset been used for?", lambda c: ", ".join(c.tasks)),
        ("What are the known biases of the dataset?", lambda c: _join(notes_of(c, "bias"))),
        (
            "Are there tasks for which the dataset should not be used?",
            lambda c: _join(notes_of(c, "limitation")),
        ),
        (
            "Has it been used to train models that were tested on other datasets?",
            _transfers,
        ),
        (
            "Which coverage and bias figures are published?",
            lambda c: "; ".join(sorted({f"{f.axis} ({AXES[f.axis]})" for f in c.figures})) or None,
        ),
    ],
    "Distribution": [
        (
            "How is the dataset distributed?",
            lambda c: f"{c.homepage} (access: {c.access}, {ACCESS[c.access]}).",
        ),
        (
            "Under which license?",
            lambda c: (
                f"{c.license.name} ({c.license.id}); commercial use {c.license.commercial_use}."
                + (f" {c.license.notes.strip()}" if c.license.notes else "")
            ),
        ),
    ],
    "Maintenance": [
        ("Is the dataset maintained, and what is its status?", _status),
        ("Which editions (releases) of the dataset exist?", _editions),
        (
            "What is known about versions, errata and takedowns?",
            lambda c: _join(notes_of(c, "maintenance")),
        ),
        ("How can the owner be contacted?", lambda c: None),
    ],
}


def render(card: Card) -> str:
    """The datasheet as Markdown."""
    lines = [
        f"# Datasheet for {card.name}",
        "",
        f"Answered from the visiondata card `{card.id}`; `{UNKNOWN}` where the card has no answer.",
        "",
    ]
    for section, questions in QUESTIONS.items():
        lines += [f"## {section}", ""]
        for question, answer in questions:
            lines += [f"**{question}**", "", (answer(card) or UNKNOWN).strip(), ""]
    lines += ["## Citation", "", "```bibtex", card.citation.strip(), "```", ""]
    return "\n".join(lines)
