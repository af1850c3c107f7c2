"""``visiondata bias transfers``: transfer figures as a source x target matrix, and its heatmap.

A transfer figure is measured by training on one card's data (the source, whose card holds the
figure) and testing on another's (the target). The matrix has one row per source and one
column per target for one metric and unit; ``--plot`` draws it as a heatmap with matplotlib's
object API (no pyplot state), imported only when asked for.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import store
from ..errors import MissingExtraError, UsageError
from ..vocab import METRICS, TASKS, TRANSFER_SETTINGS, UNITS
from .args import CARD, OUTPUT_FILE, TEXT, add_command, add_format, did_you_mean, term
from .output import print_json

if TYPE_CHECKING:
    from ..schema import Card, Transfer

__all__ = ["PLOT_FORMATS", "TransferRow", "matrix", "plot_matrix", "register_into", "select"]

#: Plot file suffixes ``--plot`` accepts.
PLOT_FORMATS = (".png", ".svg")
_BOUND_MARK = {"exact": "", "lower": "≥", "upper": "≤", "approx": "≈"}


def register_into(sub: Any) -> None:
    """Add ``transfers`` to the ``bias`` group's subparsers."""
    help = "transfer figures as a source x target matrix for one metric (and a heatmap)"
    p = add_command(sub, "transfers", help, cmd_transfers)
    p.add_argument(
        "cards",
        nargs="*",
        metavar="CARD",
        type=CARD,
        help="only transfers with one of these cards as source or target (ids or aliases)",
    )
    p.add_argument(
        "--metric",
        type=term("metric", METRICS),
        help="metric term, e.g. miou (needed when several match)",
    )
    p.add_argument(
        "--unit",
        type=term("unit", UNITS),
        help="unit term, e.g. percent (needed when several match)",
    )
    p.add_argument(
        "--setting",
        type=term("setting", TRANSFER_SETTINGS),
        help="source-only | adapted | target-only | zero-shot | fine-tuned",
    )
    p.add_argument(
        "--subject", type=TEXT, help="only this model or method (name, case-insensitive)"
    )
    p.add_argument(
        "--task", type=term("task", TASKS), help="only this task term, e.g. semantic-segmentation"
    )
    p.add_argument(
        "--plot", type=OUTPUT_FILE, metavar="FILE", help="also draw a heatmap (.png or .svg)"
    )
    add_format(p, shape="[{source, target, id, task, setting, subject, metric, value, ...}]")


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferRow:
    """One transfer figure flattened for the matrix."""

    source: str
    target: str
    id: str
    task: str
    setting: str
    subject: str
    metric: str
    value: float
    unit: str
    bound: str
    split: str | None
    citation: str
    locator: str | None
    verification: str

    @classmethod
    def of(cls, card: Card, t: Transfer) -> TransferRow:
        subject = t.subject.name + (f" {t.subject.version}" if t.subject.version else "")
        return cls(
            source=card.id,
            target=t.target,
            id=t.id,
            task=t.task,
            setting=t.setting,
            subject=subject,
            metric=t.metric,
            value=t.value,
            unit=t.unit,
            bound=t.bound,
            split=t.population.split,
            citation=t.provenance.citation,
            locator=t.provenance.locator,
            verification=t.verification.status,
        )

    @property
    def shown(self) -> str:
        """The value with its bound mark, and ``*`` when not verified."""
        star = "" if self.verification == "verified" else "*"
        return f"{_BOUND_MARK[self.bound]}{self.value:.4g}{star}"


def _check(table: Any, kind: str, value: str | None) -> None:
    if value is not None and value not in table:
        raise UsageError(
            f"{value}: unknown {kind}{did_you_mean(value, table)} (expected one of: "
            f"{', '.join(table)})"
        )


def select(
    cards: Sequence[Card],
    *,
    involving: Sequence[str] = (),
    metric: str | None = None,
    unit: str | None = None,
    setting: str | None = None,
    subject: str | None = None,
    task: str | None = None,
) -> list[TransferRow]:
    """The transfers of ``cards`` that match every given criterion; ``involving`` keeps those
    whose source or target is one of these card ids."""
    _check(METRICS, "metric", metric)
    _check(TRANSFER_SETTINGS, "setting", setting)
    _check(TASKS, "task", task)
    rows = [TransferRow.of(c, t) for c in cards for t in c.transfers]
    wanted = set(involving)
    return sorted(
        (
            r
            for r in rows
            if (not wanted or r.source in wanted or r.target in wanted)
            and (metric is None or r.metric == metric)
            and (unit is None or r.unit == unit)
            and (setting is None or r.setting == setting)
            and (task is None or r.task == task)
            and (subject is None or r.subject.casefold().startswith(subject.casefold()))
        ),
        key=lambda r: (r.source, r.target, r.subject, r.id),
    )


Matrix = tuple[list[str], list[str], dict[tuple[str, str], list[TransferRow]]]


def matrix(rows: Sequence[TransferRow]) -> Matrix:
    """``(sources, targets, cells)`` of one metric and unit; raises UsageError when the rows
    mix metrics or units (the caller narrows with --metric / --unit)."""
    kinds = sorted({(r.metric, r.unit) for r in rows})
    if len(kinds) > 1:
        listed = ", ".join(f"{m} in {u}" for m, u in kinds)
        raise UsageError(
            f"the selected transfers measure {listed}: choose one with --metric and --unit"
        )
    cells: dict[tuple[str, str], list[TransferRow]] = {}
    for r in rows:
        cells.setdefault((r.source, r.target), []).append(r)
    sources = sorted({r.source for r in rows})
    targets = sorted({r.target for r in rows})
    return sources, targets, cells


