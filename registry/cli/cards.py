"""``visiondata cards ...``: list, show, validate, new, schema, vocab."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .. import store
from ..errors import UsageError
from ..schema import Card
from ..vocab import VOCABULARIES, render_markdown

__all__ = ["card_json_schema", "register"]


def _add(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help)
    return parser


def register(groups: Any) -> None:
    cards = groups.add_parser("cards", help="query, show and validate dataset cards")
    sub = cards.add_subparsers(dest="command", metavar="COMMAND", parser_class=type(cards))
    sub.required = True

    p = _add(sub, "list", "list the dataset cards")
    p.add_argument("pattern", nargs="?", help="fnmatch pattern on id or alias, e.g. 'coco*'")
    p.add_argument("--task", help="only cards with this task")
    p.add_argument("--modality", help="only cards with this modality")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_list)

    p = _add(sub, "show", "show one card")
    p.add_argument("name", help="card id or alias (case-insensitive)")
    p.add_argument("--format", choices=["yaml", "json"], default="yaml")
    p.set_defaults(func=cmd_show)

    p = _add(sub, "validate", "validate card files; exit 1 if any is invalid")
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="card files or directories (default: shipped cards and VISIONDATA_CARDS_PATH)",
    )
    p.set_defaults(func=cmd_validate)

    p = _add(sub, "new", "write a card scaffold with TODO markers")
    p.add_argument("id", help="the new card's id, e.g. my-dataset-2024")
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to write (default: ./cards if present, else .)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_new)

    p = _add(sub, "schema", "print the card JSON Schema")
    p.set_defaults(func=cmd_schema)

    p = _add(sub, "vocab", "print the controlled vocabularies")
    p.add_argument("--format", choices=["markdown", "json"], default="markdown")
    p.set_defaults(func=cmd_vocab)

    from . import catalogue, site

    catalogue.register_into(sub)
    site.register_into(sub)


def _check_term(vocabulary: str, value: str | None) -> None:
    if value is not None and value not in VOCABULARIES[vocabulary]:
        valid = ", ".join(VOCABULARIES[vocabulary])
        raise UsageError(f"unknown {vocabulary} {value!r} (expected one of: {valid})")


def card_dict(card: Card) -> dict[str, Any]:
    """A card as plain JSON-able data under the schema's field names."""
    data: dict[str, Any] = card.model_dump(mode="json", exclude_none=True, by_alias=True)
    return data


def cmd_list(args: argparse.Namespace) -> int:
    _check_term("task", args.task)
    _check_term("modality", args.modality)
    cards = store.list_cards(args.pattern, task=args.task, modality=args.modality)
    if args.format == "json":
        rows = [
            {
                "id": c.id,
                "name": c.name,
                "year": c.year,
                "tasks": c.tasks,
                "modalities": c.modalities,
                "status": c.status.state,
                "total_examples": c.total_examples,
                "figures": len(c.figures),
                "transfers": len(c.transfers),
                "editions": [e.id for e in c.editions],
            }
            for c in cards
        ]
        print(json.dumps(rows, indent=2))
        return 0
    header = ("id", "year", "status", "examples", "figures", "editions", "tasks")
    rows_t = [
        (
            c.id,
            str(c.year),
            c.status.state,
            f"{c.total_examples:,}",
            str(len(c.figures)),
            ", ".join(e.id for e in c.editions) or "-",
            ", ".join(c.tasks),
        )
        for c in cards
    ]
    widths = [max([len(h), *(len(r[i]) for r in rows_t)]) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for r in rows_t:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    print(f"{len(cards)} card(s)", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    card = store.get_card(args.name)
    data = card_dict(card)
    if args.format == "json":
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), end="")
        print(_computed_comments(card), end="")
    return 0


def _computed_comments(card: Card) -> str:
    """YAML comments with the editions and the computed verification of derived figures."""
    lines = [
        f"# edition {e.id}: {e.name}" + (f" ({e.year})" if e.year else "") for e in card.editions
    ]
    for f in card.figures:
        if f.derivation is not None:
            v = card.verification_of(f)
            lines.append(f"# {f.id}: verification {v.status} ({v.note})")
    return "".join(f"{line}\n" for line in lines)


def _expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(p.glob("*.yaml"))
        elif p.exists():
            files.append(p)
        else:
            raise UsageError(f"no such file or directory: {p}")
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from ..validate import card_editions, validate_cards

    default_files = list(store.card_files())
    files = _expand(args.paths) if args.paths else default_files
    given = {f.resolve() for f in files}
    # derived_from, pooled_with and transfer targets may name any card of the catalogue, not
    # only the files given; a transfer's target_edition must be one of that card's editions.
    others = [card_editions(f) for f in default_files if f.resolve() not in given]
    known = dict(x for x in others if x is not None)
    problems = validate_cards(files, known_editions=known)
    for problem in problems:
        print(problem)
    bad = len({p.file for p in problems})
    print(
        f"{len(files)} card(s) checked: {len(files) - bad} valid, {bad} invalid, {len(problems)} problem(s)",
        file=sys.stderr,
    )
    return 1 if problems else 0


def cmd_new(args: argparse.Namespace) -> int:
    from ..scaffold import scaffold

    folder = (
        args.dir
        if args.dir is not None
        else (Path("cards") if Path("cards").is_dir() else Path("."))
    )
    path = folder / f"{args.id}.yaml"
    try:
        text = scaffold(args.id, str(path))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists (use --force to overwrite)")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(path)
    return 0


def card_json_schema() -> dict[str, Any]:
    schema = Card.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(card_json_schema(), indent=2))
    return 0


def cmd_vocab(args: argparse.Namespace) -> int:
    if args.format == "json":
        print(json.dumps({k: dict(v) for k, v in VOCABULARIES.items()}, indent=2))
    else:
        print(render_markdown(), end="")
    return 0
