"""Finding and loading cards: the shipped ones plus directories in ``VISIONDATA_CARDS_PATH``.

The parsed catalogue is cached on disk (:mod:`.cache`), keyed by every card file's path, size
and modification time and by the registry's own code, so a command that only lists or queries
does not parse and validate every card again. The cache holds JSON: an index (id, aliases,
file and the ``cards list`` row of each card), the SQL tables' rows, and the validated cards,
which are validated again by the schema when loaded from it. A missing, stale or corrupt cache
is rebuilt from the card files.

A card in ``VISIONDATA_CARDS_PATH`` with the id of a shipped card is left out (``cards
validate`` reports the clash) unless ``VISIONDATA_CARDS_OVERRIDE=1``: then it replaces the
shipped card.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CardNotFoundError, CardValidationError, VisionDataWarning

if TYPE_CHECKING:
    from .schema import Card

__all__ = [
    "ENV_VAR",
    "OVERRIDE_VAR",
    "CardsPathWarning",
    "InvalidCardWarning",
    "card_dirs",
    "card_files",
    "card_path",
    "database_file",
    "get_card",
    "list_cards",
    "list_rows",
    "load_card",
    "save_database_file",
    "shipped_dir",
    "sql_meta",
    "sql_tables",
    "table_rows",
]

ENV_VAR = "VISIONDATA_CARDS_PATH"
OVERRIDE_VAR = "VISIONDATA_CARDS_OVERRIDE"


class InvalidCardWarning(VisionDataWarning):
    """A card file in the catalogue is invalid and was left out of it."""


class CardsPathWarning(VisionDataWarning):
    """A ``VISIONDATA_CARDS_PATH`` entry that is not an existing folder."""


def shipped_dir() -> Path:
    """The directory of the cards that ship inside the package."""
    return Path(str(resources.files("visiondata.cards")))


_warned: set[str] = set()


def card_dirs() -> list[Path]:
    """Shipped cards first, then each directory of ``VISIONDATA_CARDS_PATH`` (os.pathsep-separated).

    An entry that is not an existing folder is skipped with a warning (once per process)."""
    dirs = [shipped_dir()]
    for entry in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if not entry:
            continue
        if Path(entry).is_dir():
            dirs.append(Path(entry))
        elif entry not in _warned:
            _warned.add(entry)
            what = "is not a folder" if Path(entry).exists() else "does not exist"
            warnings.warn(
                f"{ENV_VAR} entry {entry}: {what} (expected a folder of card files); skipped",
                CardsPathWarning,
                stacklevel=2,
            )
    return dirs


def card_files(dirs: list[Path] | None = None) -> Iterator[Path]:
    """Every card file of ``dirs`` (default :func:`card_dirs`). With ``VISIONDATA_CARDS_OVERRIDE``
    a shipped card whose file name a private card also has is left out (the private one
    replaces it), so neither the catalogue nor ``cards validate`` sees a clash."""
    dirs = card_dirs() if dirs is None else dirs
    files = [f for d in dirs if d.is_dir() for f in sorted(d.glob("*.yaml"))]
    if override():
        shipped = shipped_dir()
        private = {f.name for f in files if f.parent != shipped}
        files = [f for f in files if f.parent != shipped or f.name not in private]
    yield from files


def load_card(path: str | os.PathLike[str]) -> Card:
    """Load and fully validate one card file; raises CardValidationError listing every problem."""
    from .validate import parse_card_file

    parsed = parse_card_file(Path(path))
    if parsed.card is None:
        raise CardValidationError(parsed.problems)
    return parsed.card


def override() -> bool:
    """Whether private cards replace shipped cards of the same id (``VISIONDATA_CARDS_OVERRIDE``)."""
    return os.environ.get(OVERRIDE_VAR, "") not in ("", "0")


# -- the catalogue, parsed or from the cache -----------------------------------------------------


@dataclass(frozen=True, eq=False)  # hashed by identity (for the lru_caches below)
class _Catalogue:
    index: tuple[dict[str, Any], ...]  # id, aliases, file, row; sorted by id
    invalid: tuple[str, ...]
    cache: Any  # the SectionCache it was read from or written to
    cards: tuple[Card, ...] | None = None  # when just parsed (then nothing is read back)
    tables: dict[str, list[dict[str, Any]]] | None = None


def _code_stamp() -> list[Any]:
    """What the cached data also depends on: the registry's own modules and version."""
    from . import __version__

    here = Path(__file__).parent
    return [
        __version__,
        *((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(here.glob("*.py"))),
    ]


def _key(files: Sequence[Path]) -> list[Any]:
    stats = []
    for f in files:
        try:
            st = f.stat()
        except OSError as exc:  # a dangling link or a loop: left out when parsed, with a warning
            stats.append([str(f), exc.errno])
            continue
        stats.append([str(f), st.st_size, st.st_mtime_ns])
    return [_code_stamp(), override(), stats]


def _row(card: Card) -> dict[str, Any]:
    """One card's ``cards list`` row (its JSON shape is documented there)."""
    return {
        "id": card.id,
        "name": card.name,
        "year": card.year,
        "tasks": list(card.tasks),
        "modalities": list(card.modalities),
        "status": card.status.state,
        "total_examples": card.total_examples,
        "figures": len(card.figures),
        "transfers": len(card.transfers),
        "editions": [e.id for e in card.editions],
    }


def _parse(files: Sequence[Path], shipped: Path) -> tuple[list[tuple[Card, Path]], list[str]]:
    from .validate import parse_card_file

    chosen: dict[str, tuple[Card, Path]] = {}
    invalid: list[str] = []
    for path in files:
        parsed = parse_card_file(path)
        if parsed.card is None:
            invalid.append(str(path))
            continue
        card_id = parsed.card.id
        if card_id not in chosen:
            chosen[card_id] = (parsed.card, path)
        elif override() and chosen[card_id][1].parent == shipped and path.parent != shipped:
            chosen[card_id] = (parsed.card, path)  # a private card replaces the shipped one
        # otherwise the first one wins; `cards validate` reports the clash
    return sorted(chosen.values(), key=lambda cp: cp[0].id), invalid


def _build(files: Sequence[Path], cache: Any) -> _Catalogue:
    from .query import table_meta
    from .tables import table_rows as build_rows

    parsed, invalid = _parse(files, shipped_dir())
    cards = tuple(c for c, _ in parsed)
    index = tuple(
        {"id": c.id, "aliases": list(c.aliases), "file": str(p), "row": _row(c)} for c, p in parsed
    )
    tables = build_rows(cards)
    dumped = [
        c.model_dump(mode="json", by_alias=True) for c in cards
    ]  # None kept: some are required
    sections: dict[str, Any] = {"index": list(index), "invalid": invalid, "cards": dumped}
    sections["tables"] = table_meta()
    sections.update({f"table:{name}": rows for name, rows in tables.items()})
    cache.write(sections)
    return _Catalogue(index, tuple(invalid), cache, cards, tables)


def _valid_index(index: Any) -> bool:
    if not isinstance(index, list):
        return False
    for entry in index:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("id"), str)
            and isinstance(entry.get("aliases"), list)
            and isinstance(entry.get("file"), str)
            and isinstance(entry.get("row"), dict)
        ):
            return False
    return True


