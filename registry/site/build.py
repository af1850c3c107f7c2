"""Build the static site: plan every chart, draw them (in parallel), render every page, and
write the whole tree at once.

The output is a pure function of the cards (and the options): pages, charts and the JSON index
are written in a fixed order with no dates, so the same cards give the same bytes. The tree is
written into a temporary folder beside ``out`` and moved into place, so a failed build leaves
the previous site as it was.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..questions import QUESTIONS
from ..tables import TABLES
from ..vocab import AXES, EXCLUSIVE_AXES
from . import render
from .charts import BarChart, Heatmap, bar_chart, transfer_heatmaps
from .draw import require_matplotlib, svg_of
from .health import health_charts
from .inputs import SiteCard
from .model import (
    FigureRef,
    axis_figures,
    axis_sections,
    derived_by,
    incoming_transfers,
    index_entry,
)

__all__ = ["ASSETS", "BuildReport", "build_site", "check_edit_url", "check_out", "query_page"]

#: Files copied from the package into ``assets/``.
ASSETS = ("site.css", "site.js", "query.js", "favicon.svg")
#: What marks a folder as a site this command wrote (and may replace).
GENERATOR = "visiondata"
Chart = BarChart | Heatmap
Rows = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote: the folder, its files and bytes, the charts drawn, and the time."""

    out: Path
    files: int
    bytes: int
    charts: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.out}: {self.files} files, {self.bytes / 1e6:.1f} MB, {self.charts} charts, "
            f"built in {self.seconds:.1f} s"
        )


