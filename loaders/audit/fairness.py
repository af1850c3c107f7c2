"""Per-subgroup evaluation of a model's predictions, with Fairlearn's MetricFrame.

The table of the lecture's Gender Shades slide: accuracy and error per group and per
intersection of groups, the largest gap, demographic-parity difference and ratio and
equalized-odds difference. Small groups are flagged with their counts and Wilson confidence
intervals, never hidden.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FairnessReport", "GroupRow", "fairness_report", "read_predictions"]


@dataclass(frozen=True)
class GroupRow:
    """One group (a single attribute value, or an intersection of several)."""

    by: str  # the column(s) grouped by, joined with ' x '
    group: str  # the value(s), joined with ' x '
    n: int
    accuracy: float
    error: float
    ci_low: float  # Wilson 95% interval of the accuracy
    ci_high: float
    selection_rate: float | None
    small: bool


@dataclass
class FairnessReport:
    label: str
    pred: str
    groups: list[str]
    n: int
    overall_accuracy: float
    rows: list[GroupRow]
    largest_gap: dict[str, dict[str, Any]]  # by -> {best, worst, gap}
    positive: str | None
    demographic_parity_difference: dict[str, float] = field(default_factory=dict)
    demographic_parity_ratio: dict[str, float] = field(default_factory=dict)
    equalized_odds_difference: dict[str, float] = field(default_factory=dict)
    min_group: int = 30
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        lines = [f"{self.n} predictions; overall accuracy {self.overall_accuracy:.4f}"]
        header = f"{'by':<24} {'group':<28} {'n':>7} {'accuracy':>9} {'error':>7} {'95% CI':>17} {'sel.rate':>8}"
        lines += ["", header, "-" * len(header)]
        for r in self.rows:
            sel = "" if r.selection_rate is None else f"{r.selection_rate:.4f}"
            flag = "  (small group)" if r.small else ""
            lines.append(
                f"{r.by:<24} {r.group:<28} {r.n:>7} {r.accuracy:>9.4f} {r.error:>7.4f} "
                f"[{r.ci_low:.3f}, {r.ci_high:.3f}] {sel:>8}{flag}"
            )
        lines.append("")
        for by, gap in self.largest_gap.items():
            lines.append(
                f"largest accuracy gap by {by}: {gap['gap']:.4f} ({gap['best']} {gap['best_accuracy']:.4f} vs {gap['worst']} {gap['worst_accuracy']:.4f})"
            )
        for by, v in self.demographic_parity_difference.items():
            lines.append(
                f"demographic parity by {by}: difference {v:.4f}, ratio {self.demographic_parity_ratio[by]:.4f}; "
                f"equalized odds difference {self.equalized_odds_difference[by]:.4f} (positive = {self.positive})"
            )
        lines += self.notes
        return "\n".join(lines)


def read_predictions(path: str | Path) -> Any:
    """A CSV or Parquet file of predictions as a pandas DataFrame."""
    import pandas as pd

    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if p.suffix.lower() in (".csv", ".txt"):
        # index_col=False: a row longer than the header would otherwise turn its leading fields
        # into the index and shift every column; pandas then only warns, so refuse it here
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            try:
                df = pd.read_csv(p, index_col=False)
            except pd.errors.ParserError as exc:
                # pandas counts records as lines; name the line a text editor shows
                long = _long_row(p, None) if "fields in line" in str(exc) else None
                if long is None:
                    raise
                raise ValueError(long) from None
        for w in caught:
            if issubclass(w.category, pd.errors.ParserWarning):
                raise ValueError(_long_row(p, len(df.columns)) or f"{p}: {w.message}")
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)  # not ours to hide
        return df
    raise ValueError(
        f"{p}: expected a .csv or .parquet file of predictions, got {p.suffix or 'no suffix'}"
    )


def _long_row(path: Path, width: int | None) -> str | None:
    """Which line of a CSV has more fields than its header's ``width`` (None: the header's
    own count); None if none has."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        start = 1
        for row in reader:
            if not row:  # a blank line, which pandas skips too
                pass
            elif width is None:
                width = len(row)
            elif len(row) > width:
                return (
                    f"{path}: line {start} has {len(row)} fields, the header {width} "
                    f"(expected at most {width} fields on every line)"
                )
            start = reader.line_num + 1  # a quoted field may span lines
    return None