@lru_cache(maxsize=8)
def _catalogue_for(key_json: str, files: tuple[str, ...]) -> _Catalogue:
    import hashlib

    from .cache import SectionCache

    dirs_id = hashlib.sha256("\0".join(str(d) for d in card_dirs()).encode()).hexdigest()[:16]
    cache = SectionCache(f"catalogue-{dirs_id}", key_json)
    index, invalid = cache.read("index"), cache.read("invalid")
    if _valid_index(index) and isinstance(invalid, list):
        return _Catalogue(tuple(index), tuple(str(i) for i in invalid), cache)
    return _build([Path(f) for f in files], cache)


def _catalogue() -> _Catalogue:
    import json

    files = list(card_files())
    cat = _catalogue_for(json.dumps(_key(files)), tuple(str(f) for f in files))
    if cat.invalid:
        warnings.warn(
            f"left out {len(cat.invalid)} invalid card file(s): {', '.join(cat.invalid)}"
            " (run `visiondata cards validate` for every problem)",
            InvalidCardWarning,
            stacklevel=3,
        )
    return cat


def _cards(cat: _Catalogue) -> tuple[Card, ...]:
    if cat.cards is not None:
        return cat.cards
    return _cards_from_cache(cat)


@lru_cache(maxsize=8)
def _raw_cards(cat: _Catalogue) -> list[Any] | None:
    data = cat.cache.read("cards")
    return data if isinstance(data, list) and len(data) == len(cat.index) else None


def _rebuild(cat: _Catalogue) -> tuple[Card, ...]:
    """The cached cards are corrupt: parse the files again (and rewrite the cache)."""
    _catalogue_for.cache_clear()
    return _build([Path(e["file"]) for e in cat.index], cat.cache).cards or ()


@lru_cache(maxsize=8)
def _cards_from_cache(cat: _Catalogue) -> tuple[Card, ...]:
    from pydantic import TypeAdapter, ValidationError

    from .schema import Card

    try:
        cards = TypeAdapter(list[Card]).validate_python(_raw_cards(cat))
    except ValidationError:
        return _rebuild(cat)
    if [c.id for c in cards] != [e["id"] for e in cat.index]:
        return _rebuild(cat)
    return tuple(cards)