def check_out(out: Path) -> None:
    """Refuse an ``out`` that exists and is not an empty folder or a site built here before."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder (expected a folder for the site)")
    index = out / "index.json"
    if any(out.iterdir()) and not (
        index.is_file() and f'"generator":"{GENERATOR}' in index.read_text("utf-8", "replace")[:200]
    ):
        raise UsageError(
            f"{out} is not empty and holds no site built by visiondata (expected an empty or "
            "new folder, or a previous site to replace)"
        )


def check_edit_url(template: str | None) -> None:
    """An ``--edit-url`` is an http(s) address with ``{id}`` or ``{file}`` in it."""
    if template is None:
        return
    if not template.startswith(("http://", "https://")) or not (
        "{id}" in template or "{file}" in template
    ):
        raise UsageError(
            f"--edit-url {template!r}: expected an http(s) address with {{id}} or {{file}}, e.g. "
            "https://github.com/ORG/visiondata/edit/main/cards/{file}"
        )


# --- planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    sections: dict[str, list[tuple[str, list[FigureRef], BarChart]]]
    heatmaps: dict[str, list[Heatmap]]
    axes: dict[str, tuple[list[FigureRef], BarChart]]
    health: dict[str, BarChart]

    def charts(self) -> list[Chart]:
        out: list[Chart] = []
        for card_id, sections in self.sections.items():
            out += [chart for _, _, chart in sections]
            out += self.heatmaps[card_id]
        out += [chart for _, chart in self.axes.values()]
        return out + list(self.health.values())


def _plan(cards: Sequence[SiteCard], health: Mapping[str, Rows]) -> _Plan:
    sections, heatmaps = {}, {}
    for sc in cards:
        c = sc.card
        sections[c.id] = [
            (axis, refs, bar_chart(f"a{i}", f"{c.name}: {axis}", refs, with_card=False))
            for i, (axis, refs) in enumerate(axis_sections(c))
        ]
        heatmaps[c.id] = transfer_heatmaps(c, lambda i: f"t{i}")
    axes = {
        axis: (refs, bar_chart("ax", f"{axis} across datasets", refs, with_card=True))
        for axis, refs in axis_figures([sc.card for sc in cards]).items()
    }
    return _Plan(sections, heatmaps, axes, health_charts(health))


def _draw(charts: Sequence[Chart], jobs: int | None) -> dict[int, str]:
    """Each chart's SVG by ``id(chart)``, drawn by ``jobs`` processes (default: the cores, at
    most 4). Workers are forked (they inherit matplotlib, already imported, and need nothing
    from ``__main__``), so only on Linux and only while this process runs no other thread; else
    the charts are drawn here, one after the other. Either way the bytes are the same."""
    jobs = jobs or min(4, os.cpu_count() or 1)
    forkable = sys.platform.startswith("linux") and threading.active_count() == 1
    if jobs <= 1 or len(charts) < 24 or not forkable:
        return {id(c): svg_of(c) for c in charts}
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
        chunk = max(1, len(charts) // (jobs * 4))
        svgs = list(pool.map(svg_of, charts, chunksize=chunk))
    return {id(c): s for c, s in zip(charts, svgs, strict=True)}


# --- pages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    env: Any
    site: render.SiteInfo
    cards: Sequence[SiteCard]
    known: frozenset[str]
    svgs: Mapping[int, str]
    plan: _Plan


def _card_page(ctx: _Context, sc: SiteCard, edit_url: str | None, extra: dict[str, Any]) -> str:
    c = sc.card
    sections = [
        {
            "axis": axis,
            "refs": refs,
            "svg": ctx.svgs[id(chart)],
            "caption": f"{axis}: {len(refs)} figure{'s' if len(refs) != 1 else ''} of {c.id}",
        }
        for axis, refs, chart in ctx.plan.sections[c.id]
    ]
    heatmaps = [{"svg": ctx.svgs[id(h)], "caption": h.title} for h in ctx.plan.heatmaps[c.id]]
    notes: dict[str, list[Any]] = {}
    for n in c.notes:
        notes.setdefault(n.kind, []).append(n)
    if edit_url:
        href = edit_url.replace("{id}", c.id).replace("{file}", sc.path.name)
    else:
        href = "../contribute.html#edit"
    return render.page(
        ctx.env,
        "card.html",
        f"cards/{c.id}.html",
        ctx.site,
        card=c,
        sections=sections,
        heatmaps=heatmaps,
        note_groups=list(notes.items()),
        known=ctx.known,
        children=extra["derived_by"].get(c.id, []),
        incoming=extra["incoming"].get(c.id, []),
        edit_href=href,
        edit_external=bool(edit_url),
        glance=index_entry(c),
        bias_notes=notes.get("bias", []),
        legend_text="the colour says who produced the number, a hatched bar is not verified, "
        "and shares of categories that exclude each other stack up to one.",
    )


def _axis_pages(ctx: _Context) -> dict[str, str]:
    pages = {}
    for axis, (refs, chart) in ctx.plan.axes.items():
        card_ids = sorted({r.card.id for r in refs})
        pages[f"axes/{axis}.html"] = render.page(
            ctx.env,
            "axis.html",
            f"axes/{axis}.html",
            ctx.site,
            axis=axis,
            refs=refs,
            card_ids=card_ids,
            known=ctx.known,
            svg=ctx.svgs[id(chart)],
            caption=f"{axis}: {len(refs)} figures from {len(card_ids)} datasets",
            exclusive=axis in EXCLUSIVE_AXES,
            show_card=True,
        )
    rows = []
    for axis, description in AXES.items():
        refs = ctx.plan.axes.get(axis, ([], None))[0]
        verified = sum(r.verification.status == "verified" for r in refs)
        rows.append(
            {
                "axis": axis,
                "description": description,
                "figures": len(refs),
                "cards": len({r.card.id for r in refs}),
                "verified_share": verified / len(refs) if refs else None,
            }
        )
    pages["axes/index.html"] = render.page(
        ctx.env, "axes.html", "axes/index.html", ctx.site, axes=rows
    )
    return pages


def _health_page(ctx: _Context, health: Mapping[str, Rows], unverified: Rows) -> str:
    sections = []
    for title, rows in health.items():
        chart = ctx.plan.health.get(title)
        columns = list(rows[0]) if rows else []
        sections.append(
            {
                "title": title,
                "columns": columns,
                "rows": [list(r.values()) for r in rows],
                "svg": ctx.svgs[id(chart)] if chart else "",
                "caption": title,
                "status_legend": title == "numbers by verification",
            }
        )
    return render.page(
        ctx.env,
        "health.html",
        "health.html",
        ctx.site,
        sections=sections,
        unverified=unverified,
        known=ctx.known,
    )


def query_page(cards: Sequence[SiteCard], *, live: bool, limits: str = "") -> str:
    """The query page: the seven questions with their answers over ``cards`` (computed now),
    and for ``cards serve`` (``live``) the SQL box, stating its ``limits``."""
    from .. import __version__
    from ..query import connect, execute_rows

    con = connect([sc.card for sc in cards])
    questions = []
    for q in QUESTIONS:
        columns, rows = execute_rows(con, q.sql)
        questions.append({"title": q.title, "sql": q.sql, "columns": columns, "rows": rows})
    tables = [{"name": name, "row": t.row, "columns": t.columns} for name, t in TABLES.items()]
    data = [{"title": q.title, "sql": q.sql} for q in QUESTIONS]
    site = render.SiteInfo(__version__, len(cards))
    return render.page(
        render.environment(),
        "query.html",
        "query.html",
        site,
        live=live,
        limits=limits,
        questions=questions,
        tables=tables,
        questions_json=render.script_json(data),
        known=frozenset(sc.card.id for sc in cards),
    )


def _pages(ctx: _Context, options: dict[str, Any]) -> dict[str, str]:
    cards = [sc.card for sc in ctx.cards]
    rows = [index_entry(c) for c in cards]
    index = {"generator": f"{GENERATOR} {ctx.site.version}", "cards": rows}
    index_json = render.script_json(index)
    extra = {"derived_by": derived_by(cards), "incoming": incoming_transfers(cards)}
    pages = {
        "index.html": render.page(
            ctx.env,
            "index.html",
            "index.html",
            ctx.site,
            index_json=index_json,
            **_index_context(rows),
        ),
        "index.json": index_json + "\n",
        "health.html": _health_page(ctx, options["health"], options["unverified"]),
        "query.html": query_page(ctx.cards, live=options["live"], limits=options["limits"]),
        "contribute.html": render.page(ctx.env, "contribute.html", "contribute.html", ctx.site),
    }
    for sc in ctx.cards:
        pages[f"cards/{sc.card.id}.html"] = _card_page(ctx, sc, options["edit_url"], extra)
    pages.update(_axis_pages(ctx))
    return pages


_COLUMNS = (
    ("id", "id", False),
    ("name", "name", False),
    ("year", "year", True),
    ("tasks", "tasks", False),
    ("modalities", "modalities", False),
    ("examples", "examples", True),
    ("license", "license, commercial use", False),
    ("access", "access", False),
    ("status", "status", False),
    ("figures", "figures", True),
    ("verified_share", "verified", True),
)


def _index_context(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def options(key: str) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for r in rows:
            for v in r[key] if isinstance(r[key], list) else [r[key]]:
                counts[v] = counts.get(v, 0) + 1
        return sorted(counts.items())

    filters = [
        (k, label, options(k))
        for k, label in (
            ("tasks", "Task"),
            ("modalities", "Modality"),
            ("status", "Status"),
            ("license", "License"),
            ("commercial_use", "Commercial use"),
        )
    ]
    numbers = sum(r["figures"] + r["transfers"] for r in rows)
    verified = sum((r["verified_share"] or 0) * (r["figures"] + r["transfers"]) for r in rows)
    totals = {
        "figures": sum(r["figures"] for r in rows),
        "transfers": sum(r["transfers"] for r in rows),
        "verified_share": verified / numbers if numbers else None,
        "withdrawn": sum(r["status"] != "active" for r in rows),
    }
    return {"rows": rows, "filters": filters, "columns": _COLUMNS, "totals": totals}


# --- writing --------------------------------------------------------------------------------


def _write(out: Path, pages: Mapping[str, str], cards: Sequence[SiteCard]) -> tuple[int, int]:
    """Write the tree into a temporary folder beside ``out``, then move it into place."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.building-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    files: dict[str, bytes] = {p: text.encode("utf-8") for p, text in pages.items()}
    for sc in cards:
        files[f"cards/{sc.card.id}.yaml"] = sc.path.read_bytes()
    assets = resources.files("visiondata.registry.site") / "assets"
    for name in ASSETS:
        files[f"assets/{name}"] = (assets / name).read_bytes()
    try:
        for rel in sorted(files):
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[rel])
        if out.exists():
            out.rename(old)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return len(files), sum(len(b) for b in files.values())


