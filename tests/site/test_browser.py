"""The site in a real headless Chromium (Debian's, driven by Playwright), from ``file://`` and
served over loopback: no console errors, no request leaving the machine, charts rendered,
filters and search working, the SQL box answering and refusing. Screenshots of the index, a card
page and an axis page, light and dark, go to ``VISIONDATA_SCREENSHOTS`` (default: a temporary
folder)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from visiondata.registry.questions import QUESTIONS
from visiondata.registry.site.serve import QueryRunner, SiteServer
from visiondata.registry.store import get_card, list_cards

from .conftest import HOSTILE

pytestmark = pytest.mark.slow


@dataclass
class Watch:
    """What a page did: console errors, uncaught exceptions, dialogs, and every request."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def left_the_machine(self, allowed: tuple[str, ...]) -> list[str]:
        return [u for u in self.requests if not u.startswith(allowed) and not u.startswith("data:")]


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    # anything not on this machine is recorded (by Watch) and stopped here
    ctx.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlsplit(route.request.url).scheme in ("file", "data")
            or urlsplit(route.request.url).hostname == "127.0.0.1"
            else route.abort()
        ),
    )
    yield ctx
    ctx.close()


def _open(context: Any, url: str) -> tuple[Any, Watch]:
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    page.goto(url)
    page.wait_for_load_state("load")
    return page, watch


def _visible_ids(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "#cards tbody tr", "rows => rows.filter(r => !r.hidden).map(r => r.dataset.id)"
    )
    return ids


def test_the_index_filters_searches_and_sorts(
    context: Any, catalogue_site: tuple[Path, Any]
) -> None:
    site, _ = catalogue_site
    page, watch = _open(context, (site / "index.html").as_uri())
    everything = [c.id for c in list_cards()]
    assert _visible_ids(page) == everything
    assert page.is_visible("#filters")
    page.select_option("#f-tasks", "face-recognition")
    faces = sorted(c.id for c in list_cards(task="face-recognition"))
    assert _visible_ids(page) == faces
    assert page.text_content("#shown") == f"{len(faces)} of {len(everything)} cards"
    assert "tasks=face-recognition" in page.url
    page.click("#reset")
    page.wait_for_function(
        f"document.querySelectorAll('#cards tbody tr:not([hidden])').length == {len(everything)}"
    )
    page.fill("#q", "ms coco")  # an alias of coco-2017, word by word
    assert _visible_ids(page) == ["coco-2017"]
    page.fill("#q", "")
    page.click("th[data-key=year] button")  # numbers sort high to low first
    years = [get_card(i).year for i in _visible_ids(page)]
    assert years == sorted(years, reverse=True)
    assert page.get_attribute("th[data-key=year]", "aria-sort") == "descending"
    page.select_option("#f-status", "withdrawn")
    withdrawn = [c for c in list_cards() if c.status.state == "withdrawn"]
    assert sorted(_visible_ids(page)) == sorted(c.id for c in withdrawn)
    assert watch.errors == [] and watch.dialogs == []
    assert watch.left_the_machine(("file://",)) == []


