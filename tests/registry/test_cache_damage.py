"""A damaged, stale or unwritable catalogue cache is rebuilt or skipped, never trusted.

The damage here keeps each section's sha256 right (the header is rewritten to match), so the
checksums pass and what is caught is the content itself: a card that no longer validates,
cards out of order, an index entry of the wrong shape, a table section gone. Each command is
run as a user runs it, in a fresh process with its own cache folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from visiondata.registry.cache import SectionCache

from .conftest import VALID_CARD

PY = [sys.executable, "-c"]
#: Every card's id, validated from the cache (list_cards validates the cached cards).
LIST_IDS = "from visiondata.registry import list_cards; print(' '.join(c.id for c in list_cards()))"
#: The figures table's rows, as the query layer loads them.
FIGURES = (
    "import json; from visiondata.registry.store import table_rows; "
    "print(json.dumps(sorted(map(json.dumps, table_rows()['figures']))))"
)
SHOW = "from visiondata.registry import get_card; c = get_card('toy-set'); print(c.id, c.name)"


def _env(cache: Path, cards: Path) -> dict[str, str]:
    env = {**os.environ, "VISIONDATA_CACHE_DIR": str(cache), "VISIONDATA_CARDS_PATH": str(cards)}
    env.pop("VISIONDATA_NO_CACHE", None)
    env.pop("VISIONDATA_CARDS_OVERRIDE", None)
    return env


def _py(code: str, env: dict[str, str]) -> str:
    out = subprocess.run([*PY, code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    return out.stdout


def _sections(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    head, body = path.read_bytes().split(b"\n", 1)
    header = json.loads(head)
    blobs = {name: body[off : off + n] for name, (off, n, _) in header["sections"].items()}
    return header, blobs


def _rewrite(path: Path, change: dict[str, Any]) -> None:
    """Replace (or, with None, drop) sections of the cache file, checksums kept consistent."""
    header, blobs = _sections(path)
    for name, data in change.items():
        if data is None:
            blobs.pop(name)
        else:
            blobs[name] = json.dumps(data, separators=(",", ":")).encode()
    table, offset = {}, 0
    for name, blob in blobs.items():
        table[name] = [offset, len(blob), hashlib.sha256(blob).hexdigest()]
        offset += len(blob)
    header["sections"] = table
    path.write_bytes(json.dumps(header).encode() + b"\n" + b"".join(blobs.values()))


@pytest.fixture
def warm(tmp_path: Path) -> tuple[dict[str, str], Path, str]:
    """A cards folder with the toy card, a warm cache for it, and the cards' ids."""
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "toy-set.yaml").write_text(VALID_CARD)
    env = _env(tmp_path / "cache", cards)
    ids = _py(LIST_IDS, env)
    (cache_file,) = (tmp_path / "cache").glob("catalogue-*.json")
    return env, cache_file, ids


def _cached(cache_file: Path, section: str) -> Any:
    return json.loads(_sections(cache_file)[1][section])


def test_a_cached_card_that_no_longer_validates_is_rebuilt_from_the_files(
    warm: tuple[dict[str, str], Path, str],
) -> None:
    env, cache_file, ids = warm
    cards = _cached(cache_file, "cards")
    good = list(cards)
    cards[0] = {**cards[0], "year": "not a year"}
    _rewrite(cache_file, {"cards": cards})
    assert _py(LIST_IDS, env) == ids
    assert _cached(cache_file, "cards") == good  # the cache was written again, sound


def test_cached_cards_out_of_order_are_rebuilt(warm: tuple[dict[str, str], Path, str]) -> None:
    env, cache_file, ids = warm
    cards = _cached(cache_file, "cards")
    good = list(cards)
    cards[0], cards[1] = cards[1], cards[0]  # each validates, but not as its index entry
    _rewrite(cache_file, {"cards": cards})
    assert _py(LIST_IDS, env) == ids
    assert _cached(cache_file, "cards") == good


def test_one_cached_card_under_another_id_is_not_shown(
    warm: tuple[dict[str, str], Path, str],
) -> None:
    env, cache_file, _ = warm
    index = [e["id"] for e in _cached(cache_file, "index")]
    cards = _cached(cache_file, "cards")
    toy = index.index("toy-set")
    other = 0 if toy else 1
    cards[toy] = cards[other]
    _rewrite(cache_file, {"cards": cards})
    assert _py(SHOW, env) == "toy-set Toy Set\n"


@pytest.mark.parametrize(
    "index",
    [[{"id": 7, "aliases": [], "file": "x.yaml", "row": {}}], {"id": "toy-set"}, "index"],
    ids=["id-not-text", "not-a-list", "a-string"],
)
def test_an_index_of_the_wrong_shape_is_rebuilt(
    warm: tuple[dict[str, str], Path, str], index: Any
) -> None:
    env, cache_file, ids = warm
    good = _cached(cache_file, "index")
    _rewrite(cache_file, {"index": index})
    assert _py(LIST_IDS, env) == ids
    assert _cached(cache_file, "index") == good


def test_a_missing_table_section_is_rebuilt_from_the_cards(
    warm: tuple[dict[str, str], Path, str],
) -> None:
    env, cache_file, _ = warm
    figures = _py(FIGURES, env)
    rows = json.loads(figures)
    assert any('"toy-set"' in r for r in rows)
    _rewrite(cache_file, {"table:figures": None})
    assert _py(FIGURES, env) == figures


def test_a_cache_folder_that_cannot_be_made_does_not_break_a_command(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "toy-set.yaml").write_text(VALID_CARD)
    env = _env(blocker / "cache", cards)
    ids = _py(LIST_IDS, env).split()
    assert "toy-set" in ids and "coco-2017" in ids
    assert blocker.read_text() == "not a folder\n"


