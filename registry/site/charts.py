"""What each chart shows, planned from the figures: pure data, drawn by :mod:`.draw`.

A chart has one panel per metric and unit. Shares of an axis whose categories exclude each other
(``vocab.EXCLUSIVE_AXES``) become stacked bars that sum to one, one bar per population (the
remainder drawn as "rest" when the shares published do not cover everyone); every other figure
is one bar. Each bar segment is coloured by the provenance kind of its number and hatched when
the number is not verified. Transfer figures become heatmaps (models down, targets across).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..schema import Card, Transfer
from ..vocab import EXCLUSIVE_AXES
from .model import FigureRef, format_value

__all__ = [
    "NEUTRAL",
    "PROVENANCE_COLOURS",
    "REST",
    "STATUS_COLOURS",
    "Bar",
    "BarChart",
    "Heatmap",
    "Mark",
    "Panel",
    "bar_chart",
    "figure_mark",
    "transfer_heatmaps",
]

#: Colour per provenance kind (the colour-blind-safe Okabe-Ito hues of ``bias compare --plot``).
PROVENANCE_COLOURS = {
    "declared": "#0072B2",
    "measured": "#E69F00",
    "computed": "#009E73",
    "derived": "#CC79A7",
}
#: Colour per verification status (the health page's shares).
STATUS_COLOURS = {
    "verified": "#009E73",
    "secondary": "#56B4E9",
    "unverified": "#E69F00",
    "disputed": "#D55E00",
    "superseded": "#999999",
    "(none)": "#BBBBBB",
}
#: Bars that stand for no provenance (counts of cards, terms).
NEUTRAL = "#56789A"
#: The colour of the segment that completes a stack of shares to one.
REST = "#9A9A9A"
_SHARE_UNITS = {"fraction": 1.0, "percent": 100.0}
_LOG_UNITS = {"count", "hours", "seconds", "bytes", "pixels"}


@dataclass(frozen=True)
class Mark:
    """One number as drawn: a bar, a segment of a stacked bar, or a heatmap cell. ``tag`` is
    written beside the value (e.g. ``unverified``), ``said`` after it in the text alternative;
    ``hatched`` marks a number that is not verified, ``faint`` the rest of a stack."""

    label: str
    value: float
    shown: str
    colour: str
    hatched: bool = False
    tag: str = ""
    said: str = ""
    faint: bool = False
    id: str = ""


@dataclass(frozen=True)
class Bar:
    label: str
    marks: tuple[Mark, ...]


@dataclass(frozen=True)
class Panel:
    """One metric and unit: plain bars or stacked shares, on a log scale or not; ``xlabel``
    replaces the axis label drawn from the metric."""

    metric: str
    unit: str
    stacked: bool
    log: bool
    bars: tuple[Bar, ...]
    xlabel: str = ""


@dataclass(frozen=True)
class BarChart:
    key: str
    title: str
    panels: tuple[Panel, ...]

    def description(self) -> str:
        """Every number of the chart in words (the chart's text alternative)."""
        parts = []
        for p in self.panels:
            bars = "; ".join(f"{b.label}: " + ", ".join(_said(m) for m in b.marks) for b in p.bars)
            parts.append(f"{p.metric} ({p.unit}){', stacked shares' if p.stacked else ''}: {bars}")
        return ". ".join(parts) + "."


@dataclass(frozen=True)
class Heatmap:
    key: str
    title: str
    metric: str
    unit: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[Mark | None, ...], ...]

    def description(self) -> str:
        said = [
            f"{r} on {c}: {_said(m)}"
            for r, row in zip(self.rows, self.cells, strict=True)
            for c, m in zip(self.columns, row, strict=True)
            if m is not None
        ]
        return f"{self.metric} ({self.unit}), trained on the source, tested on: " + "; ".join(said)


def _said(m: Mark) -> str:
    label = f"{m.label} " if m.label else ""
    return f"{label}{m.shown}" + (f" ({m.said})" if m.said else "")


# --- bar charts -----------------------------------------------------------------------------


#: Qualifiers named in a label only where they tell bars apart, in this order.
_PRIORITY = ("subject", "split", "edition", "as of", "scope", "bound", "counted")


def _qualifiers(ref: FigureRef) -> dict[str, str]:
    f = ref.figure
    return {
        "subject": ref.subject or "",
        "split": f.population.split or "",
        "edition": f"edition {f.edition}" if f.edition else "",
        "as of": f"as of {f.provenance.as_of}" if f.provenance.as_of else "",
        "scope": "pooled" if f.scope == "pooled" else "",
        "bound": f.bound if f.bound != "exact" else "",
        "counted": f"per {f.population.unit}",
    }


def _labels(bases: Sequence[str], quals: Sequence[dict[str, str]]) -> list[str]:
    """``base (q1, q2)`` for each item, naming only the qualifiers (in :data:`_PRIORITY`
    order) needed to tell the items apart, as far as they can be told apart."""
    keys: list[str] = []

    def made(ks: Sequence[str]) -> list[str]:
        out = []
        for base, q in zip(bases, quals, strict=True):
            extra = ", ".join(q[k] for k in ks if q[k])
            out.append(f"{base} ({extra})" if base and extra else base or extra)
        return out

    for key in _PRIORITY:
        if len(set(made(keys))) == len(bases):
            break
        if len(set(made([*keys, key]))) > len(set(made(keys))):
            keys.append(key)
    return made(keys)


