"""``visiondata cards ...``: list, show, validate, new, schema, vocab."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import store
from ..errors import UsageError
from ..vocab import VOCABULARIES, render_markdown
from .args import (
    CARD,
    CARD_PATHS,
    NEW_ID,
    OUTPUT_DIR,
    TEXT,
    add_command,
    add_format,
    add_group,
    term,
)
from .output import print_json, render

if TYPE_CHECKING:
    from ..schema import Card

__all__ = ["card_json_schema", "register"]


def register(groups: Any) -> None:
    sub = add_group(groups, "cards", "query, show and validate dataset cards")

    p = add_command(sub, "list", "list the dataset cards", cmd_list)
    p.add_argument(
        "pattern", nargs="?", type=TEXT, help="fnmatch pattern on id or alias, e.g. 'coco*'"
    )
    p.add_argument("--task", type=term("task", VOCABULARIES["task"]), help="only this task")
    p.add_argument(
        "--modality", type=term("modality", VOCABULARIES["modality"]), help="only this modality"
    )
    add_format(p, ("table", "json", "csv"), shape=LIST_SHAPE)

    p = add_command(sub, "show", "show one card (YAML: the card file as written)", cmd_show)
    p.add_argument("name", type=CARD, help="card id or alias (case-insensitive)")
    add_format(p, ("yaml", "json"), shape="the card's fields under the schema's names")

    p = add_command(sub, "validate", "validate card files; exit 1 if any is invalid", cmd_validate)
    p.add_argument(
        "paths",
        nargs="*",
        type=CARD_PATHS,
        help="card files or directories (default: shipped cards and VISIONDATA_CARDS_PATH)",
    )
    add_format(p, ("text", "json"), shape=VALIDATE_SHAPE)

    p = add_command(sub, "new", "write a card scaffold with TODO markers", cmd_new)
    p.add_argument("id", type=NEW_ID, help="the new card's id, e.g. my-dataset-2024")
    p.add_argument(
        "--dir",
        type=OUTPUT_DIR,
        default=None,
        help="where to write (default: ./cards if present, else .)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing file")

    add_command(sub, "schema", "print the card JSON Schema", cmd_schema)

    p = add_command(sub, "vocab", "print the controlled vocabularies", cmd_vocab)
    add_format(p, ("markdown", "json"), shape="{vocabulary: {term: description}}")

    from . import catalogue, site

    catalogue.register_into(sub)
    site.register_into(sub)


#: ``cards list --format json``: one object per card.
LIST_SHAPE = (
    "[{id, name, year, tasks, modalities, status, total_examples, figures}], "
    "figures being the number of figures"
)
#: ``cards validate --format json``.
VALIDATE_SHAPE = (
    "{checked, valid, invalid, problems: [{file, line, path, message}]}, problems in file order"
)


def card_dict(card: Card) -> dict[str, Any]:
    """A card as plain JSON-able data under the schema's field names."""
    data: dict[str, Any] = card.model_dump(mode="json", exclude_none=True, by_alias=True)
    return data


def cmd_list(args: argparse.Namespace) -> int:
    rows = store.list_rows(args.pattern, task=args.task, modality=args.modality)
    if args.format == "json":
        print_json(rows)
        return 0
    header = ("id", "year", "status", "examples", "figures", "editions", "tasks")
    table: list[tuple[Any, ...]] = [
        (
            r["id"],
            r["year"],
            r["status"],
            r["total_examples"],
            r["figures"],
            r["editions"],
            r["tasks"],
        )
        for r in rows
    ]
    if args.format == "table":
        table = [
            (i, str(y), st, f"{n:,}", str(f), ", ".join(e) or "-", ", ".join(t))
            for i, y, st, n, f, e, t in table
        ]
    print(render(header, table, args.format))
    print(f"{len(rows)} card(s)", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    if args.format == "json":
        print_json(card_dict(store.get_card(args.name)))
        return 0
    # the card as its file holds it: comments, block scalars and key order kept
    text = store.card_path(args.name).read_text(encoding="utf-8")
    print(text, end="" if text.endswith("\n") else "\n")
    print(_computed_comments(store.get_card(args.name)), end="")
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
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    return files


def _where(path: Path) -> Path:
    """The file ``path`` names, for telling the same card file apart from another: resolved,
    or as given when it cannot be (a symlink loop: reported as the file's problem later)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a loop, before Python 3.13
        return path.absolute()


def cmd_validate(args: argparse.Namespace) -> int:
    from ..validate import card_editions, validate_cards

    default_files = list(store.card_files())
    files = _expand(args.paths) if args.paths else default_files
    given = {_where(f) for f in files}
    # derived_from, pooled_with and transfer targets may name any card of the catalogue, not
    # only the files given; a transfer's target_edition must be one of that card's editions.
    others = [card_editions(f) for f in default_files if _where(f) not in given]
    known = dict(x for x in others if x is not None)
    problems = validate_cards(files, known_editions=known)
    bad = len({p.file for p in problems})
    if args.format == "json":
        print_json(
            {
                "checked": len(files),
                "valid": len(files) - bad,
                "invalid": bad,
                "problems": [
                    {"file": p.file, "line": p.line, "path": p.path, "message": p.message}
                    for p in problems
                ],
            }
        )
    else:
        for problem in problems:
            print(problem)
    what = ", ".join(str(p) for p in args.paths) if args.paths else "the catalogue"
    summary = (
        f"{len(files)} card(s) checked: {len(files) - bad} valid, {bad} invalid, "
        f"{len(problems)} problem(s)"
    )
    print(f"visiondata: cards validate: {what}: {summary}", file=sys.stderr)
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
        raise UsageError(f"{path}: already exists (expected a new file; --force overwrites it)")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(path)
    return 0


def card_json_schema() -> dict[str, Any]:
    from ..schema import Card

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
