"""Validate card files: every problem, each as ``FILE:LINE: field.path: message``."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from .checks import check_card, check_todo_markers
from .errors import Problem
from .schema import SCHEMA_VERSION, Card
from .yamlfile import LoadedYaml, Path, format_path, load_yaml, too_large

__all__ = ["ParsedCard", "card_editions", "parse_card_file", "parse_card_text", "validate_cards"]


@dataclass
class ParsedCard:
    file: str
    card: Card | None
    problems: list[Problem]
    loaded: LoadedYaml


def _fields_at(loc: Sequence[str | int]) -> list[str] | None:
    """The field names allowed at ``loc`` in the Card model (for 'unknown key' messages)."""
    tp: Any = Card
    for part in loc:
        tp = _strip_optional(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        else:
            return None
    tp = _strip_optional(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return None


def _strip_optional(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _strip_optional(args[0])
    return tp


def _message(err: Any) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "missing" and tuple(loc) == ("schema_version",):
        return f"required field is missing (add `schema_version: {SCHEMA_VERSION}` right after id)"
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
        return f"unknown key {loc[-1]!r}{hint}"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    got = err.get("input")
    if isinstance(got, dict | list):
        return f"{msg} (got a {type(got).__name__})"
    return f"{msg} (got {got!r})"


def _loc_path(loc: Sequence[Any]) -> Path:
    # pydantic appends markers such as '[key]' for dict-key errors, and function names for
    # union members; keep the real path.
    return tuple(
        p
        for p in loc
        if not (isinstance(p, str) and (p.startswith("[") or p.startswith("function-")))
    )


def _file_order(problem: Problem) -> tuple[str, int]:
    """Sort key: by file, then line; problems on one line keep the order they were found in
    (the order of the fields in the file)."""
    return problem.file, problem.line


def parse_card_text(text: str, file: str, *, expect_id: str | None = None) -> ParsedCard:
    """Parse and check one card's text; never raises for bad content."""
    loaded = load_yaml(text)
    problems = [Problem(file, line, path, msg) for line, path, msg in loaded.problems]

    def add(path: Path, message: str) -> None:
        problems.append(Problem(file, loaded.line_of(path), format_path(path), message))

    card: Card | None = None
    data = loaded.data
    if loaded.problems and data is None:
        return ParsedCard(file, None, problems, loaded)
    if not isinstance(data, dict):
        add((), f"a card is a mapping of fields (got {type(data).__name__})")
        return ParsedCard(file, None, problems, loaded)
    todo = set()
    for path, message in check_todo_markers(data):
        add(path, message)
        todo.add(format_path(path))
    if expect_id is not None and isinstance(data.get("id"), str) and data["id"] != expect_id:
        add(("id",), f"id {data['id']!r} differs from the file name (expected {expect_id!r})")
    keys = list(data)
    if "schema_version" in keys and keys.index("schema_version") != min(1, len(keys) - 1):
        add(("schema_version",), "schema_version must come right after id (the second key)")
    # a field still holding its TODO marker is reported once, as unfilled, not also as invalid
    yaml_paths = {path for _, path, _ in loaded.problems} | todo
    try:
        card = Card.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = _loc_path(err["loc"])
            if format_path(path) not in yaml_paths:  # already reported by the YAML loader
                add(path, _message(err))
    if card is not None:
        for path, message in check_card(card, lambda p: f"line {loaded.line_of(p)}"):
            add(path, message)
    problems.sort(key=_file_order)
    return ParsedCard(file, card if not problems else None, problems, loaded)


def _unreadable(path: FsPath) -> str | None:
    """Why ``path`` is not read as a card: not a regular file (a FIFO would block), too large."""
    import stat

    try:
        st = path.stat()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (expected a YAML card file)"
    return too_large(st.st_size)


def parse_card_file(path: FsPath) -> ParsedCard:
    problem = _unreadable(path)
    if problem is None:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problem = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not UTF-8 (expected a UTF-8 YAML file)"
        except OSError as exc:
            problem = f"cannot read: {exc.strerror or exc}"
    if problem is not None:
        return ParsedCard(
            str(path), None, [Problem(str(path), 1, "(file)", problem)], LoadedYaml(None)
        )
    return parse_card_text(text, str(path), expect_id=path.stem)


def _edition_ids(data: dict[str, Any]) -> list[str]:
    editions = data.get("editions")
    if not isinstance(editions, list):
        return []
    ids = [e.get("id") for e in editions if isinstance(e, dict)]
    return [str(x) for x in ids if isinstance(x, str | int)]