def figure_mark(ref: FigureRef, label: str, scale: float = 1.0) -> Mark:
    """A figure as drawn: coloured by provenance kind, hatched and tagged unless verified."""
    f, status = ref.figure, ref.verification.status
    tag = "" if status == "verified" else status
    said = f"{f.provenance.kind}, {status}"
    colour = PROVENANCE_COLOURS[f.provenance.kind]
    return Mark(label, f.value / scale, ref.shown, colour, bool(tag), tag, said, id=f.id)


def _stack(refs: Sequence[FigureRef], with_card: bool) -> list[Bar] | None:
    """One bar per population, its shares stacked; None when they cannot stack (a category
    twice in one population, or shares summing above one)."""
    groups: dict[tuple[str, ...], list[FigureRef]] = {}
    for ref in refs:
        key = (ref.card.id, *_qualifiers(ref).values())
        groups.setdefault(key, []).append(ref)
    bars = []
    for members in groups.values():
        categories = [r.figure.category or "" for r in members]
        scale = _SHARE_UNITS[members[0].figure.unit]
        marks = [figure_mark(r, c, scale) for r, c in zip(members, categories, strict=True)]
        total = sum(m.value for m in marks)
        if len(set(categories)) < len(categories) or total > 1.0005:
            return None
        if total < 0.9995:
            rest = 1.0 - total
            marks.append(Mark("rest", rest, f"{rest:.3g}", REST, said="not reported", faint=True))
        bars.append(Bar("", tuple(marks)))
    firsts = [g[0] for g in groups.values()]
    bases = [r.card.id if with_card else "" for r in firsts]
    labels = _labels(bases, [_qualifiers(r) for r in firsts])
    default = [r.figure.population.split or "all" for r in firsts]
    return [Bar(lab or d, b.marks) for lab, d, b in zip(labels, default, bars, strict=True)]


def _panel(axis: str, refs: Sequence[FigureRef], with_card: bool) -> Panel:
    metric, unit = refs[0].figure.metric, refs[0].figure.unit
    if axis in EXCLUSIVE_AXES and metric == "proportion" and unit in _SHARE_UNITS:
        stacked = _stack(refs, with_card)
        if stacked is not None:
            return Panel(metric, unit, True, False, tuple(stacked))
    bases = [
        _label([r.card.id if with_card else "", r.figure.category or ""]) or metric for r in refs
    ]
    labels = _labels(bases, [_qualifiers(r) for r in refs])
    bars = [Bar(label, (figure_mark(r, ""),)) for label, r in zip(labels, refs, strict=True)]
    values = [b.marks[0].value for b in bars]
    log = unit in _LOG_UNITS and min(values) > 0 and max(values) / min(values) >= 100
    return Panel(metric, unit, False, log, tuple(bars))


def _label(parts: Sequence[str]) -> str:
    return " · ".join(p for p in parts if p)


def bar_chart(key: str, title: str, refs: Sequence[FigureRef], *, with_card: bool) -> BarChart:
    """The chart of one axis's figures: one panel per (metric, unit) in order of appearance;
    ``with_card`` names the card in every label (the axis pages compare cards)."""
    axis = refs[0].figure.axis if refs else ""
    panels: dict[tuple[str, str], list[FigureRef]] = {}
    for ref in refs:
        panels.setdefault((ref.figure.metric, ref.figure.unit), []).append(ref)
    return BarChart(key, title, tuple(_panel(axis, p, with_card) for p in panels.values()))


# --- heatmaps -------------------------------------------------------------------------------


def _row_label(t: Transfer, keys: Sequence[str]) -> str:
    s = t.subject
    parts = {
        "subject": s.name + (f" {s.version}" if s.version else ""),
        "setting": t.setting,
        "backbone": t.backbone or "",
        "split": t.population.split or "",
        "edition": t.source_edition or "",
    }
    return _label([parts[k] for k in keys])


def _heatmap(card: Card, key: str, transfers: Sequence[Transfer]) -> Heatmap:
    metric, unit = transfers[0].metric, transfers[0].unit
    keys = ["subject"]
    for extra in ("setting", "backbone", "split", "edition"):
        rows = [_row_label(t, keys) for t in transfers]
        if len(set(zip(rows, (t.target for t in transfers), strict=True))) == len(transfers):
            break
        keys.append(extra)
    labels = [_row_label(t, keys) for t in transfers]
    if len(set(zip(labels, (t.target for t in transfers), strict=True))) < len(transfers):
        labels = [f"{label} ({t.id})" for label, t in zip(labels, transfers, strict=True)]
    row_names = tuple(dict.fromkeys(labels))
    targets = tuple(sorted({t.target for t in transfers}))
    grid: list[list[Mark | None]] = [[None] * len(targets) for _ in row_names]
    for label, t in zip(labels, transfers, strict=True):
        shown = format_value(t.value, t.unit, t.bound)
        status = t.verification.status
        said = f"{t.provenance.kind}, {status}"
        colour = PROVENANCE_COLOURS[t.provenance.kind]
        mark = Mark("", t.value, shown, colour, status != "verified", "", said, id=t.id)
        grid[row_names.index(label)][targets.index(t.target)] = mark
    title = f"{card.name}: {metric} ({unit}), trained on {card.id}, tested on each target"
    return Heatmap(key, title, metric, unit, row_names, targets, tuple(map(tuple, grid)))


def transfer_heatmaps(card: Card, key: Callable[[int], str]) -> list[Heatmap]:
    """One heatmap per (metric, unit) of the card's transfers; ``key(i)`` names the i-th."""
    groups: dict[tuple[str, str], list[Transfer]] = {}
    for t in card.transfers:
        groups.setdefault((t.metric, t.unit), []).append(t)
    return [_heatmap(card, key(i), ts) for i, ts in enumerate(groups.values())]
