"""``visiondata fairness``, ``visiondata namethat`` and ``visiondata audit``.

Heavy imports (pandas, fairlearn, torch) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
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

    a = groups.add_parser(
        "audit",
        help="coverage, balance, duplicates, leakage and subgroup figures of a shard set",
        description="Stream a shard set once and compute its figures (provenance: computed).",
    )
    a.add_argument("source", type=Path, help="folder with manifest.json and the shards")
    a.add_argument("--card", help="card id the figures belong to (default: the manifest's)")
    a.add_argument(
        "--split", action="append", help="split to audit (repeatable; default: every split)"
    )
    a.add_argument("--report", type=Path, metavar="DIR", help="write audit.json and audit.html")
    a.add_argument(
        "--update-card", type=Path, metavar="CARDFILE", help="merge the figures into this card"
    )
    a.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    a.add_argument(
        "--threshold",
        type=int,
        default=10,
        help="near duplicate: pHash Hamming distance in bits, of 64 (default 10)",
    )
    a.add_argument(
        "--reference", default="train", help="split that leakage is measured into (default train)"
    )
    a.add_argument(
        "--attribute",
        action="append",
        help="extra categorical attribute field of the json member (repeatable)",
    )
    a.add_argument("--format", choices=["table", "json"], default="table")
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_audit)

    n = groups.add_parser(
        "namethat",
        help='"Name That Dataset": how well a classifier tells shard sets apart',
        description="Sample images from each source, train a classifier to name the source, "
        "and report held-out accuracy against chance (a separability figure).",
    )
    n.add_argument("sources", type=Path, nargs="+", metavar="SOURCE", help="shard set folders")
    n.add_argument("--per-source", type=int, default=200, help="images per source (default 200)")
    n.add_argument("--seed", type=int, default=0, help="sampling and split seed (default 0)")
    n.add_argument("--split", action="append", help="sample only these splits (repeatable)")
    n.add_argument("--json", type=Path, help="also save the result as JSON here")
    n.set_defaults(func=cmd_namethat)


def cmd_fairness(args: argparse.Namespace) -> int:
    from ..audit.fairness import fairness_report, plot_report, read_predictions

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


def cmd_audit(args: argparse.Namespace) -> int:
    from ..audit.annotations import ATTRIBUTE_AXES
    from ..audit.audit import AuditOptions, run_audit
    from ..shards.manifest import ManifestError

    if not (args.source / "manifest.json").is_file() and args.source.name != "manifest.json":
        raise UsageError(f"{args.source}: no manifest.json (expected a converted shard set)")
    if args.update_card is not None and not args.update_card.is_file():
        raise UsageError(f"no such card file: {args.update_card}")
    try:
        opts = AuditOptions(
            splits=tuple(args.split) if args.split else None,
            workers=args.workers,
            threshold=args.threshold,
            reference=args.reference,
            attributes=tuple(ATTRIBUTE_AXES) + tuple(a.lower() for a in args.attribute or ()),
            progress=not args.no_progress and sys.stderr.isatty(),
        )
        result = run_audit(args.source, opts)
    except (ValueError, ManifestError) as exc:
        raise UsageError(str(exc)) from None
    from ..audit.figures import CITATION_KEY, audit_figures
    from ..audit.report import audit_json, render_text, write_report

    card_id = args.card or result.manifest.card
    if args.report is not None:
        json_path, html_path = write_report(result, args.report)
        print(f"report: {json_path} and {html_path}", file=sys.stderr)
    if args.update_card is not None:
        from ..audit.cardmerge import merge_figures

        if card_id and args.update_card.stem != card_id:
            raise UsageError(
                f"{args.update_card} is the card {args.update_card.stem!r}, but the shards are "
                f"for {card_id!r} (pass --card {args.update_card.stem} to merge anyway)"
            )
        figures = audit_figures(result)
        reference = {
            "title": f"visiondata audit of the {card_id or args.source.name} shards "
            f"(manifest sha256 {result.manifest_sha256[:16]}), {result.date}",
            "authors": ["visiondata audit"],
            "year": int(result.date[:4]),
            "venue": result.tool,
        }
        merge_figures(args.update_card, figures, citation=CITATION_KEY, reference=reference)
        print(f"merged {len(figures)} computed figures into {args.update_card}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(audit_json(result), indent=1, default=str))
    else:
        print(render_text(result))
    return 0


def cmd_namethat(args: argparse.Namespace) -> int:
    import datetime

    import yaml

    from ..audit.audit import tool_version
    from ..audit.namethat import name_that_dataset
    from ..shards.manifest import ManifestError

    for src in args.sources:
        if not (src / "manifest.json").is_file():
            raise UsageError(f"{src}: no manifest.json (expected a converted shard set)")
    try:
        result = name_that_dataset(
            args.sources, per_source=args.per_source, seed=args.seed, splits=args.split
        )
    except (ValueError, ManifestError) as exc:
        raise UsageError(str(exc)) from None
    record = result.figure_record(tool_version(), datetime.date.today().isoformat())
    print(result.render())
    print("\nseparability figure (for the cards involved):")
    print(yaml.safe_dump([record], sort_keys=False, allow_unicode=True, width=100), end="")
    if args.json:
        from dataclasses import asdict

        args.json.write_text(json.dumps({**asdict(result), "figure": record}, indent=2))
    return 0
