"""The parsed catalogue's cache, private cards that override shipped ones, and the cards path."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from visiondata.registry import store
from visiondata.registry.cache import SectionCache, cache_dir
from visiondata.registry.schema import Card

from .conftest import VALID_CARD, run_cli

LIST = [sys.executable, "-m", "visiondata.registry.cli", "cards", "list", "--format", "json"]


def _env(cache: Path, cards: Path | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "VISIONDATA_CACHE_DIR": str(cache), **extra}
    env.pop("VISIONDATA_CARDS_PATH", None)
    if cards is not None:
        env["VISIONDATA_CARDS_PATH"] = str(cards)
    return env


def _list(env: dict[str, str]) -> list[dict[str, object]]:
    out = subprocess.run(LIST, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, object]] = json.loads(out.stdout)
    return rows


@pytest.mark.parametrize("card", sorted(p.stem for p in store.shipped_dir().glob("*.yaml")))
def test_cached_form_of_every_shipped_card_validates_back_to_it(card: str) -> None:
    original = store.load_card(store.shipped_dir() / f"{card}.yaml")
    dumped = original.model_dump(mode="json", by_alias=True)  # as the cache writes it
    assert Card.model_validate(json.loads(json.dumps(dumped))) == original


@pytest.mark.slow
def test_warm_run_reads_the_cache_and_a_changed_card_is_seen(tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "toy-set.yaml").write_text(VALID_CARD)
    env = _env(tmp_path / "cache", cards)
    cold = _list(env)
    (cache_file,) = (tmp_path / "cache").glob("catalogue-*.json")
    header = json.loads(cache_file.read_bytes().split(b"\n", 1)[0])
    assert header["format"] == 1 and {"index", "cards", "tables"} <= set(header["sections"])
    assert _list(env) == cold  # warm
    (cards / "toy-set.yaml").write_text(VALID_CARD.replace("name: Toy Set", "name: Toy Set II"))
    rows = {r["id"]: r for r in _list(env)}
    assert rows["toy-set"]["name"] == "Toy Set II"


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "flip-a-byte", "garbage", "empty"])
def test_a_corrupt_cache_is_never_trusted(tmp_path: Path, damage: str) -> None:
    env = _env(tmp_path / "cache")
    good = _list(env)
    (cache_file,) = (tmp_path / "cache").glob("catalogue-*.json")
    data = bytearray(cache_file.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip-a-byte":
        data[-100] ^= 0x20  # inside the last section: its sha256 no longer matches
    elif damage == "garbage":
        data = bytearray(b"\x80\x04\x95 not json at all")
    else:
        data = bytearray()
    cache_file.write_bytes(bytes(data))
    assert _list(env) == good
    show = subprocess.run(
        [*LIST[:-4], "cards", "show", "coco-2017", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert show.returncode == 0 and json.loads(show.stdout)["id"] == "coco-2017"


@pytest.mark.slow
def test_queries_use_a_checked_duckdb_copy_of_the_tables(tmp_path: Path) -> None:
    env = _env(tmp_path / "cache")
    sql = "SELECT count(*) AS n, sum(value) AS s FROM figures"
    argv = [*LIST[:-4], "cards", "query", sql, "--format", "json"]

    def query() -> object:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    first = query()  # loads the rows from the JSON cache and keeps a DuckDB copy
    (db,) = (tmp_path / "cache").glob("catalogue-*.duckdb")
    assert query() == first  # from the copy
    data = bytearray(db.read_bytes())
    data[len(data) // 2] ^= 0xFF
    db.write_bytes(bytes(data))  # its sha256 (in its name) no longer matches: not attached
    assert query() == first
    (again,) = (tmp_path / "cache").glob("catalogue-*.duckdb")  # the damaged one is gone
    digest = again.name.rsplit("-", 1)[1].removesuffix(".duckdb")
    assert hashlib.sha256(again.read_bytes()).hexdigest() == digest  # a sound copy again


@pytest.mark.slow
def test_concurrent_writers_leave_a_valid_cache(tmp_path: Path) -> None:
    env = _env(tmp_path / "cache")
    procs = [
        subprocess.Popen(LIST, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    assert len({o for o, _ in outs}) == 1
    (cache_file,) = (tmp_path / "cache").glob("catalogue-*.json")  # temp files all renamed
    assert not list((tmp_path / "cache").glob(".*"))
    key = json.loads(cache_file.read_bytes().split(b"\n", 1)[0])["key"]
    cache = SectionCache(cache_file.stem, None)
    cache.path, cache.key = cache_file, key
    assert isinstance(cache.read("index"), list)


@pytest.mark.slow
def test_no_cache_and_cache_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISIONDATA_NO_CACHE", "1")
    assert cache_dir() is None
    monkeypatch.delenv("VISIONDATA_NO_CACHE")
    monkeypatch.delenv("VISIONDATA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    found = cache_dir()
    assert found is not None and found.name == "visiondata"
    env = _env(tmp_path / "unused", VISIONDATA_NO_CACHE="1")
    assert _list(env) and not (tmp_path / "unused").exists()


@pytest.mark.slow
def test_private_card_overrides_a_shipped_one_only_when_asked(tmp_path: Path) -> None:
    shipped = (store.shipped_dir() / "mnist.yaml").read_text(encoding="utf-8")
    (tmp_path / "mnist.yaml").write_text(
        shipped.replace("\nname: ", "\nname: Local MNIST copy # ", 1)
    )
    env = {"VISIONDATA_CARDS_PATH": str(tmp_path)}
    plain = run_cli("cards", "show", "mnist", "--format", "json", env=env)
    assert json.loads(plain.stdout)["name"] != "Local MNIST copy"  # the shipped card wins
    clash = run_cli("cards", "validate", env=env)
    assert clash.returncode == 1 and "'mnist' is already used by" in clash.stdout
    over = {**env, "VISIONDATA_CARDS_OVERRIDE": "1"}
    shown = run_cli("cards", "show", "mnist", "--format", "json", env=over)
    assert json.loads(shown.stdout)["name"].startswith("Local MNIST copy")
    assert run_cli("cards", "show", "mnist", env=over).stdout.startswith(
        (tmp_path / "mnist.yaml").read_text()
    )
    check = run_cli("cards", "validate", env=over)
    assert "mnist" not in check.stdout, check.stdout


@pytest.mark.slow
def test_cards_path_naming_a_missing_folder_is_a_warning(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    out = run_cli("cards", "list", env={"VISIONDATA_CARDS_PATH": str(missing)})
    assert out.returncode == 0 and "coco-2017" in out.stdout
    assert out.stderr.splitlines()[0] == (
        f"visiondata: warning: VISIONDATA_CARDS_PATH entry {missing}: does not exist "
        "(expected a folder of card files); skipped"
    )
