"""``visiondata fairness``, ``visiondata namethat`` and ``visiondata audit``.

Heavy imports (pandas, fairlearn, torch) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from visiondata.registry.errors import UsageError

__all__ = ["register"]


def register(groups: Any) -> None:
    p = groups.add_parser(
        "fairness",
        help="per-subgroup accuracy, gaps and parity of a model's predictions (Fairlearn)",
        description="Evaluate predictions per group and per intersection of groups.",
    )
    p.add_argument("predictions", type=Path, help="CSV or Parquet file, one row per prediction")
    p.add_argument("--label", required=True, help="column with the true label")
    p.add_argument("--pred", required=True, help="column with the predicted label")
    p.add_argument(
        "--group", action="append", required=True, help="subgroup column (repeat for intersections)"
    )
    p.add_argument(
        "--positive", help="positive class for parity metrics (default: the larger of two labels)"
    )
    p.add_argument(
        "--min-group", type=int, default=30, help="flag groups smaller than this (default 30)"
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--json", type=Path, help="also save the report as JSON here")
    p.add_argument(
        "--plot", type=Path, help="also draw accuracy per intersectional group (.png or .svg)"
    )
    p.set_defaults(func=cmd_fairness)


def cmd_fairness(args: argparse.Namespace) -> int:
    from .audit.fairness import fairness_report, plot_report, read_predictions

    if not args.predictions.exists():
        raise UsageError(f"no such file: {args.predictions}")
    if args.plot is not None and args.plot.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot must end in .png or .svg, got {args.plot}")
    try:
        df = read_predictions(args.predictions)
        report = fairness_report(
            df, args.label, args.pred, args.group, positive=args.positive, min_group=args.min_group
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    data = report.to_json()
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))
    if args.plot:
        plot_report(report, args.plot)
    print(json.dumps(data, indent=2) if args.format == "json" else report.render())
    return 0
