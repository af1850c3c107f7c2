"""Rules that span several fields of one card. Pure functions: data in, problems out.

Each check returns ``(path, message)`` pairs; :mod:`.validate` adds file and line. Where a
message names another element of the card (the figure a collision is with), ``where`` turns
that element's path into words (``validate`` passes one that gives its line).
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .formula import FormulaError, agrees, parse
from .schema import Card, Derivation, Figure, Split
from .vocab import EXCLUSIVE_AXES, SUBJECT_AXES, SUBJECT_METRICS
from .yamlfile import Path, format_path

__all__ = [
    "SHARE_TOLERANCE",
    "UNIQUENESS_KEY",
    "check_bibtex",
    "check_card",
    "check_todo_markers",
    "uniqueness_key",
]

Found = tuple[Path, str]
Where = Callable[[Path], str]

#: Shares of one axis and population may exceed 1 by this much (published shares are rounded).
SHARE_TOLERANCE = 0.011

#: What two figures must share to measure the same thing (they then need the same value).
UNIQUENESS_KEY = (
    "axis",
    "metric",
    "category",
    "population.unit",
    "population.split",
    "subject.name",
    "subject.version",
    "edition",
    "scope",
    "provenance.as_of",
)


def check_todo_markers(data: Any, path: Path = ()) -> Iterator[Found]:
    """Every string still holding a ``TODO`` marker left by ``visiondata cards new``."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from check_todo_markers(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from check_todo_markers(value, (*path, i))
    elif isinstance(data, str) and "TODO" in data:
        yield path, f"unfilled TODO marker: {data.strip()[:80]!r}"


def check_bibtex(text: str) -> Iterator[Found]:
    """The card's ``citation`` must be BibTeX that parses into at least one entry."""
    import bibtexparser  # imported here: only validation needs it

    library = bibtexparser.parse_string(text)
    for block in library.failed_blocks:
        raw = getattr(block, "raw", "").strip().splitlines()
        first = raw[0][:60] if raw else ""
        reason = type(block).__name__
        if getattr(block, "error", None) is not None:
            reason += f" ({block.error})"
        yield ("citation",), f"BibTeX does not parse: {reason} at {first!r}"
    if not library.failed_blocks and not library.entries:
        yield ("citation",), "BibTeX holds no entry (expected e.g. @article{key, title={...}, ...})"
    for entry in library.entries:
        missing = [f for f in ("title", "year") if f not in entry.fields_dict]
        if missing:
            yield ("citation",), f"BibTeX entry {entry.key!r} lacks {', '.join(missing)}"


# --- citations and ids ------------------------------------------------------------------------


def _all_splits(card: Card) -> Iterator[tuple[Path, Split]]:
    for name, split in card.splits.items():
        yield ("splits", name), split
    for fold, f in card.folds.items():
        for name, split in f.splits.items():
            yield ("folds", fold, "splits", name), split


def _citations(card: Card) -> Iterator[tuple[Path, str]]:
    owners: list[tuple[Path, Any]] = [
        (("year_source",), card.year_source),
        (("license",), card.license),
        (("status",), card.status),
        (("classes",), card.classes),
        *((("editions", i), e) for i, e in enumerate(card.editions)),
        *_all_splits(card),
        *((("notes", i), n) for i, n in enumerate(card.notes)),
    ]
    for path, owner in owners:
        if owner is not None and owner.citation:
            yield (*path, "citation"), owner.citation
    for i, f in enumerate(card.figures):
        yield ("figures", i, "provenance", "citation"), f.provenance.citation
    for i, t in enumerate(card.transfers):
        yield ("transfers", i, "provenance", "citation"), t.provenance.citation


def check_citations(card: Card) -> Iterator[Found]:
    known = sorted(card.references)
    for path, key in _citations(card):
        if key not in card.references:
            yield path, f"citation key {key!r} is not in references (known: {', '.join(known)})"


