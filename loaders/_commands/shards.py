"""``visiondata convert FORMAT SRC OUT`` and ``visiondata shards verify|info|index``.

Imports stay light at module level (argparse only): the converters, PIL, PyAV and tqdm are
imported inside the handlers, so ``visiondata cards ...`` starts fast without the extra.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path
from typing import Any

from visiondata.registry.cli.args import (
    CARD,
    OUTPUT_DIR,
    SHARD_SET,
    SHARD_SOURCE,
    TEXT,
    Kind,
    add_format,
    add_group,
    count,
    input_path,
)
from visiondata.registry.cli.args import add_command as _add
from visiondata.registry.cli.output import (
    human_size,
    print_json,
    progress_bar,
    progress_enabled,
    text_table,
)
from visiondata.registry.errors import MissingExtraError, UsageError
from visiondata.registry.extras import require_protocol

from .engine import add_engine_arguments, engine_from

__all__ = ["register"]

#: Kept in step with ``convert.run.FORMATS`` by a test; listed here so ``--help`` needs no import.
FORMAT_NAMES = ("imagefolder", "coco", "voc", "cityscapes", "video", "hf", "list")
#: What each format needs beyond the base package: (module, extra).
_FORMAT_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    **{f: (("PIL", "loaders"),) for f in FORMAT_NAMES},
    "video": (("PIL", "loaders"), ("av", "loaders")),
    "hf": (("PIL", "loaders"), ("datasets", "hf")),
}

#: ``convert --format json``.
CONVERT_SHAPE = (
    "{out, split, manifest, samples, shards, bytes, written, kept, seconds, "
    "skipped: [{item, reason}]}"
)
#: ``shards info --format json``.
VERIFY_SHAPE = (
    "{source, ok, shards, samples, bytes, seconds, errors, warnings, findings: [{message, kind, "
    "severity, split, shard, key, offset}]}"
)
#: ``shards index --format json``.
INDEX_SHAPE = (
    "{manifest, split, base, samples, shards, bytes, seconds, "
    "refused: [{shard, key, offset, reason}]}"
)
INFO_SHAPE = (
    "{card, converter: {name, version}, fields: {ext: meaning}, classes, "
    "splits: {name: {samples, shards, bytes, skipped, class_counts}}}"
)
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


def _check_split_name(value: str, kind: Kind) -> str:
    if not _SPLIT_NAME.match(value):
        raise kind.refuse(value, "not a split name")
    return value


def _check_size(value: str, kind: Kind) -> str:
    if not re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?\s*([kKmMgGtT]i?[bB]?|[bB])?\s*", value):
        raise kind.refuse(value, "not a size")
    if float(re.sub(r"[^0-9.]", "", value)) <= 0:
        raise kind.refuse(value, "not a positive size")
    return value


SPLIT_NAME = Kind("split-name", "letters, digits, '_' and '-'", _check_split_name, "train")
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def _check_tars(value: str, kind: Kind) -> str:
    """A folder or shard that exists, a brace pattern or glob (expanded by the command), or a
    URL (the extra its scheme needs installed)."""
    if "://" in value and not value.startswith("file://"):
        require_protocol(value)
        return value
    if any(c in value for c in "{*?["):
        return value
    path = Path(value.removeprefix("file://"))
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists()
    except OSError as exc:
        raise kind.refuse(value, exc.strerror or "cannot be read") from None
    if not exists:
        raise kind.refuse(value, "no such file or folder")
    if not is_dir and not (path.is_file() and value.endswith(_TAR_SUFFIXES)):
        raise kind.refuse(value, "not a folder or a .tar, .tar.gz or .tgz shard")
    return value


TARS = Kind(
    "input-path",
    "a folder of WebDataset .tar shards, a brace pattern or glob, or a URL "
    "(https://, s3://, hf://datasets/ORG/NAME/...)",
    _check_tars,
    "@shards",
)


def _check_out(value: str, kind: Kind) -> str:
    """A folder to write into, or a URL (the extra its scheme needs installed)."""
    if "://" in value and not value.startswith("file://"):
        require_protocol(value)
        return value
    check = OUTPUT_DIR.check
    return value if check is None else check(value, kind)


CONVERT_OUT = Kind(
    "output-dir",
    "a folder to write into, or a URL fsspec writes to (s3://bucket/set)",
    _check_out,
    "@new-dir",
)
SIZE = Kind("number", "a size such as 1GB, 256MB, 64MiB or a byte count", _check_size, "1MB")


def register(groups: Any) -> None:
    p = _add(groups, "convert", "convert a dataset into WebDataset shards and a manifest")
    p.set_defaults(func=cmd_convert)
    p.add_argument(
        "format", choices=FORMAT_NAMES, metavar="FORMAT", help=f"one of: {', '.join(FORMAT_NAMES)}"
    )
    p.add_argument(
        "src",
        metavar="SRC",
        type=input_path(
            "the dataset as downloaded: a folder (a CSV or JSONL file for 'list')",
            example="@imagefolder",
        ),
        help="the dataset as downloaded (a folder; a file for 'list')",
    )
    p.add_argument(
        "out",
        metavar="OUT",
        type=CONVERT_OUT,
        help="output folder for shards and manifest.json, or a URL (s3://bucket/set)",
    )
    p.add_argument(
        "--split",
        type=SPLIT_NAME,
        help="split name (default per format: train, or the one split found)",
    )
    p.add_argument("--card", type=CARD, help="dataset card id to record in the manifest")
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--shard-size", type=SIZE, help="target shard size, e.g. 1GB, 256MB (default 1GB)"
    )
    size.add_argument("--samples-per-shard", type=count(1), metavar="N", help="samples per shard")
    p.add_argument(
        "--workers", type=count(1), default=1, metavar="N", help="worker processes (default 1)"
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
        type=count(1),
        metavar="PX",
        help="re-encode images whose longest side exceeds PX (default: copy bytes unchanged)",
    )
    _add_storage_option(
        p,
        "with OUT at a URL: an fsspec storage option (endpoint_url=..., key=..., "
        "secret=...); repeatable",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_engine_arguments(p)
    # FORMAT (the positional) is the input layout, so the output format has its own dest
    add_format(p, ("text", "json"), shape=CONVERT_SHAPE, dest="output_format")

    sub = add_group(
        groups, "shards", "check, describe and index shard sets (converted or found elsewhere)"
    )
    v = _add(
        sub,
        "verify",
        "check every shard's checksum, count and samples; exit 1 naming what is wrong",
    )
    v.add_argument(
        "out",
        metavar="SOURCE",
        type=SHARD_SOURCE,
        help="a folder or URL holding manifest.json, or the manifest",
    )
    v.add_argument(
        "--deep", action="store_true", help="also decode every image and open every video"
    )
    v.add_argument("--workers", type=count(1), default=1, metavar="N", help="processes (default 1)")
    add_format(v, shape=VERIFY_SHAPE)
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.add_argument(
        "--max-member-bytes",
        type=count(1),
        metavar="N",
        help="refuse members larger than N bytes (default: the loader's, 1 GiB)",
    )
    v.add_argument(
        "--max-pixels",
        type=count(1),
        metavar="N",
        help="refuse images above N pixels (default: the loader's, Pillow's limit)",
    )
    v.add_argument(
        "--allow-external-shards",
        action="store_true",
        help="let the manifest name shards outside its own folder",
    )
    _add_storage_option(
        v,
        "with SOURCE at a URL: an fsspec storage option (endpoint_url=..., anon=true); repeatable",
    )
    add_engine_arguments(v)
    v.set_defaults(func=cmd_verify)
    i = _add(sub, "info", "show counts, sizes and classes of a shard set", cmd_info)
    i.add_argument("out", metavar="OUT", type=SHARD_SET)
    add_format(i, shape=INFO_SHAPE)
    _register_index(sub)


def _register_index(sub: Any) -> None:
    x = _add(
        sub,
        "index",
        "write manifest.json (offsets, sizes, sha256, keys, fields) for WebDataset tars "
        "visiondata did not write",
        cmd_index,
    )
    x.add_argument("source", metavar="SOURCE", type=TARS, help=TARS.expected)
    x.add_argument(
        "--output",
        type=OUTPUT_DIR,
        metavar="DIR",
        help="where to write manifest.json (default: beside the shards, when that folder is "
        "local and writable); the manifest then records the shards' folder as its base",
    )
    x.add_argument("--split", type=SPLIT_NAME, default="train", help="split name (default train)")
    x.add_argument("--card", type=CARD, help="dataset card id to record in the manifest")
    x.add_argument(
        "--workers", type=count(1), default=4, metavar="N", help="shards read at once (default 4)"
    )
    x.add_argument(
        "--max-member-bytes",
        type=count(1),
        metavar="N",
        help="refuse members larger than N bytes (default: the loader's, 1 GiB)",
    )
    _add_storage_option(
        x,
        "an fsspec storage option (endpoint_url=..., anon=true); repeatable",
    )
    x.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_engine_arguments(x)
    add_format(x, ("text", "json"), shape=INDEX_SHAPE)


def _need_extra(needs: tuple[tuple[str, str], ...] = (("PIL", "loaders"),), what: str = "") -> None:
    for module, extra in needs:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtraError(module, extra, what or "the converters") from None


def cmd_convert(args: argparse.Namespace) -> int:
    _need_extra(_FORMAT_NEEDS[args.format], f"convert {args.format}")
    engine = engine_from(args, "convert")
    from ..convert import convert

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
        progress=progress_enabled(not args.no_progress),
        engine=engine,
        storage_options=_storage_options(args.storage_option) or None,
    )
    if args.output_format == "json":
        print_json(_convert_json(result))
    else:
        print(result.summary())
    return 0


def _convert_json(result: Any) -> dict[str, Any]:
    """``convert --format json`` (:data:`CONVERT_SHAPE`)."""
    info = result.split_info
    return {
        "out": str(result.out),
        "split": result.split,
        "manifest": str(result.out / "manifest.json"),
        "samples": info.num_samples,
        "shards": len(info.shards),
        "bytes": sum(s.bytes for s in info.shards),
        "written": result.written_shards,
        "kept": result.kept_shards,
        "seconds": round(result.seconds, 3),
        "skipped": [{"item": s.item, "reason": s.reason} for s in result.skipped],
    }


class _ShardBar:
    """The per-shard progress bar of ``shards verify`` and ``shards index``: made at the first
    report (when the number of shards is known), closed on leaving the ``with``."""

    def __init__(self, verb: str, show: bool) -> None:
        self.verb, self.show = verb, show
        self.bar: Any = None
        self.made = False

    def update(self, done: int, total: int) -> None:
        if not self.made:
            self.bar, self.made = progress_bar(total, self.verb, "shard", self.show), True
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def __enter__(self) -> _ShardBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _limits(args: argparse.Namespace, max_pixels: int | None) -> Any:
    """The member limits from ``--max-member-bytes`` (and ``max_pixels``), else the loader's."""
    from ..shards.members import DEFAULT_LIMITS, Limits

    return Limits(
        max_member_bytes=args.max_member_bytes or DEFAULT_LIMITS.max_member_bytes,
        max_pixels=max_pixels or DEFAULT_LIMITS.max_pixels,
    )