def _wilson(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def fairness_report(
    df: Any,
    label: str,
    pred: str,
    groups: Sequence[str],
    *,
    positive: str | None = None,
    min_group: int = 30,
) -> FairnessReport:
    """Evaluate ``df[pred]`` against ``df[label]`` per value of each column in ``groups`` and per
    intersection of all of them. Parity metrics need a positive class: ``positive``, or the
    larger of two labels when the labels are binary."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        selection_rate,
    )
    from sklearn.metrics import accuracy_score

    missing = [c for c in (label, pred, *groups) if c not in df.columns]
    if missing:
        raise ValueError(
            f"columns {missing} are not in the predictions (have: {', '.join(map(str, df.columns))})"
        )
    if not groups:
        raise ValueError("give at least one group column")
    data = df[[label, pred, *groups]].dropna()
    if data.empty:  # sklearn would say only "Found empty input array"
        named = ", ".join(map(str, (label, pred, *groups)))
        raise ValueError(
            "no rows (expected at least one prediction)"
            if df.empty
            else f"every one of the {len(df)} row(s) misses a value in {named} "
            "(expected at least one row with all of them)"
        )
    notes = []
    if len(data) < len(df):
        notes.append(f"note: {len(df) - len(data)} row(s) with missing values were left out")
    y_true = data[label].astype(str)
    y_pred = data[pred].astype(str)
    labels = sorted(set(y_true) | set(y_pred))
    pos = positive if positive is not None else (labels[-1] if len(labels) == 2 else None)
    if pos is None:
        notes.append("note: labels are not binary; pass --positive LABEL for parity metrics")

    metrics: dict[str, Any] = {"accuracy": accuracy_score, "n": count}
    if pos is not None:
        metrics["selection_rate"] = lambda t, p: selection_rate(t, p, pos_label=pos)
    report = FairnessReport(
        label=label,
        pred=pred,
        groups=list(groups),
        n=len(data),
        overall_accuracy=float(accuracy_score(y_true, y_pred)),
        rows=[],
        largest_gap={},
        positive=pos,
        min_group=min_group,
        notes=notes,
    )
    sets: list[list[str]] = [[g] for g in groups]
    if len(groups) > 1:
        sets.append(list(groups))
    for cols in sets:
        by = " x ".join(cols)
        features = data[cols] if len(cols) > 1 else data[cols[0]]
        frame = MetricFrame(
            metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=features
        )
        table = frame.by_group
        for key, row in table.iterrows():
            values = key if isinstance(key, tuple) else (key,)
            n = int(row["n"])
            acc = float(row["accuracy"])
            low, high = _wilson(round(acc * n), n)
            report.rows.append(
                GroupRow(
                    by=by,
                    group=" x ".join(str(v) for v in values),
                    n=n,
                    accuracy=acc,
                    error=1 - acc,
                    ci_low=low,
                    ci_high=high,
                    selection_rate=float(row["selection_rate"])
                    if "selection_rate" in row
                    else None,
                    small=n < min_group,
                )
            )
        acc_by = table["accuracy"]
        best, worst = acc_by.idxmax(), acc_by.idxmin()
        report.largest_gap[by] = {
            "best": _group_name(best),
            "best_accuracy": float(acc_by[best]),
            "worst": _group_name(worst),
            "worst_accuracy": float(acc_by[worst]),
            "gap": float(acc_by[best] - acc_by[worst]),
        }
        if pos is not None:
            t = (y_true == pos).astype(int)
            p = (y_pred == pos).astype(int)
            report.demographic_parity_difference[by] = float(
                demographic_parity_difference(t, p, sensitive_features=features)
            )
            report.demographic_parity_ratio[by] = float(
                demographic_parity_ratio(t, p, sensitive_features=features)
            )
            report.equalized_odds_difference[by] = float(
                equalized_odds_difference(t, p, sensitive_features=features)
            )
    return report


def _group_name(key: object) -> str:
    return " x ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def plot_report(report: FairnessReport, path: str | Path) -> None:
    """A bar chart of accuracy per intersectional group with Wilson intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = " x ".join(report.groups)
    rows = [r for r in report.rows if r.by == by]
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(rows)), 3.5))
    xs = range(len(rows))
    ax.bar(xs, [r.accuracy for r in rows], color=["#d98" if r.small else "#68a" for r in rows])
    ax.errorbar(
        xs,
        [r.accuracy for r in rows],
        yerr=[[r.accuracy - r.ci_low for r in rows], [r.ci_high - r.accuracy for r in rows]],
        fmt="none",
        ecolor="black",
        capsize=3,
    )
    ax.set_xticks(list(xs), [f"{r.group}\n(n={r.n})" for r in rows], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% Wilson CI)")
    ax.set_title(f"accuracy by {by}; small groups in red")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
