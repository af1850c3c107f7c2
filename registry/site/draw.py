"""Draw the planned charts (:mod:`.charts`) with matplotlib's object API into SVG for inlining.

Deterministic bytes: ``svg.hashsalt`` is the chart's key, no date is written, no metadata is
kept, and text stays text (``svg.fonttype: none``), so the same chart gives the same SVG. The
SVG is made to live inside a page: its ids are prefixed with the chart key (several charts
share one document), its global ``<style>`` is dropped (the site's CSS carries it), the
background is transparent and text and lines are drawn in ``currentColor``, so one SVG reads
in the light and the dark theme alike.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from ..errors import MissingExtraError
from .charts import Bar, BarChart, Heatmap, Mark, Panel

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["FG", "inline_svg", "require_matplotlib", "svg_of"]

#: Stand-in colours replaced after drawing: text and lines, and the page background.
FG = "#010203"
BG = "#fcfdfe"
_PX = 72.0  # dpi: one point is one CSS pixel
_WIDTH = 940.0
_CHAR = 7.0  # mean width of a 12 px DejaVu Sans character, in px
_ROW = 30.0
_AXIS_H = 58.0  # tick labels and the axis label under a panel
#: Text colour on a filled bar, by fill (dark fills get white text); the rest: FG.
_WHITE_ON = {"#0072B2", "#009E73", "#D55E00", "#56789A"}


def require_matplotlib() -> None:
    """Raise MissingExtraError (naming the plots extra) when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingExtraError("matplotlib", "plots", "the site's charts") from None


@contextmanager
def _style(key: str) -> Iterator[None]:
    import matplotlib

    rc = {
        "svg.fonttype": "none",
        "svg.hashsalt": key,
        "font.family": "DejaVu Sans",
        "font.size": 12,
        "text.color": FG,
        "axes.labelcolor": FG,
        "axes.edgecolor": FG,
        "xtick.color": FG,
        "ytick.color": FG,
        "grid.color": FG,
        "grid.alpha": 0.22,
        "hatch.color": FG,
        "hatch.linewidth": 0.7,
        "axes.facecolor": "none",
        "figure.facecolor": "none",
        "savefig.facecolor": "none",
        "savefig.edgecolor": "none",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "text.parse_math": False,
    }
    with matplotlib.rc_context(cast(Any, rc)):
        yield


def _tx(text: str) -> str:
    return text.replace("$", r"\$")  # never mathtext, whatever a card says


def _wrap(text: str, width: int = 40) -> str:
    lines = textwrap.wrap(text, width) or [""]
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), width, placeholder=" …")]
    return _tx("\n".join(lines))


def _save(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, dpi=_PX)
    return buf.getvalue()


# --- bar charts -----------------------------------------------------------------------------


def _panel_height(panel: Panel) -> float:
    return len(panel.bars) * _ROW + _AXIS_H


def _draw_stacked(ax: Axes, panel: Panel, width_px: float) -> None:
    ys = list(range(len(panel.bars)))[::-1]
    segs = [(y, left, m) for y, b in zip(ys, panel.bars, strict=True) for left, m in _lefts(b)]
    colours = [m.colour for _, _, m in segs]
    bars = ax.barh(
        [y for y, _, _ in segs],
        [m.value for _, _, m in segs],
        left=[left for _, left, _ in segs],
        height=0.7,
        color=colours,
        hatch=["///" if m.hatched else None for _, _, m in segs],
        edgecolor=BG,
        linewidth=1.2,
    )
    for patch, (y, left, m), colour in zip(bars, segs, colours, strict=True):
        if m.faint:
            patch.set_alpha(0.45)
        text = f"{m.label} {m.shown}"
        if len(text) * _CHAR + 6 > m.value * width_px:
            text = m.shown
        if len(text) * _CHAR + 6 <= m.value * width_px:
            ink = "white" if colour in _WHITE_ON else "black"
            ink = FG if m.faint else ink
            box = {"facecolor": colour, "edgecolor": "none", "pad": 1.0} if m.hatched else None
            ax.text(
                left + m.value / 2,
                y,
                _tx(text),
                ha="center",
                va="center",
                color=ink,
                fontsize=11,
                bbox=box,
            )
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xlabel(
        panel.xlabel or f"share of the population ({panel.metric}, shown in {panel.unit})"
    )


def _lefts(bar: Bar) -> list[tuple[float, Mark]]:
    out, left = [], 0.0
    for m in bar.marks:
        out.append((left, m))
        left += m.value
    return out