def check_ids(card: Card, where: Where = format_path) -> Iterator[Found]:
    """Figure and transfer ids are unique in the card (one namespace); edition ids too."""
    seen: dict[str, Path] = {}
    items = [("figures", i, f.id) for i, f in enumerate(card.figures)]
    items += [("transfers", i, t.id) for i, t in enumerate(card.transfers)]
    for kind, i, item_id in items:
        if item_id in seen:
            yield (kind, i, "id"), f"id {item_id!r} is already used by {where(seen[item_id])}"
        seen.setdefault(item_id, (kind, i))
    editions: dict[str, int] = {}
    for i, e in enumerate(card.editions):
        if e.id in editions:
            where_first = where(("editions", editions[e.id]))
            yield ("editions", i, "id"), f"edition id {e.id!r} is already used by {where_first}"
        editions.setdefault(e.id, i)


def check_editions(card: Card) -> Iterator[Found]:
    """Every ``edition:`` names one of the card's editions."""
    known = [e.id for e in card.editions]
    refs: list[tuple[Path, str | None]] = [
        ((*path, "edition"), split.edition) for path, split in _all_splits(card)
    ]
    refs.append((("classes", "edition"), card.classes.edition if card.classes else None))
    refs += [(("figures", i, "edition"), f.edition) for i, f in enumerate(card.figures)]
    refs += [
        (("transfers", i, "source_edition"), t.source_edition) for i, t in enumerate(card.transfers)
    ]
    listed = f"known: {', '.join(known)}" if known else "the card lists no editions"
    for path, edition in refs:
        if edition is not None and edition not in known:
            yield path, f"edition {edition!r} is not listed in editions ({listed})"


# --- figures ----------------------------------------------------------------------------------


def check_subjects(card: Card) -> Iterator[Found]:
    """Performance numbers say whose performance they are."""
    for i, f in enumerate(card.figures):
        if f.subject is not None:
            continue
        if f.axis in SUBJECT_AXES:
            why = f"axis {f.axis}"
        elif f.metric in SUBJECT_METRICS:
            why = f"metric {f.metric}"
        else:
            continue
        yield (
            ("figures", i),
            f"a figure with {why} needs subject (the model, system, method or people measured: "
            "{name, version, kind})",
        )


def check_scope(card: Card) -> Iterator[Found]:
    """A pooled figure names the cards it was measured together with, and only it does."""
    for i, f in enumerate(card.figures):
        if f.scope == "pooled" and not f.pooled_with:
            yield (
                ("figures", i, "scope"),
                "scope pooled needs pooled_with (the ids of the other cards measured together)",
            )
        if f.scope != "pooled" and f.pooled_with:
            yield (
                ("figures", i, "pooled_with"),
                f"pooled_with is only for scope pooled (got {f.scope})",
            )
        if card.id in f.pooled_with:
            k = f.pooled_with.index(card.id)
            yield ("figures", i, "pooled_with", k), "pooled_with lists this card itself"


def _verification_rules(i: int, f: Figure) -> Iterator[Found]:
    derived = f.provenance.kind == "derived"
    if derived and f.verification is not None:
        yield (
            ("figures", i, "verification"),
            "a derived figure's verification is computed from its inputs: remove verification "
            "(`visiondata bias show` prints the computed one)",
        )
    if derived and f.derivation is None:
        yield (
            ("figures", i, "provenance", "kind"),
            "a derived figure needs derivation (inputs, operation and formula)",
        )
    if not derived and f.derivation is not None:
        yield (
            ("figures", i, "derivation"),
            f"derivation is only for provenance.kind derived (got {f.provenance.kind})",
        )
    if not derived and f.verification is None:
        yield (
            ("figures", i, "verification"),
            "required field is missing (what was read: {status: verified}, {status: secondary, "
            "url: ...} or {status: unverified, note: ...})",
        )


def _known_input(card: Card, name: str) -> bool:
    if name == "classes.count":
        return card.classes is not None and card.classes.count is not None
    if name.startswith("splits."):
        return name[len("splits.") :] in card.splits
    return card.figure(name) is not None


def _unknown_input(card: Card, name: str, own: str) -> str:
    if name == "classes.count":  # named right, but the card has no class count
        return "this card gives no class count (classes is missing or its count is null)"
    names = [f.id for f in card.figures if f.id != own]
    names += [f"splits.{s}" for s in card.splits] + ["classes.count"]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"no figure, split or class count of this card is called {name!r}{hint}"


