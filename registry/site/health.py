"""The catalogue health page's charts, planned from what ``cards stats`` reports.

Every section of the stats is shown as a table; the sections named in :data:`CHARTS` are drawn
too. A section this module does not know (the stats grow) is still shown, as a table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .charts import NEUTRAL, PROVENANCE_COLOURS, STATUS_COLOURS, Bar, BarChart, Mark, Panel
from .model import format_value

__all__ = ["CHARTS", "health_charts"]

Rows = Sequence[Mapping[str, Any]]


def _counts(
    rows: Rows, label: str, value: str, colour: Callable[[Mapping[str, Any]], str], note: str = ""
) -> Panel:
    bars = []
    for r in rows:
        n = r[value]
        tag = note.format(**r) if note else ""
        said = tag
        bars.append(
            Bar(
                str(r[label]),
                (Mark("", float(n), format_value(n, "count"), colour(r), tag=tag, said=said),),
            )
        )
    return Panel(value, "count", False, False, tuple(bars))


def _by_verification(rows: Rows) -> Panel:
    groups: dict[str, list[Mark]] = {}
    for r in rows:
        status = str(r["verification_status"])
        mark = Mark(
            status,
            float(r["share"]),
            f"{r['share']:.3g}",
            STATUS_COLOURS.get(status, NEUTRAL),
            said=f"{r['n']} numbers",
        )
        groups.setdefault(str(r["what"]), []).append(mark)
    bars = tuple(Bar(what, tuple(marks)) for what, marks in groups.items())
    return Panel("share", "fraction", True, False, bars, "share of the numbers of each kind")


def _neutral(_: Mapping[str, Any]) -> str:
    return NEUTRAL


#: Section title -> how it is drawn (a function of its rows giving one panel).
CHARTS: Mapping[str, Callable[[Rows], Panel]] = {
    "numbers by verification": _by_verification,
    "figures by axis": lambda rows: _counts(
        rows, "axis", "figures", _neutral, "{verified} verified"
    ),
    "figures by provenance": lambda rows: _counts(
        rows,
        "provenance_kind",
        "figures",
        lambda r: PROVENANCE_COLOURS.get(str(r["provenance_kind"]), NEUTRAL),
    ),
    "splits by count kind": lambda rows: _counts(rows, "count_kind", "splits", _neutral),
    "cards by task": lambda rows: _counts(rows, "task", "cards", _neutral),
    "cards by modality": lambda rows: _counts(rows, "modality", "cards", _neutral),
}


def health_charts(sections: Mapping[str, Rows]) -> dict[str, BarChart]:
    """The charts of the sections that have one (and rows), by section title."""
    out = {}
    for i, (title, rows) in enumerate(sections.items()):
        if title in CHARTS and rows:
            out[title] = BarChart(f"h{i}", title, (CHARTS[title](rows),))
    return out