def test_a_linked_view_opens_filtered(context: Any, catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    page, watch = _open(context, (site / "index.html").as_uri() + "#modalities=video&q=kinetics")
    assert _visible_ids(page) == sorted(c.id for c in list_cards("kinetics*", modality="video"))
    assert watch.errors == []


def test_without_scripts_the_index_lists_every_card(
    browser: Any, catalogue_site: tuple[Path, Any]
) -> None:
    site, _ = catalogue_site
    ctx = browser.new_context(java_script_enabled=False)
    try:
        page = ctx.new_page()
        page.goto((site / "index.html").as_uri())
        assert page.locator("#cards tbody tr").count() == len(list_cards())
        assert not page.is_visible("#filters")
        assert page.locator("#cards tbody tr:visible").count() == len(list_cards())
    finally:
        ctx.close()


def test_every_card_page_renders_its_charts(context: Any, catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    for card in list_cards():
        page.goto((site / "cards" / f"{card.id}.html").as_uri())
        expected = len({f.axis for f in card.figures}) + len(
            {(t.metric, t.unit) for t in card.transfers}
        )
        sizes = page.eval_on_selector_all(
            "svg.chart",
            "els => els.map(e => { const b = e.getBoundingClientRect();"
            " return [b.width, b.height, e.querySelectorAll('path').length]; })",
        )
        assert len(sizes) == expected, card.id
        assert all(w > 300 and h > 40 and paths > 2 for w, h, paths in sizes), (card.id, sizes)
        assert page.title().startswith(card.name[:20])
    assert watch.errors == [] and watch.dialogs == []
    assert watch.left_the_machine(("file://",)) == []


def test_the_axis_page_lists_the_cards_with_figures_on_it(
    context: Any, catalogue_site: tuple[Path, Any]
) -> None:
    site, _ = catalogue_site
    page, watch = _open(context, (site / "axes" / "demographic.skin_type.html").as_uri())
    listed = page.eval_on_selector_all("#axis-cards a", "as => as.map(a => a.textContent)")
    expected = sorted(
        {c.id for c in list_cards() for f in c.figures if f.axis == "demographic.skin_type"}
    )
    assert listed == expected and {"adience", "ijb-a"} <= set(listed)
    title = page.text_content("svg.chart title") or ""
    assert "adience" in page.text_content("svg.chart desc") and "across datasets" in title
    page.click("#axis-cards a >> text=adience")
    page.wait_for_url("**/cards/adience.html")
    assert watch.errors == []


def test_a_withdrawn_card_shows_its_banner(context: Any, catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    page, watch = _open(context, (site / "cards" / "tiny-images.html").as_uri())
    banner = page.locator("section.banner.withdrawn")
    assert banner.is_visible()
    text = banner.text_content() or ""
    tiny = get_card("tiny-images")
    assert text.strip().startswith(f"Withdrawn in {tiny.status.date}")
    assert (tiny.status.reason or "")[:60] in " ".join(text.split())
    assert watch.errors == []


def test_the_bibtex_copies(browser: Any, catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    ctx = browser.new_context()
    try:
        ctx.grant_permissions(["clipboard-read", "clipboard-write"])
        page = ctx.new_page()
        page.goto((site / "cards" / "coco-2017.html").as_uri())
        page.click("button.copy")
        page.wait_for_function("document.getElementById('bibtex-status').textContent !== ''")
        assert page.text_content("#bibtex-status") == "Copied."
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == get_card("coco-2017").citation.rstrip()
    finally:
        ctx.close()


def test_hostile_card_text_stays_text(context: Any, hostile_site: Path) -> None:
    page, watch = _open(context, (hostile_site / "cards" / "toy-set.html").as_uri())
    assert watch.dialogs == [] and watch.errors == []
    assert page.text_content("h1") == HOSTILE["name"]
    body = page.text_content("body") or ""
    assert HOSTILE["note"] in body and HOSTILE["description"] in body
    assert page.locator("img, iframe").count() == 0
    index, watch2 = _open(context, (hostile_site / "index.html").as_uri())
    index.fill("#q", "alert('alias')")
    assert _visible_ids(index) == ["toy-set"]
    assert watch2.dialogs == [] and watch2.errors == []


@pytest.fixture(scope="module")
def live_site(
    catalogue_site: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The catalogue's site as ``cards serve`` serves it: the static site, its query page live."""
    import shutil

    from visiondata.registry.cli.site import query_limits
    from visiondata.registry.site import SiteCard, card_folders, load_cards
    from visiondata.registry.site.build import query_page

    site, _ = catalogue_site
    out = tmp_path_factory.mktemp("live") / "site"
    shutil.copytree(site, out)
    cards: list[SiteCard] = load_cards(card_folders([]))
    limits = query_limits()
    (out / "query.html").write_text(query_page(cards, live=True, limits=str(limits)), "utf-8")
    server = SiteServer(out, QueryRunner([sc.card for sc in cards], limits), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()


def test_the_sql_box_answers_and_refuses(context: Any, live_site: str) -> None:
    page, watch = _open(context, live_site + "query.html")
    page.click("button.ask[data-question='0']")
    page.wait_for_selector("#sql-result table")
    cells = page.eval_on_selector_all(
        "#sql-result tbody tr td:first-child", "tds => tds.map(t => t.textContent)"
    )
    assert cells == ["adience"]
    assert page.input_value("#sql-text") == QUESTIONS[0].sql
    csv = context.request.get(live_site + (page.get_attribute("#csv", "href") or ""))
    assert csv.ok and csv.text().splitlines()[1].startswith("adience,")
    page.fill("#sql-text", "DROP TABLE cards")
    page.click("#run")
    page.wait_for_selector("#sql-error:not([hidden])")
    assert "the catalogue is read-only: got a DROP statement" in (
        page.text_content("#sql-error") or ""
    )
    assert page.locator("#sql-result table").count() == 0
    page.fill("#sql-text", "SELECT count(*) AS n FROM cards")
    page.click("#run")
    page.wait_for_selector("#sql-result td")
    assert page.text_content("#sql-result td") == str(len(list_cards()))
    assert watch.errors == []
    assert watch.left_the_machine((live_site,)) == []


def test_the_served_site_is_the_same_site(context: Any, live_site: str) -> None:
    page, watch = _open(context, live_site)
    page.select_option("#f-tasks", "face-recognition")
    assert _visible_ids(page) == sorted(c.id for c in list_cards(task="face-recognition"))
    page.click("a >> text=SQL")
    page.wait_for_url("**/query.html")
    page.goto(live_site + "cards/adience.html")
    assert page.locator("svg.chart").count() == len({f.axis for f in get_card("adience").figures})
    assert watch.errors == []
    assert watch.left_the_machine((live_site,)) == []


def test_screenshots(
    browser: Any, catalogue_site: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    site, report = catalogue_site
    folder = Path(
        os.environ.get("VISIONDATA_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots")
    )
    folder.mkdir(parents=True, exist_ok=True)
    shots = {
        "index": "index.html",
        "card-adience": "cards/adience.html",
        "axis-skin-type": "axes/demographic.skin_type.html",
    }
    for scheme in ("light", "dark"):
        ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, color_scheme=scheme)
        try:
            page = ctx.new_page()
            for name, rel in shots.items():
                page.goto((site / rel).as_uri())
                bg = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
                assert (bg == "rgb(255, 255, 255)") == (scheme == "light"), (scheme, bg)
                page.screenshot(
                    path=str(folder / f"{name}-{scheme}.png"), full_page=name != "index"
                )
        finally:
            ctx.close()
    taken = sorted(p.name for p in folder.glob("*.png"))
    assert len(taken) >= 6
    print(f"\nscreenshots in {folder}: {', '.join(taken)}; site: {report}")
