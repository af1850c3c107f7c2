"""``visiondata convert FORMAT SRC OUT`` and ``visiondata shards verify|info OUT``.

Imports stay light at module level (argparse only): the converters, PIL, PyAV and tqdm are
imported inside the handlers, so ``visiondata cards ...`` starts fast without the extra.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from visiondata.registry.errors import UsageError

__all__ = ["register"]

#: Kept in step with ``convert.run.FORMATS`` by a test; listed here so ``--help`` needs no import.
FORMAT_NAMES = ("imagefolder", "coco", "voc", "cityscapes", "video", "hf", "list")
_EXTRA_MODULES = ("PIL", "tqdm")


def _add(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help)
    return parser


def register(groups: Any) -> None:
    p = _add(groups, "convert", "convert a dataset into WebDataset shards and a manifest")
    p.add_argument(
        "format", choices=FORMAT_NAMES, metavar="FORMAT", help=f"one of: {', '.join(FORMAT_NAMES)}"
    )
    p.add_argument(
        "src", metavar="SRC", help="the dataset as downloaded (a folder; a file for 'list')"
    )
    p.add_argument("out", metavar="OUT", help="output folder for shards and manifest.json")
    p.add_argument("--split", help="split name (default per format: train, or the one split found)")
    p.add_argument("--card", help="dataset card id to record in the manifest")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--shard-size", help="target shard size, e.g. 1GB, 256MB (default 1GB)")
    size.add_argument("--samples-per-shard", type=int, metavar="N", help="samples per shard")
    p.add_argument(
        "--workers", type=int, default=1, metavar="N", help="worker processes (default 1)"
    )
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="raise: stop at the first bad item (default); skip: skip and record it",
    )
    p.add_argument(
        "--verify",
        choices=("header", "decode", "none"),
        default="header",
        help="how far images are checked (default header)",
    )
    p.add_argument(
        "--max-size",
        type=int,
        metavar="PX",
        help="re-encode images whose longest side exceeds PX (default: copy bytes unchanged)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_convert)

    shards = groups.add_parser("shards", help="check and describe converted shard sets")
    sub = shards.add_subparsers(dest="command", metavar="COMMAND", parser_class=type(shards))
    sub.required = True
    v = _add(
        sub,
        "verify",
        "check every shard's checksum, count and samples; exit 1 naming what is wrong",
    )
    v.add_argument(
        "out", metavar="SOURCE", help="a folder or URL holding manifest.json, or the manifest"
    )
    v.add_argument(
        "--deep", action="store_true", help="also decode every image and open every video"
    )
    v.add_argument("--workers", type=int, default=1, metavar="N", help="processes (default 1)")
    v.add_argument("--format", choices=["table", "json"], default="table")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.add_argument(
        "--max-member-bytes",
        type=int,
        metavar="N",
        help="refuse members larger than N bytes (default: the loader's, 1 GiB)",
    )
    v.add_argument(
        "--max-pixels",
        type=int,
        metavar="N",
        help="refuse images above N pixels (default: the loader's, Pillow's limit)",
    )
    v.add_argument(
        "--allow-external-shards",
        action="store_true",
        help="let the manifest name shards outside its own folder",
    )
    v.set_defaults(func=cmd_verify)
    i = _add(sub, "info", "show counts, sizes and classes of a shard set")
    i.add_argument("out", metavar="OUT")
    i.add_argument("--format", choices=["table", "json"], default="table")
    i.set_defaults(func=cmd_info)


def _need_extra() -> None:
    for name in _EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            from visiondata.registry.errors import MissingExtraError

            raise MissingExtraError(name, "loaders", "the converters") from None


def cmd_convert(args: argparse.Namespace) -> int:
    _need_extra()
    from ..convert import ConversionError, convert

    try:
        result = convert(
            args.format,
            args.src,
            args.out,
            split=args.split,
            card=args.card,
            shard_size=args.shard_size,
            samples_per_shard=args.samples_per_shard,
            workers=args.workers,
            on_error=args.on_error,
            verify=args.verify,
            max_size=args.max_size,
            progress=not args.no_progress,
        )
    except ConversionError as exc:
        if exc.problems or type(exc) is not ConversionError:
            raise  # bad input: exit 1 with every item named
        raise UsageError(str(exc)) from None
    print(result.summary())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    _need_extra()
    from ..shards.members import DEFAULT_LIMITS, Limits
    from ..shards.verify import verify

    for name in ("workers", "max_member_bytes", "max_pixels"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} {value}: expected a number >= 1")
    limits = Limits(
        max_member_bytes=args.max_member_bytes or DEFAULT_LIMITS.max_member_bytes,
        max_pixels=args.max_pixels or DEFAULT_LIMITS.max_pixels,
    )
    bar = _progress_bar(args, "verify")
    try:
        report = verify(
            args.out,
            deep=args.deep,
            limits=limits,
            workers=args.workers,
            progress=None if bar is None else (lambda done, _read: bar.update(done - bar.n)),
            allow_external_shards=args.allow_external_shards,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return 0 if report.ok else 1
    for finding in report.findings:
        print(finding, file=sys.stderr)
    rate = report.bytes / 1e6 / report.seconds if report.seconds > 0 else 0.0
    totals = (
        f"{report.shards} shard(s), {report.samples:,} sample(s), {_human(report.bytes)} "
        f"in {report.seconds:.1f} s ({rate:.0f} MB/s)"
    )
    if not report.ok:
        print(f"{args.out}: {len(report.errors)} problem(s); {totals}", file=sys.stderr)
        return 1
    warned = len(report.findings)
    print(f"{args.out}: ok" + (f" with {warned} warning(s)" if warned else "") + f"; {totals}")
    return 0


def _progress_bar(args: argparse.Namespace, what: str) -> Any:
    """A tqdm bar on stderr when it is a terminal and not switched off, else ``None``."""
    if args.no_progress or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(desc=what, unit="shard", file=sys.stderr)


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def cmd_info(args: argparse.Namespace) -> int:
    from ..shards.verify import info

    data = info(args.out)
    if args.format == "json":
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    conv = data["converter"]
    print(f"card: {data['card'] or '-'}    converter: {conv['name']} {conv['version']}")
    print("fields: " + ", ".join(data["fields"]))
    classes = data["classes"]
    print(f"classes: {len(classes) if classes is not None else '-'}")
    header = ("split", "samples", "shards", "bytes", "skipped")
    rows = [
        (name, f"{s['samples']:,}", str(s["shards"]), _human(s["bytes"]), str(s["skipped"]))
        for name, s in data["splits"].items()
    ]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    for name, s in data["splits"].items():
        if s["class_counts"]:
            top = sorted(s["class_counts"].items(), key=lambda kv: (-kv[1], kv[0]))
            shown = ", ".join(f"{k} {v}" for k, v in top[:10])
            more = f", ... ({len(top) - 10} more)" if len(top) > 10 else ""
            print(f"{name} class counts: {shown}{more}")
    return 0
