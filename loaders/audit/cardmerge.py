"""``--update-card``: merge computed figures into a card file, keeping everything else.

Earlier figures computed by the same tool (provenance ``computed``, ``tool`` starting with
``visiondata``, citing the same reference key) are replaced; declared, measured and other
computed figures stay, byte for byte. A ``references`` entry for the run is added or replaced.
The file is edited as text (only the ``figures`` and ``references`` blocks change, comments
and layout elsewhere survive); if its layout is unusual (flow-style blocks) the whole card is
re-dumped instead. The result is validated before it is written, atomically.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from visiondata.registry.errors import CardValidationError
from visiondata.registry.files import write_atomic
from visiondata.registry.schema import Figure
from visiondata.registry.validate import parse_card_text

__all__ = ["merge_figures", "merge_figures_text"]

_TOP = re.compile(r"^[A-Za-z_][\w-]*\s*:")


def _dump(obj: Any, indent: int) -> list[str]:
    text = yaml.safe_dump(
        obj, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )
    pad = " " * indent
    return [pad + line if line else line for line in text.splitlines()]


def _flow(value: Any) -> str:
    """One value in YAML flow style on one line (mappings as ``{a: 1, b: x}``)."""
    text: str = yaml.safe_dump(
        [value], default_flow_style=True, allow_unicode=True, width=10**9, sort_keys=False
    )
    return text.strip()[1:-1]


def _dump_figures(figures: list[dict[str, Any]], indent: int) -> list[str]:
    """Figures in the cards' compact layout: one line per field, nested mappings in flow style."""
    pad = " " * indent
    lines = []
    for fig in figures:
        for n, (key, value) in enumerate(fig.items()):
            lead = "- " if n == 0 else "  "
            lines.append(f"{pad}{lead}{key}: {_flow(value)}")
    return lines


def _compact(fig: Figure) -> dict[str, Any]:
    data: dict[str, Any] = fig.model_dump(mode="json", exclude_none=True)
    if data.get("bound") == "exact":
        del data["bound"]
    if float(data["value"]).is_integer():
        data["value"] = int(data["value"])
    return data


def _blocks(lines: list[str]) -> dict[str, tuple[int, int]]:
    """Top-level key -> (first line, end line exclusive)."""
    starts = [(i, ln.split(":", 1)[0].strip()) for i, ln in enumerate(lines) if _TOP.match(ln)]
    out = {}
    for n, (i, key) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        while end > i + 1 and not lines[end - 1].strip():
            end -= 1
        out[key] = (i, end)
    return out


def _chunks(
    lines: list[str], start: int, end: int, item: re.Pattern[str]
) -> list[tuple[int, int]] | None:
    """Line ranges of the items of a block (list items or mapping keys), or None if unusual."""
    heads = [i for i in range(start + 1, end) if item.match(lines[i])]
    if not heads and any(
        lines[i].strip() and not lines[i].lstrip().startswith("#") for i in range(start + 1, end)
    ):
        return None
    return [(h, heads[n + 1] if n + 1 < len(heads) else end) for n, h in enumerate(heads)]


def _is_ours(fig: Any, citation: str) -> bool:
    prov = fig.get("provenance") if isinstance(fig, dict) else None
    return (
        isinstance(prov, dict)
        and prov.get("kind") == "computed"
        and prov.get("citation") == citation
        and str(prov.get("tool", "")).startswith("visiondata")
    )


def merge_figures_text(
    text: str, figures: Sequence[Figure], *, citation: str, reference: dict[str, Any]
) -> str:
    """The card text with ``figures`` merged in and ``references[citation]`` set."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("a card is a mapping of fields")
    old = data.get("figures") or []
    drop = {i for i, f in enumerate(old) if _is_ours(f, citation)}
    new = [_compact(f) for f in figures]
    lines = text.splitlines()
    blocks = _blocks(lines)
    spliced = _splice(
        lines, blocks, drop, new, citation, reference, has_refs=bool(data.get("references"))
    )
    if spliced is not None:
        return spliced
    # unusual layout: re-dump the whole card
    data["figures"] = [f for i, f in enumerate(old) if i not in drop] + new
    refs = dict(data.get("references") or {})
    refs[citation] = reference
    data["references"] = refs
    return "\n".join(_dump(data, 0)) + "\n"


def _splice(
    lines: list[str],
    blocks: dict[str, tuple[int, int]],
    drop: set[int],
    new: list[dict[str, Any]],
    citation: str,
    reference: dict[str, Any],
    *,
    has_refs: bool,
) -> str | None:
    if "references" not in blocks or not has_refs:
        return None
    edits: list[tuple[int, int, list[str]]] = []  # (start, end, replacement)
    r0, r1 = blocks["references"]
    rest = lines[r0].split(":", 1)[1].strip()
    if rest and not rest.startswith("#"):  # a flow mapping: block lines after it are not YAML
        return None
    ref_items = _chunks(lines, r0, r1, re.compile(r"^  [^\s#-][^:]*:"))
    if ref_items is None:
        return None
    ref_lines = _dump({citation: reference}, 2)
    mine = [c for c in ref_items if lines[c[0]].strip().split(":", 1)[0].strip("'\"") == citation]
    if mine:
        edits.append((mine[0][0], mine[0][1], ref_lines))
    else:
        edits.append((r1, r1, ref_lines))
    fig_lines = _dump_figures(new, 2)
    if "figures" in blocks:
        f0, f1 = blocks["figures"]
        if lines[f0].split(":", 1)[1].strip() not in ("", "[]"):
            return None
        items = _chunks(lines, f0, f1, re.compile(r"^  - "))
        if items is None:
            return None
        if lines[f0].split(":", 1)[1].strip() == "[]":
            edits.append((f0, f0 + 1, ["figures:"]))
        for i, (a, b) in enumerate(items):
            if i in drop:
                edits.append((a, b, []))
        edits.append((f1, f1, fig_lines))
    elif new:
        end = len(lines)
        edits.append((end, end, ["figures:", *fig_lines]))
    out = list(lines)
    for a, b, repl in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out[a:b] = repl
    return "\n".join(out) + "\n"


def merge_figures(
    card_file: str | Path, figures: Sequence[Figure], *, citation: str, reference: dict[str, Any]
) -> Path:
    """Merge into ``card_file`` in place; raises :class:`CardValidationError` (and writes
    nothing) if the merged card would not validate."""
    path = Path(card_file)
    text = path.read_text(encoding="utf-8")
    merged = merge_figures_text(text, figures, citation=citation, reference=reference)
    parsed = parse_card_text(merged, str(path), expect_id=path.stem)
    if parsed.problems:
        raise CardValidationError(parsed.problems)
    write_atomic(path, merged.encode("utf-8"), mode=stat.S_IMODE(path.stat().st_mode))
    return path
