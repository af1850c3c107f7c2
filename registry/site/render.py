"""Pages from templates: the Jinja environment (autoescaping every value), its filters, and
the data each page gets. Card text is contributed text: it only ever reaches a page escaped."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..vocab import VOCABULARIES
from .charts import PROVENANCE_COLOURS, STATUS_COLOURS
from .model import BOUND_MARK, format_value, safe_url, slug

if TYPE_CHECKING:
    import jinja2

__all__ = ["NAV", "SiteInfo", "cell", "environment", "require_jinja", "script_json"]

#: The site's navigation: page path (from the site's root) and label.
NAV = (
    ("index.html", "Cards"),
    ("axes/index.html", "Axes"),
    ("health.html", "Catalogue health"),
    ("query.html", "SQL"),
    ("contribute.html", "Contribute"),
)
_STATUS_SYMBOL = {"verified": "✓", "secondary": "≈", "unverified": "?", "disputed": "⚠"}
_COMMERCIAL_SYMBOL = {"allowed": "✓", "prohibited": "✗", "unclear": "?"}


@dataclass(frozen=True)
class SiteInfo:
    """What every page shows in its frame."""

    version: str
    card_count: int
    nav: tuple[tuple[str, str], ...] = field(default=NAV)


def require_jinja() -> None:
    from ..errors import MissingExtraError

    try:
        import jinja2  # noqa: F401
    except ImportError:
        raise MissingExtraError("jinja2", "plots", "rendering the site's pages") from None


def script_json(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (no ``<``, ``>``, ``&``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def cell(value: Any) -> str:
    """A query result value as table text (NULL empty, floats in 6 significant digits)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def _thousands(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _describe(vocabulary: str, term: str) -> str:
    return VOCABULARIES[vocabulary].get(term, "")


def environment() -> jinja2.Environment:
    """The templates' environment: autoescape on for every template, undefined names fail."""
    require_jinja()
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("visiondata.registry.site", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(thousands=_thousands, percent=_percent, url=safe_url, slug=slug, cell=cell)
    env.globals.update(
        describe=_describe,
        status_symbol=lambda s: _STATUS_SYMBOL.get(s, "–"),
        commercial_symbol=lambda s: _COMMERCIAL_SYMBOL.get(s, ""),
        bound_mark=lambda b: BOUND_MARK.get(b, ""),
        value=format_value,
        provenance_colours=PROVENANCE_COLOURS,
        status_colours=STATUS_COLOURS,
        card_columns=frozenset({"id", "card_id", "card", "source", "target", "target_card"}),
    )
    return env


def page(env: jinja2.Environment, template: str, path: str, site: SiteInfo, **context: Any) -> str:
    """One page's HTML; ``path`` (from the site's root) sets the relative prefix of its links."""
    root = "../" * path.count("/")
    return env.get_template(template).render(site=site, page=path, root=root, **context)


def known_ids(rows: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    return frozenset(str(r["id"]) for r in rows)
