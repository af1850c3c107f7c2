"""``visiondata bias show | compare | transfers``: a card's figures by axis, one axis across
cards, and (in :mod:`.transfers`) transfer figures as a source x target matrix.

Both work on the cards directly (no SQL engine needed). ``compare --plot`` draws a bar chart
with matplotlib's object API (no pyplot state, Agg rendering), imported only when asked for.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import store
from ..errors import MissingExtraError, UsageError
from ..vocab import AXES, METRICS, PROVENANCE_KINDS
from .args import CARD, OUTPUT_FILE, add_command, add_format, add_group, did_you_mean, term
from .output import print_json, text_table

if TYPE_CHECKING:
    from ..schema import Card, Figure

__all__ = ["PLOT_FORMATS", "Row", "compare_rows", "plot_rows", "register"]

#: Plot file suffixes ``--plot`` accepts.
PLOT_FORMATS = (".png", ".svg")

#: Bar colour per provenance kind (colour-blind-safe Okabe-Ito hues), one per vocabulary term.
_COLOURS = {
    "declared": "#0072B2",
    "measured": "#E69F00",
    "computed": "#009E73",
    "derived": "#CC79A7",
}
_BOUND_MARK = {"exact": "", "lower": "≥", "upper": "≤", "approx": "≈"}


def register(groups: Any) -> None:
    sub = add_group(groups, "bias", "coverage and bias figures: one card, or one axis across cards")

    p = add_command(
        sub, "show", "every figure of one card grouped by axis, and its bias notes", cmd_show
    )
    p.add_argument("name", type=CARD, help="card id or alias (case-insensitive)")
    add_format(p, shape="{card, figures: [{card, axis, metric, category, value, ...}], bias_notes}")

    p = add_command(
        sub, "compare", "one axis across cards, e.g. skin-type shares of the face sets", cmd_compare
    )
    p.add_argument(
        "--axis",
        required=True,
        type=term("axis", AXES),
        help="axis term, e.g. demographic.skin_type (see `cards vocab`)",
    )
    p.add_argument(
        "--metric", type=term("metric", METRICS), help="only this metric, e.g. proportion"
    )
    p.add_argument(
        "--cards", nargs="+", type=CARD, metavar="NAME", help="only these cards (ids or aliases)"
    )
    p.add_argument(
        "--plot", type=OUTPUT_FILE, metavar="FILE", help="also draw a bar chart (.png or .svg)"
    )
    add_format(p, shape="[{card, axis, metric, category, value, unit, ...}], one per figure")

    from . import transfers

    transfers.register_into(sub)


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One figure flattened for a table or a bar."""

    card: str
    axis: str
    metric: str
    category: str | None
    value: float
    unit: str
    bound: str
    population: str
    provenance: str
    citation: str
    locator: str | None
    as_of: str | None
    verification: str
    verification_note: str | None

    @classmethod
    def of(cls, card: Card, f: Figure) -> Row:
        pop = f.population
        population = ", ".join(
            x for x in (pop.unit, pop.split, f"n={pop.n}" if pop.n is not None else None) if x
        )
        return cls(
            card=card.id,
            axis=f.axis,
            metric=f.metric,
            category=f.category,
            value=f.value,
            unit=f.unit,
            bound=f.bound,
            population=population,
            provenance=f.provenance.kind,
            citation=f.provenance.citation,
            locator=f.provenance.locator,
            as_of=f.provenance.as_of,
            verification=card.verification_of(f).status,
            verification_note=card.verification_of(f).note,
            split=pop.split,
        )

    split: str | None = None

    @property
    def label(self) -> str:
        """``card: category (split)``; the split only where it is not the whole dataset."""
        text = f"{self.card}: {self.category}" if self.category else self.card
        return f"{text} ({self.split})" if self.split not in (None, "all") else text

    @property
    def shown_value(self) -> str:
        return f"{_BOUND_MARK[self.bound]}{self.value:.6g}"


def _check_term(table: Any, kind: str, value: str | None) -> None:
    if value is None or value in table:
        return
    raise UsageError(
        f"{value}: unknown {kind}{did_you_mean(value, table)} (expected one of: {', '.join(table)})"
    )


def compare_rows(
    axis: str, metric: str | None = None, cards: Sequence[Card] | None = None
) -> list[Row]:
    """Every figure on ``axis`` (and ``metric``) of ``cards`` (default: all), by card and metric."""
    _check_term(AXES, "axis", axis)
    _check_term(METRICS, "metric", metric)
    chosen = store.list_cards() if cards is None else cards
    rows = [
        Row.of(c, f)
        for c in chosen
        for f in c.figures
        if f.axis == axis and (metric is None or f.metric == metric)
    ]
    return sorted(rows, key=lambda r: (r.card, r.metric, r.unit, r.category or ""))


# --- plot -----------------------------------------------------------------------------------


