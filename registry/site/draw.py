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
import math
import re
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..errors import MissingExtraError
from .charts import BarChart, Heatmap, Mark, Panel

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
        raise MissingExtraError("matplotlib", "plots", "drawing the site's charts") from None


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


@dataclass(frozen=True)
class _Scale:
    """A panel's value axis: values ``lo..hi`` (logarithmic or not) onto pixels ``left..right``."""

    lo: float
    hi: float
    left: float
    right: float
    log: bool = False

    def __call__(self, value: float) -> float:
        if self.log:
            a, b, v = math.log10(self.lo), math.log10(self.hi), math.log10(max(value, self.lo))
        else:
            a, b, v = self.lo, self.hi, value
        return self.left + (v - a) / ((b - a) or 1.0) * (self.right - self.left)

    def ticks(self) -> list[tuple[float, str]]:
        from matplotlib.ticker import LogLocator, MaxNLocator

        if self.log:
            values = LogLocator(numticks=6).tick_values(self.lo, self.hi)
            return [(v, _compact(v)) for v in values if self.lo <= v <= self.hi]
        values = MaxNLocator(6 if self.hi - self.lo <= 1.5 else 5).tick_values(self.lo, self.hi)
        return [(v, f"{v:,.10g}") for v in values if self.lo - 1e-9 <= v <= self.hi + 1e-9]


def _scale(panel: Panel, left: float, right: float) -> _Scale:
    if panel.stacked:
        return _Scale(0.0, 1.0, left, right)
    values = [b.marks[0].value for b in panel.bars]
    lo, hi = min(0.0, *values), max(0.0, *values)
    if panel.log:
        top = max(values) * max(3.0, (max(values) / min(values)) ** 0.3)
        return _Scale(min(values) / 2, top, left, right, log=True)
    if panel.unit in ("fraction", "index_0_1"):
        return _Scale(min(lo * 1.3, 0.0), 1.3, left, right)
    span = (hi - lo) or 1.0
    return _Scale(lo - (0.4 * span if lo < 0 else 0.0), hi + 0.4 * span, left, right)