def render_matrix(m: Matrix) -> str:
    """The matrix as text: one line per source, one column per target."""
    from .catalogue import text_table

    sources, targets, cells = m
    body = [
        [s, *(" | ".join(r.shown for r in cells.get((s, t), [])) or "-" for t in targets)]
        for s in sources
    ]
    return text_table(["source \\ target", *targets], body)


# --- plot -----------------------------------------------------------------------------------


def check_plottable(m: Matrix) -> None:
    """A heatmap shows one number per cell: raise UsageError naming the first crowded cell."""
    crowded = [(s, t, rs) for (s, t), rs in m[2].items() if len(rs) > 1]
    if crowded:
        s, t, rs = crowded[0]
        names = "; ".join(f"{r.subject} ({r.setting})" for r in rs)
        raise UsageError(
            f"--plot: cell {s} -> {t} holds {len(rs)} transfers ({names}): choose one with "
            "--subject or --setting"
        )


def plot_matrix(m: Matrix, path: Path, title: str) -> None:
    """A heatmap: sources down, targets across, the value written in each cell (``*`` and
    hatching when not verified), a colour bar labelled with the metric and unit."""
    import matplotlib
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.patches import Rectangle

    check_plottable(m)
    sources, targets, cells = m
    grid = [
        [cells[(s, t)][0].value if (s, t) in cells else math.nan for t in targets] for s in sources
    ]
    first = next(iter(cells.values()))[0]
    fig = MplFigure(
        figsize=(max(6.0, 1.3 * len(targets) + 3), max(3.0, 0.7 * len(sources) + 2)),
        layout="constrained",
    )
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label=f"{first.metric} ({first.unit})")
    ax.set_xticks(range(len(targets)), targets, rotation=30, ha="right")
    ax.set_yticks(range(len(sources)), sources)
    ax.set_xlabel("target: tested on")
    ax.set_ylabel("source: trained on")
    low, high = image.get_clim()
    for i, s in enumerate(sources):
        for j, t in enumerate(targets):
            if (s, t) not in cells:
                continue
            r = cells[(s, t)][0]
            dark = (r.value - low) / ((high - low) or 1.0) < 0.6
            ax.text(j, i, r.shown, ha="center", va="center", color="white" if dark else "black")
            if r.verification != "verified":
                ax.add_patch(
                    Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", linewidth=0)
                )
    ax.set_title("\n".join(textwrap.wrap(title, 72)), fontsize=10)
    if any(rs[0].verification != "verified" for rs in cells.values()):
        fig.text(0.01, 0.01, "* hatched: not verified", fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Date": None} if path.suffix == ".svg" else {}
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, dpi=120, metadata=metadata)


# --- command --------------------------------------------------------------------------------


def _criteria(args: argparse.Namespace) -> str:
    given = [
        f"{name} {getattr(args, name)!r}"
        for name in ("metric", "unit", "setting", "subject", "task")
        if getattr(args, name)
    ]
    if args.cards:
        given.append(f"involving {', '.join(args.cards)}")
    return " with " + ", ".join(given) if given else ""


def cmd_transfers(args: argparse.Namespace) -> int:
    if args.plot is not None:
        if args.plot.suffix.lower() not in PLOT_FORMATS:
            formats = " or ".join(PLOT_FORMATS)
            raise UsageError(f"--plot {args.plot}: expected a file ending in {formats}")
        if importlib.util.find_spec("matplotlib") is None:
            raise MissingExtraError("matplotlib", "plots", "--plot")
    involving = [store.get_card(name).id for name in args.cards]
    catalogue = store.list_cards()
    rows = select(
        catalogue,
        involving=involving,
        metric=args.metric,
        unit=args.unit,
        setting=args.setting,
        subject=args.subject,
        task=args.task,
    )
    if not rows:
        total = sum(len(c.transfers) for c in catalogue)
        raise UsageError(
            f"no transfer figure matches{_criteria(args)} (expected one of the {total} transfer "
            'figure(s) in the catalogue; `visiondata cards query "SELECT * FROM transfers"` '
            "lists them)"
        )
    m = matrix(rows)
    if args.plot is not None:
        check_plottable(m)
    if args.format == "json":
        print_json([asdict(r) for r in rows])
    else:
        print(render_matrix(m))
        print("\n* not verified" if any(r.verification != "verified" for r in rows) else "")
        for r in rows:
            where = f"{r.citation}" + (f", {r.locator}" if r.locator else "")
            print(
                f"- {r.source} -> {r.target}: {r.subject} ({r.setting}, {r.task}) "
                f"{r.shown} {r.unit} [{r.id}; {where}; {r.verification}]"
            )
    print(f"{len(rows)} transfer figure(s)", file=sys.stderr)
    if args.plot is not None:
        first = rows[0]
        title = f"{first.metric} ({first.unit}): trained on source, tested on target"
        plot_matrix(m, args.plot, title)
        print(args.plot, file=sys.stderr)
    return 0