def plot_rows(rows: Sequence[Row], path: Path, title: str) -> None:
    """A horizontal bar chart, one panel per (metric, unit): colour = provenance kind, hatched
    and labelled when not verified, bound marks (≥ ≤ ≈) on the values."""
    import matplotlib
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.patches import Patch

    panels: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        panels.setdefault((r.metric, r.unit), []).append(r)
    heights = [max(len(p), 2) * 0.38 + 1.0 for p in panels.values()]
    fig = MplFigure(figsize=(9.0, sum(heights) + 1.2), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, ((metric, unit), panel) in zip(axes, panels.items(), strict=True):
        ys = list(range(len(panel)))[::-1]
        verified = [r.verification == "verified" for r in panel]
        bars = ax.barh(
            ys,
            [r.value for r in panel],
            color=[_COLOURS[r.provenance] for r in panel],
            hatch=[None if v else "///" for v in verified],
            alpha=1.0,
            edgecolor="black",
            linewidth=0.6,
        )
        for bar, r, ok in zip(bars, panel, verified, strict=True):
            if not ok:
                bar.set_alpha(0.55)
            text = r.shown_value if ok else f"{r.shown_value}  ({r.verification})"
            ax.annotate(
                text,
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        ax.set_yticks(ys, [r.label for r in panel], fontsize=8)
        lo = min(0.0, *(r.value for r in panel))
        hi = max(0.0, *(r.value for r in panel))
        if unit in ("fraction", "index_0_1"):
            ax.set_xlim(0, 1.15)  # shares on their full scale, room for the labels
        else:  # differences and drops can be negative: keep zero in view, room for labels
            span = (hi - lo) or 1.0
            ax.set_xlim(lo - (0.25 * span if lo < 0 else 0.0), hi + 0.25 * span)
        if lo < 0:
            ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"{metric} ({unit})")
        ax.grid(axis="x", alpha=0.3)
    legend = [Patch(facecolor=_COLOURS[k], edgecolor="black", label=k) for k in PROVENANCE_KINDS]
    legend.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="not verified"))
    fig.legend(
        handles=legend, loc="outside lower center", ncols=len(legend), fontsize=8, frameon=False
    )
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Date": None} if path.suffix == ".svg" else {}
    # SVG keeps text as text (searchable, accessible) instead of glyph outlines.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, dpi=120, metadata=metadata)


# --- commands -------------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    card = store.get_card(args.name)
    rows = [Row.of(card, f) for f in card.figures]
    bias_notes = [n for n in card.notes if n.kind == "bias"]
    if args.format == "json":
        notes = [n.model_dump(mode="json", exclude_none=True) for n in bias_notes]
        print_json({"card": card.id, "figures": [asdict(r) for r in rows], "bias_notes": notes})
        return 0
    print(f"{card.name} ({card.id}): {len(rows)} figure(s)")
    by_axis: dict[str, list[Row]] = {}
    for r in rows:
        by_axis.setdefault(r.axis, []).append(r)
    header = (
        "metric",
        "category",
        "value",
        "unit",
        "population",
        "provenance",
        "as_of",
        "verification",
    )
    for axis, group in by_axis.items():
        print(f"\n## {axis}: {AXES[axis]}")
        table = [
            (
                r.metric,
                r.category,
                r.shown_value,
                r.unit,
                r.population,
                f"{r.provenance}: {r.citation}" + (f" ({r.locator})" if r.locator else ""),
                r.as_of,
                r.verification,
            )
            for r in group
        ]
        print(text_table(header, table))
        for r in group:
            if r.verification != "verified" and r.verification_note:
                print(f"  * {r.label} {r.verification}: {r.verification_note}")
    if not rows:
        print("\n(no figures on this card)")
    print("\n## bias notes")
    for n in bias_notes:
        cite = f" [{n.citation}]" if n.citation else ""
        print(f"- {n.text}{cite}")
    if not bias_notes:
        print("(none)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    if args.plot is not None:
        if args.plot.suffix.lower() not in PLOT_FORMATS:
            formats = " or ".join(PLOT_FORMATS)
            raise UsageError(f"--plot {args.plot}: expected a file ending in {formats}")
        if importlib.util.find_spec("matplotlib") is None:
            raise MissingExtraError("matplotlib", "plots", "--plot")
    cards = (
        None
        if args.cards is None
        else list({c.id: c for c in map(store.get_card, args.cards)}.values())
    )
    rows = compare_rows(args.axis, args.metric, cards)
    if not rows:
        with_axis = sorted({f.axis for c in (cards or store.list_cards()) for f in c.figures})
        raise UsageError(
            f"--axis {args.axis}"
            + (f" --metric {args.metric}" if args.metric else "")
            + ": no figure in the selected cards (expected one of the axes with figures there: "
            + f"{', '.join(with_axis) or 'none'})"
        )
    if args.format == "json":
        print_json([asdict(r) for r in rows])
    else:
        header = (
            "card",
            "category",
            "metric",
            "value",
            "unit",
            "population",
            "provenance",
            "as_of",
            "verification",
        )
        print(
            text_table(
                header,
                [
                    (
                        r.card,
                        r.category,
                        r.metric,
                        r.shown_value,
                        r.unit,
                        r.population,
                        f"{r.provenance}: {r.citation}",
                        r.as_of,
                        r.verification,
                    )
                    for r in rows
                ],
            )
        )
    n_cards = len({r.card for r in rows})
    print(f"{len(rows)} figure(s) from {n_cards} card(s)", file=sys.stderr)
    if args.plot is not None:
        title = f"{args.axis}: {AXES[args.axis]}"
        plot_rows(rows, args.plot, title)
        print(args.plot, file=sys.stderr)
    return 0
