"""``visiondata fairness``, ``visiondata namethat`` and ``visiondata audit``.

Heavy imports (pandas, fairlearn, torch) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from visiondata.registry.cli.args import (
    CARD,
    CARD_FILE,
    OUTPUT_DIR,
    OUTPUT_FILE,
    SHARD_SET,
    TEXT,
    Kind,
    add_command,
    add_format,
    count,
    input_file,
)
from visiondata.registry.cli.output import print_json, progress_enabled
from visiondata.registry.errors import UsageError
from visiondata.registry.extras import require

from .engine import add_engine_arguments, engine_from

__all__ = ["register"]

COLUMN = Kind("column", "a column of PREDICTIONS", example="label")
LABEL = Kind("label", "a label present in the label or prediction column", example="cat")
SPLIT = Kind("split", "a split of the shard set (see `visiondata shards info`)", example="train")
PREDICTIONS = input_file(
    "a CSV or Parquet file of predictions, one row per prediction",
    example="@predictions",
    content="table",
)

#: ``fairness --format json``.
FAIRNESS_SHAPE = (
    "{label, pred, groups, n, overall_accuracy, positive, min_group, largest_gap, notes, "
    "rows: [{by, group, n, accuracy, ...}]}"
)
#: ``audit --format json``: the report written to audit.json.
AUDIT_SHAPE = "the audit.json report: {tool, date, manifest_sha256, splits, figures, ...}"
#: ``namethat --format json``.
NAMETHAT_SHAPE = (
    "{sources, names, sampled, unreadable, n_train, n_test, accuracy, chance, confusion, "
    "seed, per_source, notes, figure}"
)


def register(groups: Any) -> None:
    p = add_command(
        groups,
        "fairness",
        "per-subgroup accuracy, gaps and parity of a model's predictions (Fairlearn)",
        cmd_fairness,
        description="Evaluate predictions per group and per intersection of groups.",
    )
    p.add_argument(
        "predictions", type=PREDICTIONS, help="CSV or Parquet file, one row per prediction"
    )
    p.add_argument("--label", required=True, type=COLUMN, help="column with the true label")
    p.add_argument("--pred", required=True, type=COLUMN, help="column with the predicted label")
    p.add_argument(
        "--group",
        action="append",
        required=True,
        type=COLUMN,
        help="subgroup column (repeat for intersections)",
    )
    p.add_argument(
        "--positive",
        type=LABEL,
        help="positive class for parity metrics (default: the larger of two labels)",
    )
    p.add_argument(
        "--min-group", type=count(1), default=30, help="flag groups smaller than this (default 30)"
    )
    add_format(p, shape=FAIRNESS_SHAPE)
    p.add_argument("--json", type=OUTPUT_FILE, help="also save the report as JSON here")
    p.add_argument(
        "--plot",
        type=OUTPUT_FILE,
        help="also draw accuracy per intersectional group (.png or .svg)",
    )

    a = add_command(
        groups,
        "audit",
        "coverage, balance, duplicates, leakage and subgroup figures of a shard set",
        cmd_audit,
        description="Stream a shard set once and compute its figures (provenance: computed).",
    )
    a.add_argument("source", type=SHARD_SET, help="folder with manifest.json and the shards")
    a.add_argument(
        "--card", type=CARD, help="card id the figures belong to (default: the manifest's)"
    )
    a.add_argument(
        "--split",
        action="append",
        type=SPLIT,
        help="split to audit (repeatable; default: every split)",
    )
    a.add_argument(
        "--report", type=OUTPUT_DIR, metavar="DIR", help="write audit.json and audit.html"
    )
    a.add_argument(
        "--update-card", type=CARD_FILE, metavar="CARDFILE", help="merge the figures into this card"
    )
    a.add_argument("--workers", type=count(1), default=1, help="worker processes (default 1)")
    a.add_argument(
        "--threshold",
        type=count(0, "bits, at most 63"),
        default=10,
        help="near duplicate: pHash Hamming distance in bits, of 64 (default 10)",
    )
    a.add_argument(
        "--reference",
        type=SPLIT,
        help="split that leakage is measured into (default train, when there is one)",
    )
    a.add_argument(
        "--attribute",
        action="append",
        type=TEXT,
        help="extra categorical attribute field of the json member (repeatable)",
    )
    add_format(a, shape=AUDIT_SHAPE)
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_engine_arguments(a)

    n = add_command(
        groups,
        "namethat",
        '"Name That Dataset": how well a classifier tells shard sets apart',
        cmd_namethat,
        description="Sample images from each source, train a classifier to name the source, "
        "and report held-out accuracy against chance (a separability figure).",
    )
    n.add_argument("sources", type=SHARD_SET, nargs="+", metavar="SOURCE", help="shard set folders")
    n.add_argument(
        "--per-source", type=count(5), default=200, help="images per source (default 200)"
    )
    n.add_argument("--seed", type=count(0), default=0, help="sampling and split seed (default 0)")
    n.add_argument(
        "--split", action="append", type=SPLIT, help="sample only these splits (repeatable)"
    )
    n.add_argument("--json", type=OUTPUT_FILE, help="also save the result as JSON here")
    add_format(n, ("text", "json"), shape=NAMETHAT_SHAPE)


def _splits_of(source: Path) -> list[str]:
    from ..shards.manifest import read_manifest

    return list(read_manifest(source).splits)


def _check_splits(option: str, wanted: list[str] | None, sources: list[Path]) -> None:
    """Each split in ``wanted`` must be in at least one of ``sources``."""
    if not wanted:
        return
    known = sorted({s for src in sources for s in _splits_of(src)})
    for split in wanted:
        if split not in known:
            raise UsageError(
                f"{option} {split}: no such split in {', '.join(map(str, sources))} "
                f"(expected one of: {', '.join(known)})"
            )


def _read_predictions(path: Path) -> Any:
    from ..audit.fairness import read_predictions

    try:
        return read_predictions(path)
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path}: byte at offset {exc.start} is not UTF-8 (expected a CSV file in UTF-8)"
        ) from None
    except ValueError as exc:  # pandas' parser errors, a suffix that is neither csv nor parquet
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(text if text.startswith(str(path)) else f"{path}: {text}") from None


def _check_columns(args: argparse.Namespace, df: Any) -> None:
    have = [str(c) for c in df.columns]
    for option, names in (
        ("--label", [args.label]),
        ("--pred", [args.pred]),
        ("--group", args.group),
    ):
        for name in names:
            if name not in have:
                raise UsageError(
                    f"{option} {name}: not a column of {args.predictions} "
                    f"(expected one of: {', '.join(have)})"
                )
    if args.positive is not None:
        labels = sorted(
            set(df[args.label].dropna().astype(str)) | set(df[args.pred].dropna().astype(str))
        )
        if args.positive not in labels:
            shown = ", ".join(labels[:20]) + (", ..." if len(labels) > 20 else "")
            raise UsageError(
                f"--positive {args.positive}: not a label in {args.predictions} "
                f"(expected one of: {shown})"
            )


def cmd_fairness(args: argparse.Namespace) -> int:
    require("fairness", "pandas", "fairlearn", "sklearn", "scipy")
    from ..audit.fairness import fairness_report, plot_report

    if args.plot is not None and args.plot.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot {args.plot}: expected a file ending in .png or .svg")
    df = _read_predictions(args.predictions)
    _check_columns(args, df)
    try:
        report = fairness_report(
            df, args.label, args.pred, args.group, positive=args.positive, min_group=args.min_group
        )
    except ValueError as exc:  # about the rows of the file: name it
        raise UsageError(f"{args.predictions}: {exc}") from None
    data = report.to_json()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2))
    if args.plot:
        plot_report(report, args.plot)
    if args.format == "json":
        print_json(data)
    else:
        print(report.render())
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    require("audit", "PIL", "numpy", "sklearn")
    from ..audit.annotations import ATTRIBUTE_AXES
    from ..audit.audit import AuditOptions, run_audit
    from ..audit.phash import DEFAULT_BANDS, max_threshold

    engine = engine_from(args, "audit")

    source = Path(args.source)
    if args.card is not None:
        from visiondata.registry import store

        args.card = store.get_card(args.card).id  # an unknown card is refused before the audit
    if not 0 <= args.threshold < 64:
        raise UsageError(f"--threshold {args.threshold}: expected 0..63 bits (of a 64-bit pHash)")
    widest = max_threshold(DEFAULT_BANDS)
    if args.threshold > widest:  # the index's own message names its bands, not an option here
        raise UsageError(
            f"--threshold {args.threshold}: expected 0..{widest} bits (a wider threshold needs "
            "more near-duplicate index probes per query than the audit allows)"
        )
    _check_splits("--split", args.split, [source])
    _check_splits("--reference", [args.reference] if args.reference else None, [source])
    try:
        opts = AuditOptions(
            splits=tuple(args.split) if args.split else None,
            workers=args.workers,
            threshold=args.threshold,
            reference=args.reference or "train",
            attributes=tuple(ATTRIBUTE_AXES) + tuple(a.lower() for a in args.attribute or ()),
            progress=progress_enabled(not args.no_progress),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    result = run_audit(source, opts, engine=engine)
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
                f"--update-card {args.update_card}: the card {args.update_card.stem!r}, but the "
                f"shards are for {card_id!r} (expected that card; --card "
                f"{args.update_card.stem} merges anyway)"
            )
        figures = audit_figures(result)
        reference = {
            "title": f"visiondata audit of the {card_id or source.name} shards "
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
    require("namethat", "PIL", "numpy", "sklearn")
    import datetime
    from dataclasses import asdict

    import yaml

    from ..audit.audit import tool_version
    from ..audit.namethat import name_that_dataset

    sources = [Path(s) for s in args.sources]
    if len(sources) < 2:
        raise UsageError(
            f"{args.sources[0]}: one source (expected at least 2 shard sets to tell apart)"
        )
    _check_splits("--split", args.split, sources)
    try:
        result = name_that_dataset(
            sources, per_source=args.per_source, seed=args.seed, splits=args.split
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    record = result.figure_record(tool_version(), datetime.date.today().isoformat())
    data = {**asdict(result), "figure": record}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2))
    if args.format == "json":
        print_json(data)
        return 0
    print(result.render())
    print("\nseparability figure (for the cards involved):")
    print(yaml.safe_dump([record], sort_keys=False, allow_unicode=True, width=100), end="")
    return 0
