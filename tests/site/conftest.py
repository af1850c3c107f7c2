"""Fixtures of the site tests: the whole catalogue built once, a hostile card's site, a real
headless Chromium (Debian's, driven by Playwright: nothing is downloaded)."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..registry.conftest import VALID_CARD

#: Strings a contributed card could hold that must reach a page as text, never as markup.
HOSTILE = {
    "name": 'Toy <script>alert("name")</script> Set',
    "alias": "</script><script>alert('alias')</script>",
    "description": "<img src=x onerror=alert('description')> & more",
    "note": "<script>alert('note')</script>",
    "category": "<b>bold</b> & $\\frac{1}{2}$",
    "subject": "<svg onload=alert('subject')>",
    "title": "\"><script>alert('title')</script>",
    "locator": "javascript:alert('locator')",
    "license": '<iframe src="https://evil.example/"></iframe>',
    "key": 'we"ird <key>',
}


def hostile_card() -> str:
    """VALID_CARD with every free-text field an attack (still a valid card), as YAML."""
    import yaml

    h = HOSTILE
    card = yaml.safe_load(VALID_CARD)
    card["name"] = h["name"]
    card["aliases"] = ["TOYS", h["alias"]]
    card["description"] = h["description"]
    card["license"]["notes"] = h["license"]
    card["references"][h["key"]] = {"title": "Odd key", "year": 2020}
    card["references"]["doe2020"]["title"] = h["title"]
    card["notes"] = [{"kind": "bias", "text": h["note"], "citation": h["key"]}]
    female = card["figures"][0]
    female["category"] = h["category"]
    female["provenance"]["locator"] = h["locator"]
    card["figures"][1]["provenance"]["locator"] = h["locator"]
    card["figures"].append(
        {
            "id": "error-female",
            "axis": "subgroup_performance",
            "metric": "error_rate",
            "category": "female",
            "subject": {"name": h["subject"], "kind": "system"},
            "value": 0.1,
            "unit": "fraction",
            "population": {"unit": "subject", "split": "train", "n": 40},
            "provenance": {"kind": "measured", "citation": h["key"], "locator": "Table 3"},
            "verification": {"status": "unverified", "note": h["note"]},
        }
    )
    return yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=100)


def chromium_path() -> str:
    """Debian's Chromium (``VISIONDATA_CHROMIUM`` overrides); a clear failure when missing."""
    found = os.environ.get("VISIONDATA_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None
    )
    if not found:
        pytest.fail("Chromium is not installed; apt-get install chromium (as .ci/run does)")
    return found


@pytest.fixture(scope="session")
def catalogue_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """The shipped catalogue's site, built once: ``(folder, BuildReport)``."""
    from visiondata.registry.cli.site import build

    out = tmp_path_factory.mktemp("catalogue") / "site"
    report, _ = build(out, cards_path=[])
    yield out, report


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site of one hostile card (and a plain one that derives from it)."""
    from visiondata.registry.cli.site import build

    cards = tmp_path_factory.mktemp("hostile-cards")
    (cards / "toy-set.yaml").write_text(hostile_card(), encoding="utf-8")
    child = VALID_CARD.replace("id: toy-set", "id: toy-child").replace(
        "aliases: [TOYS]", "aliases: []"
    )
    (cards / "toy-child.yaml").write_text(
        child.replace("derived_from: []", "derived_from: [toy-set]"), encoding="utf-8"
    )
    out = tmp_path_factory.mktemp("hostile") / "site"
    build(out, cards_path=[cards], shipped=False, jobs=1)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module's tests, closed when the module ends. Not for the session: a
    process forked meanwhile (DataLoader workers) inherits the pipe to Playwright's driver, and
    the driver ends only when every copy of it is closed, so one stray child would hold the
    session's teardown."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def card_dir(tmp_path: Path) -> Path:
    d = tmp_path / "cards"
    d.mkdir()
    return d