def _compact(value: float) -> str:
    """A log-axis tick: 10, 100, 1k, 10k, 1M, 1G."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


class _Canvas:
    """A figure drawn on in pixels, y down, with no Axes (so no tick machinery): text, line
    segments and boxes, each a figure-level artist."""

    def __init__(self, width: float, height: float) -> None:
        from matplotlib.figure import Figure
        from matplotlib.transforms import Affine2D

        self.fig = Figure(figsize=(width / _PX, height / _PX), dpi=_PX)
        self.t = Affine2D().scale(1.0, -1.0).translate(0.0, height)

    def text(self, x: float, y: float, text: str, **kwargs: Any) -> None:
        self.fig.text(x, y, text, transform=self.t, **kwargs)

    def lines(
        self, segments: list[tuple[tuple[float, float], tuple[float, float]]], **kwargs: Any
    ) -> None:
        from matplotlib.collections import LineCollection

        if segments:
            self.fig.add_artist(LineCollection(segments, transform=self.t, colors=FG, **kwargs))

    def boxes(self, rows: list[tuple[float, float, float, Mark]], edge: str, width: float) -> None:
        """Bars from ``(y, x0, x1, mark)``: one collection of plain and one of hatched ones."""
        from matplotlib.collections import PatchCollection
        from matplotlib.colors import to_rgba
        from matplotlib.patches import Rectangle

        h = 0.7 * _ROW
        for hatched in (False, True):
            chosen = [r for r in rows if r[3].hatched == hatched]
            if not chosen:
                continue
            patches = [Rectangle((x0, y - h / 2), x1 - x0, h) for y, x0, x1, _ in chosen]
            faces = [to_rgba(m.colour, 0.45 if m.faint else 1.0) for *_, m in chosen]
            self.fig.add_artist(
                PatchCollection(
                    patches,
                    facecolors=faces,
                    edgecolors=edge,
                    linewidths=width,
                    hatch="///" if hatched else None,
                    transform=self.t,
                )
            )


def _draw_stacked(c: _Canvas, panel: Panel, x: _Scale, top: float) -> None:
    rows = []
    for i, bar in enumerate(panel.bars):
        y, left = top + (i + 0.5) * _ROW, 0.0
        for m in bar.marks:
            rows.append((y, x(left), x(left + m.value), m))
            left += m.value
    c.boxes(rows, BG, 1.2)
    for y, x0, x1, m in rows:
        text = f"{m.label} {m.shown}"
        if len(text) * _CHAR + 6 > x1 - x0:
            text = m.shown
        if len(text) * _CHAR + 6 > x1 - x0:
            continue
        ink = FG if m.faint else ("white" if m.colour in _WHITE_ON else "black")
        box = {"facecolor": m.colour, "edgecolor": "none", "pad": 1.0} if m.hatched else None
        c.text(
            (x0 + x1) / 2, y, _tx(text), ha="center", va="center", color=ink, fontsize=11, bbox=box
        )


def _value_text(m: Mark) -> str:
    return f"{m.shown}  {m.tag}" if m.tag else m.shown


def _draw_plain(c: _Canvas, panel: Panel, x: _Scale, top: float) -> None:
    base = x(x.lo if x.log else 0.0)
    rows = [
        (top + (i + 0.5) * _ROW, base, x(b.marks[0].value), b.marks[0])
        for i, b in enumerate(panel.bars)
    ]
    c.boxes(rows, FG, 0.5)
    for y, x0, x1, m in rows:
        right = x1 >= x0
        c.text(
            x1 + (4 if right else -4),
            y,
            _tx(_value_text(m)),
            va="center",
            ha="left" if right else "right",
            fontsize=11,
        )
    if x.lo < 0 < x.hi:
        c.lines([((base, top), (base, top + len(panel.bars) * _ROW))], linewidths=0.8)


def _frame(c: _Canvas, panel: Panel, x: _Scale, top: float, label_x: float) -> None:
    """Grid, baseline, tick labels, axis label and row labels of one panel."""
    bottom = top + len(panel.bars) * _ROW
    ticks = x.ticks()
    c.lines([((x(v), top), (x(v), bottom)) for v, _ in ticks], linewidths=0.8, alpha=0.22)
    marks = [((x(v), bottom), (x(v), bottom + 4)) for v, _ in ticks]
    c.lines([((x.left, bottom), (x.right, bottom)), *marks], linewidths=0.8)
    for v, text in ticks:
        c.text(x(v), bottom + 6, text, ha="center", va="top", fontsize=11)
    scale = ", log scale" if panel.log else ""
    default = (
        f"share of the population ({panel.metric}, shown in {panel.unit})"
        if panel.stacked
        else f"{panel.metric} ({panel.unit}){scale}"
    )
    c.text(
        (x.left + x.right) / 2,
        bottom + 24,
        _tx(panel.xlabel or default),
        ha="center",
        va="top",
        fontsize=12,
    )
    for i, bar in enumerate(panel.bars):
        c.text(
            label_x, top + (i + 0.5) * _ROW, _wrap(bar.label), ha="right", va="center", fontsize=12
        )


def _bar_figure(chart: BarChart) -> Figure:
    """Every panel drawn in pixels on one :class:`_Canvas`: a chart costs a few artists, and
    the layout is exactly what is computed here."""
    labels = [_wrap(b.label) for p in chart.panels for b in p.bars]
    longest = max((len(line) for lab in labels for line in lab.split("\n")), default=4)
    label_w = min(0.4 * _WIDTH, longest * _CHAR + 16)
    total = sum(_panel_height(p) for p in chart.panels) + 6.0
    c = _Canvas(_WIDTH, total)
    top = 6.0
    for panel in chart.panels:
        x = _scale(panel, label_w, _WIDTH - 14)
        _frame(c, panel, x, top, label_w - 8)
        (_draw_stacked if panel.stacked else _draw_plain)(c, panel, x, top)
        top += _panel_height(panel)
    return c.fig


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