def build_site(
    out: Path,
    cards: Sequence[SiteCard],
    *,
    health: Mapping[str, Rows],
    unverified: Rows,
    edit_url: str | None = None,
    live: bool = False,
    limits: str = "",
    jobs: int | None = None,
) -> BuildReport:
    """Build the site of ``cards`` into ``out`` (see the module docstring).

    ``health`` is what ``cards stats`` reports (section title -> rows), ``unverified`` what
    ``cards stats --unverified`` lists; ``edit_url`` a template for the "edit this card" links
    (``{id}``, ``{file}``); ``live`` builds the query page with its SQL box for ``cards
    serve``, whose ``limits`` it states."""
    from .. import __version__

    start = time.monotonic()
    require_matplotlib()
    render.require_jinja()
    check_out(out)
    check_edit_url(edit_url)
    plan = _plan(cards, health)
    charts = plan.charts()
    svgs = _draw(charts, jobs)
    site = render.SiteInfo(__version__, len(cards))
    known = frozenset(sc.card.id for sc in cards)
    ctx = _Context(render.environment(), site, cards, known, svgs, plan)
    options = {
        "health": health,
        "unverified": unverified,
        "edit_url": edit_url,
        "live": live,
        "limits": limits,
    }
    n_files, n_bytes = _write(out, _pages(ctx, options), cards)
    return BuildReport(out, n_files, n_bytes, len(charts), time.monotonic() - start)
