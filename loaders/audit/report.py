"""``--report DIR``: ``audit.json`` and ``audit.html`` (plots as base64 PNGs, no other files)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from .audit import AuditResult
from .figures import audit_figures, split_summary
from .scan import read_sample

__all__ = ["MAX_PAIRS_SHOWN", "audit_json", "write_report"]

MAX_PAIRS_SHOWN = 12


def audit_json(result: AuditResult) -> dict[str, Any]:
    """The whole audit as plain JSON data (summary per split, duplicate pairs, figures)."""
    d = result.dedup
    return {
        "source": result.source,
        "manifest_sha256": result.manifest_sha256,
        "card": result.manifest.card,
        "tool": result.tool,
        "date": result.date,
        "seconds": round(result.seconds, 3),
        "parameters": result.options.parameters(),
        "splits": {s: split_summary(result, s) for s in result.stats},
        "duplicate_pairs": [vars(p) for p in d.pairs],
        "notes": result.notes,
        "figures": [f.model_dump(mode="json", exclude_none=True) for f in audit_figures(result)],
    }


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(data: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _class_plot(hist: dict[str, int], title: str) -> str:
    import matplotlib.pyplot as plt

    items = sorted(hist.items(), key=lambda kv: -kv[1])[:60]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.22 * len(items) + 2), 3.2))
    ax.bar(range(len(items)), [v for _, v in items], color="#4878a8")
    ax.set_xticks(range(len(items)))
    ax.set_xticklabels([k for k, _ in items], rotation=90, fontsize=7)
    ax.set_title(title + (" (60 largest)" if len(hist) > 60 else ""))
    ax.set_ylabel("count")
    return _png(fig)


def _size_plot(result: AuditResult, split: str) -> str:
    import matplotlib.pyplot as plt

    st = result.stats[split]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    for ax, counter, label in (
        (axes[0], st.widths, "width (px)"),
        (axes[1], st.heights, "height (px)"),
    ):
        if counter:
            ax.hist(list(counter), weights=list(counter.values()), bins=30, color="#4878a8")
        ax.set_xlabel(label)
        ax.set_ylabel("images")
    if st.size_bins:
        xs = [2 ** (b / 8) / 1024 for b in st.size_bins]
        axes[2].hist(xs, weights=list(st.size_bins.values()), bins=30, color="#6a9f58")
    axes[2].set_xlabel("file size (KiB)")
    fig.suptitle(f"split {split}: image sizes")
    return _png(fig)


def _thumb(
    result: AuditResult, split: str, key: str, index: dict[tuple[str, str], tuple[int, int]]
) -> Any:
    from PIL import Image

    from ..shards.members import image_field

    shard, offset = index[(split, key)]
    members = read_sample(result.shard_paths[split][shard], offset, key)
    ext = image_field(members)
    assert ext is not None  # only images that were hashed are shown
    im = Image.open(io.BytesIO(members[ext])).convert("RGB")
    im.thumbnail((160, 160))
    return im


def _pairs_plot(result: AuditResult) -> str | None:
    import matplotlib.pyplot as plt

    pairs = sorted(result.dedup.pairs, key=lambda p: (p.split_a == p.split_b, p.kind == "exact"))
    pairs = pairs[:MAX_PAIRS_SHOWN]
    if not pairs:
        return None
    index = {(s, r.key): (r.shard, r.offset) for s, rows in result.rows.items() for r in rows}
    fig, axes = plt.subplots(len(pairs), 2, figsize=(4.4, 2.2 * len(pairs)), squeeze=False)
    for row, p in zip(axes, pairs, strict=True):
        sides = ((p.split_a, p.key_a, ""), (p.split_b, p.key_b, f"\n{p.kind}, {p.distance} bits"))
        for ax, (split, key, extra) in zip(row, sides, strict=True):
            try:
                ax.imshow(_thumb(result, split, key, index))
            except (OSError, ValueError, KeyError, StopIteration):
                ax.text(0.5, 0.5, "(not readable)", ha="center")
            ax.set_title(f"{split}/{key}{extra}", fontsize=7)
            ax.axis("off")
    return _png(fig)


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def write_report(result: AuditResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``audit.json`` and ``audit.html`` into ``out_dir``; returns both paths."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = audit_json(result)
    json_path = out / "audit.json"
    json_path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    parts = [
        "<!doctype html><meta charset='utf-8'><title>visiondata audit</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "text-align:left;font-size:13px}</style>",
        f"<h1>Audit of {html.escape(result.source)}</h1>",
        _table(
            [
                ("tool", result.tool),
                ("date", result.date),
                ("manifest sha256", result.manifest_sha256),
                ("card", result.manifest.card or "-"),
                ("parameters", json.dumps(result.options.parameters())),
                ("seconds", f"{result.seconds:.2f}"),
            ]
        ),
    ]
    for split, s in data["splits"].items():
        ip = s["image_properties"]
        parts.append(f"<h2>Split {html.escape(split)}</h2>")
        rows: list[tuple[str, Any]] = [("samples", s["samples"])]
        for key in ("classes", "instances"):
            if key in s:
                rows += [
                    (f"{key}: imbalance ratio", f"{s[key]['imbalance_ratio']:.3f}"),
                    (f"{key}: Gini", f"{s[key]['gini']:.3f}"),
                    (f"{key}: normalized entropy", f"{s[key]['entropy_norm']:.3f}"),
                    (f"{key}: effective classes", f"{s[key]['effective_classes']:.2f}"),
                ]
        rows += [
            (
                "width min/median/max",
                f"{ip['width']['min']} / {ip['width']['median']} / {ip['width']['max']}",
            ),
            (
                "height min/median/max",
                f"{ip['height']['min']} / {ip['height']['median']} / {ip['height']['max']}",
            ),
            ("grayscale", ip["grayscale"]),
            ("formats", ip["formats"]),
            (
                "undecodable",
                ", ".join(f"{u['key']} ({u['reason']})" for u in ip["undecodable_keys"]) or "none",
            ),
        ]
        if "refused" in s:
            rf = s["refused"]
            rows.append(
                (
                    "refused by the member policy",
                    f"{rf['count']}: "
                    + ", ".join(f"{u['key']} ({u['reason']})" for u in rf["keys"][:50]),
                )
            )
        if "duplicates" in s:
            d = s["duplicates"]
            rows += [
                ("exact duplicate rate", f"{d['exact_rate']:.4f}"),
                ("near duplicate rate", f"{d['near_rate']:.4f}"),
            ]
        if "leakage" in s:
            lk = s["leakage"]
            rows.append(
                (
                    f"also in {lk['reference']}",
                    f"{lk['count']} ({lk['share']:.2%}): "
                    + ", ".join(x["key"] for x in lk["keys"][:50]),
                )
            )
        parts.append(_table(rows))
        for key, title in (("classes", "class histogram"), ("instances", "instances per class")):
            if key in s:
                parts.append(_img(_class_plot(s[key]["histogram"], f"{split}: {title}"), title))
        if result.stats[split].images:
            parts.append(_img(_size_plot(result, split), "size distribution"))
        if "attributes" in s:
            parts.append(f"<pre>{html.escape(json.dumps(s['attributes'], indent=1))}</pre>")
    pairs = _pairs_plot(result)
    parts.append("<h2>Duplicate pairs</h2>")
    parts.append(_img(pairs, "duplicate pairs") if pairs else "<p>none found</p>")
    parts.append(
        f"<h2>Figures ({len(data['figures'])})</h2><pre>{html.escape(json.dumps(data['figures'][:400], indent=1))}</pre>"
    )
    html_path = out / "audit.html"
    html_path.write_text("\n".join(parts), encoding="utf-8")
    return json_path, html_path


def render_text(result: AuditResult) -> str:
    """A short plain-text summary for the terminal."""
    lines = [
        f"audit of {result.source} ({result.tool}, {result.date}); manifest sha256 {result.manifest_sha256[:16]}...",
        f"{result.total_samples} samples in {len(result.stats)} split(s), {result.seconds:.1f} s",
    ]
    for split in result.stats:
        s = split_summary(result, split)
        ip = s["image_properties"]
        lines += ["", f"[{split}] {s['samples']} samples, {s['images']} images"]
        for key in ("classes", "instances"):
            if key in s:
                c = s[key]
                lines.append(
                    f"  {key}: {len(c['histogram'])} classes ({int(c['empty_classes'])} empty); "
                    f"imbalance {c['imbalance_ratio']:.2f}, Gini {c['gini']:.3f}, "
                    f"entropy {c['entropy_norm']:.3f}, effective {c['effective_classes']:.2f}"
                )
        if "instances" in s:
            lines.append(
                f"  instances: {s['instances']['total']} in {s['instances']['annotated_images']} images, "
                f"{s['instances']['per_image_mean']:.2f} per image (max {s['instances']['per_image_max']})"
            )
        w, h = ip["width"], ip["height"]
        if w["median"] is not None:
            lines.append(
                f"  size: width {w['min']}..{w['max']} (median {w['median']:g}), "
                f"height {h['min']}..{h['max']} (median {h['median']:g}); "
                f"mean file {ip['bytes']['mean'] / 1024:.1f} KiB; formats {ip['formats']}; "
                f"grayscale {ip['grayscale']}"
            )
        bad = ip["undecodable_keys"]
        lines.append(
            f"  undecodable: {ip['undecodable']}"
            + (": " + ", ".join(u["key"] for u in bad[:10]) if bad else "")
        )
        if "refused" in s:
            rf = s["refused"]
            more = rf["count"] - len(rf["keys"][:3])
            lines.append(
                f"  refused: {rf['count']} sample(s) by the member policy, in no other count: "
                + "; ".join(f"{u['key']} ({u['reason']})" for u in rf["keys"][:3])
                + (f"; and {more} more" if more else "")
            )
        if "duplicates" in s:
            d = s["duplicates"]
            other = ", ".join(f"{n} in {o}" for o, n in d["found_in_other_splits"].items())
            lines.append(
                f"  duplicates: exact {d['exact_extra']} ({d['exact_rate']:.2%}), "
                f"near {d['near_extra']} ({d['near_rate']:.2%})"
                + (f"; also found: {other}" if other else "")
            )
        if "leakage" in s:
            lk = s["leakage"]
            keys = ", ".join(x["key"] for x in lk["keys"][:10])
            lines.append(
                f"  split leakage: {lk['count']} of {s['samples']} ({lk['share']:.2%}) also in "
                f"{lk['reference']}" + (f": {keys}" if keys else "")
            )
        if "attributes" in s:
            for name, values in s["attributes"]["categorical"].items():
                lines.append(f"  {name}: {values}")
    return "\n".join(lines + result.notes)