def _value_text(m: Mark) -> str:
    return f"{m.shown}  {m.tag}" if m.tag else m.shown


def _draw_plain(ax: Axes, panel: Panel) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

    ys = list(range(len(panel.bars)))[::-1]
    marks = [b.marks[0] for b in panel.bars]
    ax.barh(
        ys,
        [m.value for m in marks],
        height=0.7,
        color=[m.colour for m in marks],
        hatch=["///" if m.hatched else None for m in marks],
        edgecolor=FG,
        linewidth=0.5,
    )
    for y, m in zip(ys, marks, strict=True):
        ax.annotate(
            _tx(_value_text(m)),
            (m.value, y),
            xytext=(4 if m.value >= 0 else -4, 0),
            textcoords="offset points",
            va="center",
            ha="left" if m.value >= 0 else "right",
            fontsize=11,
        )
    values = [m.value for m in marks]
    lo, hi = min(0.0, *values), max(0.0, *values)
    if panel.log:
        ax.set_xscale("log")
        ax.set_xlim(min(values) / 2, max(values) * max(3.0, (max(values) / min(values)) ** 0.3))
        ax.xaxis.set_major_locator(LogLocator(numticks=6))
        ax.xaxis.set_major_formatter(FuncFormatter(_compact))
    elif panel.unit in ("fraction", "index_0_1"):
        ax.set_xlim(min(lo * 1.3, 0.0), 1.3)
        ax.xaxis.set_major_locator(MaxNLocator(6))
    else:
        span = (hi - lo) or 1.0
        ax.set_xlim(lo - (0.4 * span if lo < 0 else 0.0), hi + 0.4 * span)
        ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_minor_locator(NullLocator())
    if lo < 0:
        ax.axvline(0, color=FG, linewidth=0.8)
    scale = ", log scale" if panel.log else ""
    ax.set_xlabel(panel.xlabel or f"{panel.metric} ({panel.unit}){scale}")