def _name_clashes(parsed: Sequence[ParsedCard]) -> Iterator[Problem]:
    """Ids and aliases used by two cards (case-insensitive)."""
    names: dict[str, tuple[str, int]] = {}
    for pc in parsed:
        data = pc.loaded.data if isinstance(pc.loaded.data, dict) else {}
        entries: list[tuple[Path, Any]] = [(("id",), data.get("id"))]
        aliases = data.get("aliases")
        if isinstance(aliases, list):
            entries += [(("aliases", i), a) for i, a in enumerate(aliases)]
        seen_here: set[str] = set()
        for path, name in entries:
            if not isinstance(name, str):
                continue
            folded = name.casefold()
            line = pc.loaded.line_of(path)
            if folded in names and folded not in seen_here:
                other_file, other_line = names[folded]
                message = f"{name!r} is already used by {other_file}:{other_line}"
                yield Problem(pc.file, line, format_path(path), message)
            names.setdefault(folded, (pc.file, line))
            seen_here.add(folded)


def _card_references(data: dict[str, Any]) -> Iterator[tuple[Path, Any, Any]]:
    """``(path, card id, edition)`` of every reference to another card: derived_from,
    pooled_with and transfer targets (with the target edition)."""
    derived = data.get("derived_from")
    if isinstance(derived, list):
        yield from ((("derived_from", i), parent, None) for i, parent in enumerate(derived))
    figures = data.get("figures")
    for i, fig in enumerate(figures if isinstance(figures, list) else []):
        pooled = fig.get("pooled_with") if isinstance(fig, dict) else None
        if isinstance(pooled, list):
            yield from ((("figures", i, "pooled_with", k), c, None) for k, c in enumerate(pooled))
    transfers = data.get("transfers")
    for i, t in enumerate(transfers if isinstance(transfers, list) else []):
        if isinstance(t, dict):
            yield ("transfers", i, "target"), t.get("target"), t.get("target_edition")


def _unknown_references(
    parsed: Sequence[ParsedCard], ids: set[str], editions: Mapping[str, Sequence[str]]
) -> Iterator[Problem]:
    for pc in parsed:
        data = pc.loaded.data if isinstance(pc.loaded.data, dict) else {}
        for path, card_id, edition in _card_references(data):
            if not isinstance(card_id, str):
                continue
            if card_id not in ids:
                yield Problem(
                    pc.file,
                    pc.loaded.line_of(path),
                    format_path(path),
                    f"no card has the id {card_id!r}",
                )
                continue
            if edition is None or card_id not in editions:
                continue
            listed = editions[card_id]
            if str(edition) not in listed:
                at = (*path[:-1], "target_edition")
                known = f"its editions: {', '.join(listed)}" if listed else "it lists no editions"
                yield Problem(
                    pc.file,
                    pc.loaded.line_of(at),
                    format_path(at),
                    f"edition {edition!r} is not an edition of card {card_id!r} ({known})",
                )


def validate_cards(
    files: Iterable[FsPath],
    *,
    known_ids: Iterable[str] = (),
    known_editions: Mapping[str, Sequence[str]] | None = None,
) -> list[Problem]:
    """Validate ``files`` together: per-card problems plus duplicate ids and aliases across them,
    and references to other cards (``derived_from``, ``pooled_with``, transfer targets and
    their editions) that name no card among ``files`` and ``known_ids`` (whose editions
    ``known_editions`` may give)."""
    parsed = [parse_card_file(f) for f in files]
    problems = [p for pc in parsed for p in pc.problems]
    ids = set(known_ids) | set(known_editions or {})
    editions = dict(known_editions or {})
    for pc in parsed:
        data = pc.loaded.data if isinstance(pc.loaded.data, dict) else {}
        card_id = data.get("id")
        if isinstance(card_id, str):
            ids.add(card_id)
            editions.setdefault(card_id, _edition_ids(data))
    problems += _name_clashes(parsed)
    problems += _unknown_references(parsed, ids, editions)
    return sorted(dict.fromkeys(problems), key=_file_order)


def card_editions(path: FsPath) -> tuple[str, list[str]] | None:
    """A card file's id and edition ids, read without validating it (None if unreadable)."""
    if _unreadable(path) is not None:
        return None
    try:
        loaded = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    data = loaded.data if isinstance(loaded.data, dict) else {}
    card_id = data.get("id")
    return (card_id, _edition_ids(data)) if isinstance(card_id, str) else None