def _cycles(card: Card) -> dict[int, list[str]]:
    """Derived figures on a cycle of derivations, each with the cycle's ids."""
    inputs = {f.id: [n for n in f.derivation.inputs] for f in card.figures if f.derivation}
    out: dict[int, list[str]] = {}
    for i, f in enumerate(card.figures):
        stack: list[tuple[str, list[str]]] = [(f.id, [f.id])]
        seen: set[str] = set()
        while stack:
            node, trail = stack.pop()
            for nxt in inputs.get(node, []):
                if nxt == f.id:
                    out[i] = [*trail, nxt]
                    stack.clear()
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    return out


def check_derivations(card: Card) -> Iterator[Found]:
    """Derived figures: no hand-set verification, inputs that exist, no cycles, and a formula
    over exactly the inputs whose value is the figure's value."""
    cycles = _cycles(card)
    for i, f in enumerate(card.figures):
        yield from _verification_rules(i, f)
        if f.derivation is None:
            continue
        where = ("figures", i, "derivation")
        for k, name in enumerate(f.derivation.inputs):
            if not _known_input(card, name):
                yield (*where, "inputs", k), _unknown_input(card, name, f.id)
            elif name == f.id:
                yield (*where, "inputs", k), "a figure cannot be derived from itself"
        if i in cycles and f.id not in f.derivation.inputs:
            yield (*where, "inputs"), f"circular derivation: {' -> '.join(cycles[i])}"
        yield from _formula_agrees(card, f, f.derivation, i)


def _formula_agrees(card: Card, f: Figure, derivation: Derivation, i: int) -> Iterator[Found]:
    at: Path = ("figures", i, "derivation", "formula")
    try:
        formula = parse(derivation.formula)
    except FormulaError as exc:
        yield at, str(exc)
        return
    inputs = derivation.inputs
    for name in formula.names:
        if name not in inputs:
            yield at, f"formula uses {name!r}, which is not in derivation.inputs"
    for name in inputs:
        if name not in formula.names:
            yield at, f"input {name!r} is not used by the formula"
    values = {n: card.input_value(n) for n in formula.names}
    if any(v is None for v in values.values()):
        return
    known = {n: float(v) for n, v in values.items() if v is not None}
    try:
        computed = formula.evaluate(known)
    except FormulaError as exc:
        yield at, f"formula {derivation.formula!r}: {exc}"
        return
    if not agrees(computed, f.value):
        shown = ", ".join(f"{n} = {v:g}" for n, v in known.items())
        yield (
            ("figures", i, "value"),
            f"{f.value:g} is not what its formula gives: {derivation.formula} = {computed:.6g}"
            f" ({shown})",
        )


def check_split_formulas(card: Card) -> Iterator[Found]:
    """A computed split size is arithmetic over other splits (of the same group), figures or
    the class count, and equals what the formula gives."""
    groups: list[tuple[Path, Mapping[str, Split]]] = [(("splits",), card.splits)]
    groups += [(("folds", name, "splits"), fold.splits) for name, fold in card.folds.items()]
    for prefix, group in groups:
        for name, split in group.items():
            if split.formula is not None:
                yield from _split_formula(card, group, name, split.formula, (*prefix, name))


def _split_formula(
    card: Card, group: Mapping[str, Split], name: str, text: str, path: Path
) -> Iterator[Found]:
    split = group[name]
    try:
        formula = parse(text)
    except FormulaError as exc:
        yield (*path, "formula"), str(exc)
        return
    values: dict[str, float | None] = {}
    for n in formula.names:
        if n in group and n != name:
            values[n] = group[n].num_examples
        elif _known_input(card, n):
            values[n] = card.input_value(n)
        else:
            splits = ", ".join(s for s in group if s != name) or "none"
            yield (
                (*path, "formula"),
                f"{n!r} is not another split here ({splits}), splits.<name>, classes.count or "
                "a figure id",
            )
            return
    if split.num_examples is None or any(v is None for v in values.values()):
        return
    known = {n: float(v) for n, v in values.items() if v is not None}
    try:
        computed = formula.evaluate(known)
    except FormulaError as exc:
        yield (*path, "formula"), f"formula {text!r}: {exc}"
        return
    if not agrees(computed, split.num_examples, whole=True):
        shown = ", ".join(f"{n} = {v:g}" for n, v in known.items())
        yield (
            (*path, "num_examples"),
            f"{split.num_examples} is not what its formula gives: {text} = "
            f"{computed:.10g} ({shown})",
        )