def _compact(value: float, _pos: object = None) -> str:
    """A log-axis tick: 10, 100, 1k, 10k, 1M, 1G."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _row_labels(ax: Axes, labels: list[str]) -> None:
    """Row labels as plain text left of the axes (cheaper than tick objects)."""
    ax.set_yticks([])
    transform = ax.get_yaxis_transform()
    for y, label in zip(range(len(labels))[::-1], labels, strict=True):
        ax.text(-0.01, y, label, transform=transform, ha="right", va="center", fontsize=12)


def _bar_figure(chart: BarChart) -> Figure:
    from matplotlib.figure import Figure

    labels = [_wrap(b.label) for p in chart.panels for b in p.bars]
    longest = max((len(line) for lab in labels for line in lab.split("\n")), default=4)
    label_w = min(0.4 * _WIDTH, longest * _CHAR + 16)
    heights = [_panel_height(p) for p in chart.panels]
    total = sum(heights) + 6.0
    fig = Figure(figsize=(_WIDTH / _PX, total / _PX), dpi=_PX)
    top = total - 6.0
    for panel, h in zip(chart.panels, heights, strict=True):
        plot_h = h - _AXIS_H
        rect = (
            label_w / _WIDTH,
            (top - plot_h) / total,
            (_WIDTH - label_w - 14) / _WIDTH,
            plot_h / total,
        )
        ax = fig.add_axes(rect)
        if panel.stacked:
            _draw_stacked(ax, panel, rect[2] * _WIDTH)
        else:
            _draw_plain(ax, panel)
        ax.set_ylim(-0.6, len(panel.bars) - 0.4)
        _row_labels(ax, [_wrap(b.label) for b in panel.bars])
        ax.spines["left"].set_visible(False)
        ax.grid(axis="x")
        ax.set_axisbelow(True)
        top -= h
    return fig


# --- heatmaps -------------------------------------------------------------------------------


def _heatmap_figure(h: Heatmap) -> Figure:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    rows = [_wrap(r) for r in h.rows]
    label_w = min(0.4 * _WIDTH, max(len(x) for r in rows for x in r.split("\n")) * _CHAR + 16)
    plot_w = min(_WIDTH - label_w - 130.0, max(170.0, 150.0 * len(h.columns)))
    width = label_w + plot_w + 130.0
    bottom = max(len(c) for c in h.columns) * _CHAR * 0.55 + 48.0
    total = len(rows) * 34.0 + bottom + 12.0
    fig = Figure(figsize=(width / _PX, total / _PX), dpi=_PX)
    ax = fig.add_axes(
        (label_w / width, bottom / total, plot_w / width, (total - bottom - 8) / total)
    )
    values = [m.value for row in h.cells for m in row if m is not None]
    lo, hi = min(values), max(values)
    norm = Normalize(lo, hi) if hi > lo else Normalize(lo - 1, hi + 1)
    _cells(ax, h, norm, colormaps["viridis"])
    ax.set_xlim(-0.5, len(h.columns) - 0.5)
    ax.set_ylim(-0.5, len(h.rows) - 0.5)
    ax.set_xticks(range(len(h.columns)), [_tx(c) for c in h.columns], rotation=30, ha="right")
    ax.set_yticks(range(len(rows))[::-1], rows)
    ax.tick_params(length=0)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("target: tested on")
    if hi > lo:  # one value needs no scale
        cax = fig.add_axes(
            (
                (label_w + plot_w + 18) / width,
                bottom / total,
                12 / width,
                (total - bottom - 8) / total,
            )
        )
        bar = fig.colorbar(
            ScalarMappable(norm, colormaps["viridis"]), cax=cax, label=_tx(f"{h.metric} ({h.unit})")
        )
        if bar.solids is not None:
            bar.solids.set_rasterized(False)  # vector, not an embedded PNG
    return fig


def _cells(ax: Axes, h: Heatmap, norm: Any, cmap: Any) -> None:
    from matplotlib.patches import Rectangle

    for i, row in enumerate(h.cells):
        for j, m in enumerate(row):
            if m is None:
                continue
            y = len(h.cells) - 1 - i
            ax.add_patch(
                Rectangle(
                    (j - 0.5, y - 0.5),
                    1,
                    1,
                    facecolor=cmap(norm(m.value)),
                    edgecolor=BG,
                    linewidth=1.5,
                )
            )
            if m.hatched:
                ax.add_patch(
                    Rectangle(
                        (j - 0.5, y - 0.5), 1, 1, fill=False, hatch="//", edgecolor=FG, linewidth=0
                    )
                )
            ink = "white" if norm(m.value) < 0.6 else "black"
            ax.text(j, y, _tx(m.shown), ha="center", va="center", color=ink, fontsize=11)


# --- SVG for a page -------------------------------------------------------------------------


def svg_of(chart: BarChart | Heatmap) -> str:
    """The chart as an SVG element ready to put in a page (see :func:`inline_svg`)."""
    require_matplotlib()
    with _style(chart.key):
        fig = _bar_figure(chart) if isinstance(chart, BarChart) else _heatmap_figure(chart)
        raw = _save(fig)
    return inline_svg(raw, chart.key, chart.title, chart.description())


_ROOT = re.compile(r'<svg [^>]*viewBox="0 0 ([0-9.]+) ([0-9.]+)"[^>]*>')


def inline_svg(raw: str, key: str, title: str, description: str) -> str:
    """matplotlib's SVG document as an element of an HTML page: prolog, metadata and the global
    style dropped, ids prefixed with ``key`` (unreferenced ones removed), stand-in colours
    replaced by the theme's, and a ``<title>`` and ``<desc>`` as its text alternative."""
    from markupsafe import escape

    svg = raw[raw.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r"\s*<defs>\s*<style[^>]*>.*?</style>\s*</defs>", "", svg, flags=re.S)
    used = set(re.findall(r"url\(#([^)]+)\)", svg)) | set(re.findall(r'href="#([^"]+)"', svg))

    def rename(m: re.Match[str]) -> str:
        return f' id="{key}-{m.group(1)}"' if m.group(1) in used else ""

    svg = re.sub(r' id="([^"]+)"', rename, svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{key}-{m.group(1)})", svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{key}-{m.group(1)}"', svg)
    svg = svg.replace(FG, "currentColor").replace(BG, "var(--bg)")
    match = _ROOT.search(svg)
    if match is None:
        raise ValueError("matplotlib wrote an SVG without a viewBox")  # a bug, not user input
    w, h = match.group(1), match.group(2)
    root = (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-labelledby="{key}-title {key}-desc">'
        f'<title id="{key}-title">{escape(title)}</title><desc id="{key}-desc">'
        f"{escape(description)}</desc>"
    )
    return root + svg[match.end() :].rstrip() + "\n"