def _card_at(cat: _Catalogue, i: int) -> Card:
    """Card ``i`` of the index, validating only that one from the cache."""
    if cat.cards is not None:
        return cat.cards[i]
    from pydantic import ValidationError

    from .schema import Card

    raw = _raw_cards(cat)
    try:
        card = Card.model_validate(raw[i] if raw is not None else None)
    except ValidationError:
        return _rebuild(cat)[i]
    return card if card.id == cat.index[i]["id"] else _rebuild(cat)[i]


def table_rows() -> dict[str, list[dict[str, Any]]]:
    """The catalogue's SQL tables as rows (``tables.table_rows`` of every card)."""
    import json

    return {name: json.loads(text) for name, text in sql_tables()[1].items()}


def sql_meta() -> dict[str, Any]:
    """The tables' definitions (:func:`.query.table_meta`), from the cache when it has them."""
    cat = _catalogue()
    if cat.tables is None:
        meta = cat.cache.read("tables")
        if isinstance(meta, dict) and isinstance(meta.get("tables"), list):
            return meta
    from .query import table_meta

    return table_meta()


def database_file(tag: str) -> Path | None:
    """A DuckDB database of the catalogue's tables, made by ``tag`` (the DuckDB version) for
    the catalogue as it is now and checked against its sha256; None when there is none."""
    return Path(p) if (p := _catalogue().cache.companion(tag, ".duckdb")) else None


def save_database_file(tag: str, write: Any) -> None:
    """Keep the database that ``write(path)`` writes, for :func:`database_file` (best effort)."""
    _catalogue().cache.write_companion(tag, ".duckdb", write)


def sql_tables() -> tuple[dict[str, Any], dict[str, str]]:
    """What :func:`.query.connect` loads: the tables' definitions (:func:`.query.table_meta`)
    and each table's rows as JSON text, straight from the cache (no models imported)."""
    import json

    cat = _catalogue()
    if cat.tables is None:
        meta = cat.cache.read("tables")
        if isinstance(meta, dict) and isinstance(meta.get("tables"), list):
            texts = {}
            for table in meta["tables"]:
                raw = cat.cache.read_bytes(f"table:{table.get('name')}")
                if raw is None:
                    break
                texts[str(table["name"])] = raw.decode("utf-8")
            else:
                return meta, texts
    from .query import table_meta
    from .tables import table_rows as build_rows

    rows = cat.tables if cat.tables is not None else build_rows(_cards(cat))
    return table_meta(), {name: json.dumps(r) for name, r in rows.items()}


# -- queries on the catalogue --------------------------------------------------------------------


def _matches(
    entry: dict[str, Any], pattern: str | None, task: str | None, modality: str | None
) -> bool:
    row = entry["row"]
    names = [entry["id"], *entry["aliases"]]
    if pattern and not any(fnmatch.fnmatch(n.casefold(), pattern.casefold()) for n in names):
        return False
    if task and task not in row["tasks"]:
        return False
    return not (modality and modality not in row["modalities"])


def list_rows(
    pattern: str | None = None, *, task: str | None = None, modality: str | None = None
) -> list[dict[str, Any]]:
    """The ``cards list`` rows of :func:`list_cards` (plain data; no card is re-validated)."""
    return [dict(e["row"]) for e in _catalogue().index if _matches(e, pattern, task, modality)]


def list_cards(
    pattern: str | None = None, *, task: str | None = None, modality: str | None = None
) -> list[Card]:
    """Every card, sorted by id, optionally filtered by an fnmatch ``pattern`` on id or alias,
    a task and a modality (as in timm's ``list_models("resnet*")``)."""
    cat = _catalogue()
    cards = _cards(cat)
    return [
        c for c, e in zip(cards, cat.index, strict=True) if _matches(e, pattern, task, modality)
    ]


def _lookup(name: str) -> tuple[_Catalogue, int]:
    """The catalogue and the position of the card whose id or alias is ``name``."""
    cat = _catalogue()
    folded = name.casefold()
    positions: dict[str, int] = {}
    for i, entry in enumerate(cat.index):
        for n in (entry["id"], *entry["aliases"]):
            positions.setdefault(n.casefold(), i)
    if folded in positions:
        return cat, positions[folded]
    close = difflib.get_close_matches(folded, list(positions), n=3, cutoff=0.5)
    ids = [cat.index[positions[c]]["id"] for c in close]
    suggestions = list(
        dict.fromkeys(i if c == i.casefold() else c for c, i in zip(close, ids, strict=True))
    )
    raise CardNotFoundError(name, suggestions)


def get_card(name: str) -> Card:
    """The card whose id or alias is ``name`` (case-insensitive).

    Raises CardNotFoundError (a KeyError) naming the closest ids and aliases."""
    cat, i = _lookup(name)
    return _card_at(cat, i)


def card_path(name: str) -> Path:
    """The file of the card whose id or alias is ``name`` (as :func:`get_card` finds it)."""
    cat, i = _lookup(name)
    return Path(cat.index[i]["file"])