# --- one figure per measured thing ------------------------------------------------------------


def uniqueness_key(f: Figure) -> tuple[object, ...]:
    """The figure's values of :data:`UNIQUENESS_KEY`."""
    subject = f.subject
    return (
        f.axis,
        f.metric,
        f.category,
        f.population.unit,
        f.population.split,
        subject.name if subject else None,
        subject.version if subject else None,
        f.edition,
        f.scope,
        f.provenance.as_of,
    )


def _disputes(a: Figure, b: Figure) -> bool:
    return any(
        d is not None and other.id in d.with_ for d, other in ((a.dispute, b), (b.dispute, a))
    )


def check_uniqueness(card: Card, where: Where = format_path) -> Iterator[Found]:
    """Two figures that measure the same thing (same :data:`UNIQUENESS_KEY`) must agree, unless
    one records a dispute naming the other and both say where their number is written."""
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, f in enumerate(card.figures):
        groups[uniqueness_key(f)].append(i)
    for members in groups.values():
        for pos, j in enumerate(members):
            b = card.figures[j]
            for i in members[:pos]:
                a = card.figures[i]
                if a.value == b.value:
                    continue
                if not _disputes(a, b):
                    yield (
                        ("figures", j),
                        f"collides with {a.id!r} ({where(('figures', i))}): same "
                        f"{', '.join(UNIQUENESS_KEY)} but value {b.value:g} vs {a.value:g}; tell "
                        "them apart (subject, edition, population.split, as_of) or record a "
                        "dispute naming the other",
                    )
                    continue
                for k, fig in ((i, a), (j, b)):
                    if not fig.provenance.locator:
                        yield (
                            ("figures", k, "provenance"),
                            "a recorded dispute needs both figures cited with a locator "
                            "(where each number is written)",
                        )


def check_disputes(card: Card) -> Iterator[Found]:
    """``dispute.with`` names other figures of the card."""
    for i, f in enumerate(card.figures):
        if f.dispute is None:
            continue
        for k, other in enumerate(f.dispute.with_):
            at = ("figures", i, "dispute", "with", k)
            if other == f.id:
                yield at, "a figure cannot dispute itself"
            elif card.figure(other) is None:
                yield at, f"no figure of this card has the id {other!r}"


def check_shares(card: Card) -> Iterator[Found]:
    """Shares of mutually exclusive categories, for one population and source, sum to <= 1."""
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, fig in enumerate(card.figures):
        if fig.metric != "proportion" or fig.axis not in EXCLUSIVE_AXES or fig.bound == "upper":
            continue
        if fig.verification is not None and fig.verification.status == "superseded":
            continue
        pop = fig.population
        key = (
            fig.axis,
            pop.unit,
            pop.split,
            fig.unit,
            fig.edition,
            fig.provenance.citation,
            fig.provenance.locator,
        )
        groups[key].append(i)
    for (axis, unit_counted, split, unit, _, citation, _), members in groups.items():
        scale = 100.0 if unit == "percent" else 1.0
        total = sum(card.figures[i].value for i in members) / scale
        if total > 1 + SHARE_TOLERANCE:
            cats = ", ".join(str(card.figures[i].category) for i in members)
            where = f"{unit_counted}" + (f" in split {split}" if split else "")
            yield (
                ("figures", members[-1], "value"),
                f"shares of {axis} over {where} from {citation!r} sum to {total * scale:g}"
                f" {unit} (categories {cats}); expected at most {scale:g}",
            )


def check_card(card: Card, where: Where = format_path) -> list[Found]:
    """Every cross-field problem of one parsed card."""
    found = list(check_citations(card))
    found += check_ids(card, where)
    found += check_editions(card)
    found += check_subjects(card)
    found += check_scope(card)
    found += check_derivations(card)
    found += check_split_formulas(card)
    found += check_disputes(card)
    found += check_uniqueness(card, where)
    found += check_shares(card)
    found += check_bibtex(card.citation)
    return found