def cmd_verify(args: argparse.Namespace) -> int:
    _need_extra()
    engine = engine_from(args, "shards verify")
    from ..shards.remote import RemoteOptions
    from ..shards.verify import verify

    with _ShardBar("verify", not args.no_progress) as bar:
        report = verify(
            args.out,
            deep=args.deep,
            limits=_limits(args, args.max_pixels),
            workers=args.workers,
            progress=lambda done, total, _read: bar.update(done, total),
            opts=RemoteOptions(storage_options=_storage_options(args.storage_option)),
            allow_external_shards=args.allow_external_shards,
            engine=engine,
        )
    if args.format == "json":
        print_json(report.to_dict())
        return 0 if report.ok else 1
    for finding in report.findings:
        print(finding, file=sys.stderr)
    rate = report.bytes / 1e6 / report.seconds if report.seconds > 0 else 0.0
    totals = (
        f"{report.shards} shard(s), {report.samples:,} sample(s), {human_size(report.bytes)} "
        f"in {report.seconds:.1f} s ({rate:.0f} MB/s)"
    )
    if not report.ok:
        print(f"{args.out}: {len(report.errors)} problem(s); {totals}", file=sys.stderr)
        return 1
    warned = len(report.findings)
    print(f"{args.out}: ok" + (f" with {warned} warning(s)" if warned else "") + f"; {totals}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from ..shards.verify import info

    data = info(args.out)
    if args.format == "json":
        print_json(data)
        return 0
    conv = data["converter"]
    print(f"card: {data['card'] or '-'}    converter: {conv['name']} {conv['version']}")
    print("fields: " + ", ".join(data["fields"]))
    classes = data["classes"]
    print(f"classes: {len(classes) if classes is not None else '-'}")
    header = ("split", "samples", "shards", "bytes", "skipped")
    rows = [
        (name, f"{s['samples']:,}", str(s["shards"]), human_size(s["bytes"]), str(s["skipped"]))
        for name, s in data["splits"].items()
    ]
    print(text_table(header, rows))
    for name, s in data["splits"].items():
        if s["class_counts"]:
            top = sorted(s["class_counts"].items(), key=lambda kv: (-kv[1], kv[0]))
            shown = ", ".join(f"{k} {v}" for k, v in top[:10])
            more = f", ... ({len(top) - 10} more)" if len(top) > 10 else ""
            print(f"{name} class counts: {shown}{more}")
    return 0


def _storage_options(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--storage-option {pair!r}: expected KEY=VALUE")
        out[key] = {"true": True, "false": False}.get(value.lower(), value)
    return out


def _add_storage_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--storage-option KEY=VALUE`` (repeatable), read by :func:`_storage_options`."""
    parser.add_argument(
        "--storage-option",
        type=TEXT,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help_text,
    )


def cmd_index(args: argparse.Namespace) -> int:
    _need_extra(what="shards index")
    engine = engine_from(args, "shards index")
    from visiondata.registry import get_card

    from ..shards.index import index_set
    from ..shards.remote import RemoteOptions

    card = None if args.card is None else get_card(args.card).id
    opts = RemoteOptions(storage_options=_storage_options(args.storage_option))
    with _ShardBar("index", not args.no_progress) as bar:
        result = index_set(
            args.source,
            args.output,
            split=args.split,
            card=card,
            workers=args.workers,
            limits=_limits(args, None),
            opts=opts,
            progress=lambda _shard, done, total: bar.update(done, total),
            engine=engine,
        )
    if args.format == "json":
        print_json(_index_json(result))
        return 0
    for shard, key, offset, reason in result.problems[:20]:
        print(f"{shard}: sample {key!r} at byte {offset}: {reason}", file=sys.stderr)
    if len(result.problems) > 20:
        print(f"... and {len(result.problems) - 20} more", file=sys.stderr)
    print(result.summary())
    return 0


def _index_json(result: Any) -> dict[str, Any]:
    """``shards index --format json`` (:data:`INDEX_SHAPE`)."""
    return {
        "manifest": str(result.path),
        "split": result.split,
        "base": result.manifest.base,
        "samples": sum(len(s.keys) for s in result.shards),
        "shards": len(result.shards),
        "bytes": result.bytes,
        "seconds": round(result.seconds, 3),
        "refused": [
            {"shard": s, "key": k, "offset": o, "reason": r} for s, k, o, r in result.problems
        ],
    }