def test_a_folder_where_the_cache_file_goes_does_not_break_a_command(
    warm: tuple[dict[str, str], Path, str],
) -> None:
    env, cache_file, ids = warm
    cache_file.unlink()
    cache_file.mkdir()
    (cache_file / "keep").write_text("x")  # a non-empty folder: os.replace onto it fails
    assert _py(LIST_IDS, env) == ids
    assert cache_file.is_dir() and (cache_file / "keep").read_text() == "x"
    assert [p.name for p in cache_file.parent.iterdir() if p.name.startswith(".")] == []


# -- SectionCache itself, on real files ---------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SectionCache:
    monkeypatch.setenv("VISIONDATA_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("VISIONDATA_NO_CACHE", raising=False)
    c = SectionCache("catalogue-test", {"files": ["a.yaml"]})
    c.write({"index": [1, 2], "names": ["a"]})
    return c


def test_a_section_whose_bytes_match_but_are_not_json_reads_as_none(
    cache: SectionCache,
) -> None:
    assert cache.path is not None
    header, _ = _sections(cache.path)
    blob = b"[1, 2"  # sha256 recorded for exactly these bytes
    header["sections"]["index"] = [0, len(blob), hashlib.sha256(blob).hexdigest()]
    cache.path.write_bytes(json.dumps(header).encode() + b"\n" + blob)
    fresh = SectionCache("catalogue-test", {"files": ["a.yaml"]})
    assert fresh.read_bytes("index") == blob
    assert fresh.read("index") is None


@pytest.mark.parametrize("entry", [None, [0, 5], ["x", 1, "d"], "0,5,d"])
def test_a_section_entry_of_the_wrong_shape_reads_as_none(cache: SectionCache, entry: Any) -> None:
    assert cache.path is not None
    header, blobs = _sections(cache.path)
    if entry is None:
        del header["sections"]["index"]
    else:
        header["sections"]["index"] = entry
    cache.path.write_bytes(json.dumps(header).encode() + b"\n" + b"".join(blobs.values()))
    fresh = SectionCache("catalogue-test", {"files": ["a.yaml"]})
    assert fresh.fresh()
    assert fresh.read("index") is None
    assert fresh.read("names") == ["a"]


def test_with_caching_off_nothing_is_read_or_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISIONDATA_NO_CACHE", "1")
    c = SectionCache("catalogue-off", "key")
    assert c.path is None
    c.write({"index": []})
    c.write_companion("t", ".duckdb", lambda p: p.write_bytes(b"db"))
    assert c.fresh() is False and c.read("index") is None
    assert c.companion("t", ".duckdb") is None


def test_companions_are_checked_and_replaced(cache: SectionCache) -> None:
    assert cache.path is not None
    cache.write_companion("v1", ".duckdb", lambda p: p.write_bytes(b"first"))
    first = cache.companion("v1", ".duckdb")
    assert first is not None and first.read_bytes() == b"first"
    assert first.name.endswith(hashlib.sha256(b"first").hexdigest() + ".duckdb")
    cache.write_companion("v2", ".duckdb", lambda p: p.write_bytes(b"second"))
    assert not first.exists()  # a companion made for another tag is removed
    assert cache.companion("v1", ".duckdb") is None
    second = cache.companion("v2", ".duckdb")
    assert second is not None and second.read_bytes() == b"second"
    assert sorted(p.name for p in cache.path.parent.iterdir()) == sorted(
        [cache.path.name, second.name]
    )


def test_a_companion_that_fails_to_be_written_leaves_nothing_behind(
    cache: SectionCache,
) -> None:
    assert cache.path is not None
    cache.write_companion("v1", ".duckdb", lambda p: p.write_bytes(b"kept"))
    kept = cache.companion("v1", ".duckdb")

    def fail(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device", str(path))

    cache.write_companion("v1", ".duckdb", fail)
    assert cache.companion("v1", ".duckdb") == kept  # the old one stays, no temporary left
    assert sorted(p.name for p in cache.path.parent.iterdir()) == sorted(
        [cache.path.name, kept.name if kept else ""]
    )


def test_an_unreadable_companion_is_skipped(cache: SectionCache) -> None:
    assert cache.path is not None
    digest = hashlib.sha256(b"").hexdigest()
    odd = cache.path.parent / f"{cache.path.stem}-{cache.key[:16]}-v1-{digest}.duckdb"
    odd.mkdir()  # a folder under a companion's name: reading it fails
    assert cache.companion("v1", ".duckdb") is None
    assert odd.is_dir()


def test_pruning_keeps_the_newest_sixteen_and_survives_a_dangling_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "c"
    monkeypatch.setenv("VISIONDATA_CACHE_DIR", str(folder))
    monkeypatch.delenv("VISIONDATA_NO_CACHE", raising=False)
    folder.mkdir()
    for i in range(20):
        old = folder / f"catalogue-old{i:02d}.json"
        old.write_text("{}\n")
        os.utime(old, ns=(i * 10**9, i * 10**9))
    c = SectionCache("catalogue-new", "key")
    c.write({"index": []})
    kept = sorted(p.name for p in folder.glob("catalogue-*.json"))
    assert kept == sorted(
        ["catalogue-new.json", *(f"catalogue-old{i:02d}.json" for i in range(5, 20))]
    )
    (folder / "catalogue-gone.json").symlink_to(folder / "nowhere")  # stat() of it fails
    c.write({"index": [1]})
    assert c.read("index") == [1]
    # the dangling link cannot be stat-ed: it counts as the oldest and goes first
    assert not (folder / "catalogue-gone.json").is_symlink()
    assert len(list(folder.glob("catalogue-*.json"))) == 16
