"""Turn an :class:`~.audit.AuditResult` into card ``Figure`` records (provenance ``computed``).

Every figure names the tool (``visiondata <version>``), cites the audit's reference entry
(:data:`CITATION_KEY`, added to the card by ``--update-card``), carries the date in
``as_of`` and, in its note, the manifest's sha256 and the parameters that shaped the number.
The locator says which split and which computation, so that shares of different attributes
(or attribute pairs) are never summed together by the card checks.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from visiondata.registry.schema import Figure

from .annotations import attribute_axis
from .audit import AuditResult
from .classstats import effective_classes, gini, imbalance_ratio, normalized_entropy
from .scan import SplitStats

__all__ = ["CITATION_KEY", "audit_figures", "class_histogram", "counter_median", "split_summary"]

CITATION_KEY = "visiondata_audit"
MAX_CLASS_FIGURES = 100


def counter_median(c: Mapping[Any, int]) -> float | None:
    """Median of the values counted in ``c`` (value -> multiplicity)."""
    total = sum(c.values())
    if total == 0:
        return None
    items = sorted(c.items())
    lo_rank, hi_rank = (total - 1) // 2, total // 2
    seen, lo = 0, 0.0
    found = False
    for value, n in items:
        if not found and seen + n > lo_rank:
            lo, found = float(value), True
        if seen + n > hi_rank:
            return (lo + float(value)) / 2
        seen += n
    return None  # pragma: no cover


def class_histogram(counts: Counter[str], declared: list[str] | None) -> dict[str, int]:
    """Counts for every declared class (zeros included), then any undeclared label seen."""
    out = {name: counts.get(name, 0) for name in declared or []}
    for name in sorted(counts):
        if name not in out:
            out[name] = counts[name]
    return out


def _balance(hist: Mapping[str, int]) -> dict[str, float]:
    values = list(hist.values())
    return {
        "imbalance_ratio": imbalance_ratio(values),
        "gini": gini(values),
        "entropy_norm": normalized_entropy(values),
        "effective_classes": effective_classes(values),
        "empty_classes": float(sum(1 for v in values if v == 0)),
    }


def split_summary(result: AuditResult, split: str) -> dict[str, Any]:
    """Every number of one split, for the JSON report (figures are drawn from this)."""
    st: SplitStats = result.stats[split]
    declared = result.manifest.classes
    out: dict[str, Any] = {"samples": st.samples, "images": st.images, "unlabelled": st.unlabelled}
    if st.classes:
        hist = class_histogram(st.classes, declared)
        out["classes"] = {"histogram": hist, **_balance(hist)}
    if st.annotated_images:
        inst = class_histogram(st.instances, declared)
        out["instances"] = {
            "annotated_images": st.annotated_images,
            "total": sum(st.instances.values()),
            "per_image_mean": sum(st.instances.values()) / st.annotated_images,
            "per_image_median": counter_median(st.instances_per_image),
            "per_image_max": max(st.instances_per_image),
            "per_image_histogram": {str(k): v for k, v in sorted(st.instances_per_image.items())},
            "histogram": inst,
            **_balance(inst),
        }
    decodable = st.images - st.undecodable_count
    out["image_properties"] = {
        "width": _dist(st.widths),
        "height": _dist(st.heights),
        "aspect": _dist(st.aspects),
        "bytes": {
            "mean": st.bytes_total / st.images if st.images else None,
            "min": st.bytes_min,
            "max": st.bytes_max,
            "total": st.bytes_total,
        },
        "grayscale": st.grayscale,
        "grayscale_share": st.grayscale / decodable if decodable else None,
        "formats": dict(st.formats.most_common()),
        "undecodable": st.undecodable_count,
        "undecodable_keys": [{"key": k, "reason": r} for k, r in st.undecodable],
        "without_image": st.no_image,
    }
    if st.refused_count:  # no facts were read, so no number above counts them: name them here
        out["refused"] = {
            "count": st.refused_count,
            "keys": [{"key": k, "reason": r} for k, r in st.refused],
        }
    if st.annotation_problems:
        out["annotation_problems"] = [{"key": k, "problem": p} for k, p in st.annotation_problems]
    d = result.dedup.per_split.get(split)
    if d is not None:
        out["duplicates"] = {
            "hashed": d.n,
            "exact_extra": d.exact_extra,
            "near_extra": d.near_extra,
            "exact_rate": d.exact_extra / d.n if d.n else 0.0,
            "near_rate": d.near_extra / d.n if d.n else 0.0,
            "found_in_other_splits": result.dedup.cross.get(split, {}),
        }
    if split in result.dedup.leaks:
        leaks = result.dedup.leaks[split]
        out["leakage"] = {
            "reference": result.dedup.reference,
            "count": len(leaks),
            "share": len(leaks) / st.samples if st.samples else 0.0,
            "keys": [vars(x) for x in leaks],
        }
    if st.attributed:
        out["attributes"] = {
            "samples_with_attributes": st.attributed,
            "categorical": {k: dict(v.most_common()) for k, v in sorted(st.attributes.items())},
            "intersections": {
                k: dict(v.most_common()) for k, v in sorted(st.intersections.items())
            },
            "binary": {k: v.get(True, 0) for k, v in sorted(st.binary.items())},
        }
    return out


def _dist(c: Mapping[Any, int]) -> dict[str, Any]:
    if not c:
        return {"min": None, "median": None, "max": None, "mean": None}
    total = sum(c.values())
    return {
        "min": min(c),
        "median": counter_median(c),
        "max": max(c),
        "mean": sum(k * n for k, n in c.items()) / total,
    }


class _Builder:
    def __init__(self, result: AuditResult) -> None:
        self.r = result
        self.figures: list[Figure] = []
        params = ", ".join(f"{k}={v}" for k, v in result.options.parameters().items())
        self.base_note = f"manifest sha256 {result.manifest_sha256}; {params}"

    def _id(self, split: str, axis: str, metric: str, category: str | None) -> str:
        """A stable figure id: ``audit-<split>-<axis>-<metric>[-<category>]``, numbered on a
        clash (categories that slug alike)."""
        base = _slug(f"audit {split} {axis} {metric} {category or ''}") or "audit"
        taken = {f.id for f in self.figures}
        out, n = base, 1
        while out in taken:
            n += 1
            out = f"{base}-{n}"
        return out

    def add(
        self,
        axis: str,
        metric: str,
        unit: str,
        value: float,
        *,
        split: str,
        n: int,
        category: str | None = None,
        what: str = "",
        pop_unit: str = "image",
        note: str | None = None,
    ) -> None:
        r = self.r
        locator = f"visiondata audit, split {split}" + (f", {what}" if what else "")
        self.figures.append(
            Figure.model_validate(
                {
                    "id": self._id(split, axis, metric, category),
                    "axis": axis,
                    "metric": metric,
                    "category": category,
                    "unit": unit,
                    "value": round(float(value), 6),
                    "population": {"unit": pop_unit, "split": split, "n": n},
                    "provenance": {
                        "kind": "computed",
                        "citation": CITATION_KEY,
                        "locator": locator,
                        "as_of": r.date,
                        "tool": r.tool,
                    },
                    "verification": {
                        "status": "verified",
                        "note": f"computed from the shard files: {self.base_note}",
                    },
                    "note": note,
                }
            )
        )


def _slug(text: str) -> str:
    return "-".join(filter(None, re.split(r"[^a-z0-9]+", text.lower())))


def audit_figures(
    result: AuditResult, *, max_class_figures: int = MAX_CLASS_FIGURES
) -> list[Figure]:
    """All figures of an audit, split by split."""
    b = _Builder(result)
    for split in result.stats:
        st = result.stats[split]
        s = split_summary(result, split)
        n = st.samples
        b.add("coverage", "count", "count", n, split=split, n=n, category="samples", what="samples")
        if "refused" in s:
            refused = s["refused"]["count"]
            b.add(
                "coverage",
                "count",
                "count",
                refused,
                split=split,
                n=n + refused,
                category="refused samples",
                what="member policy",
                note="refused by the shard reader's member policy, so left out of every other "
                "figure; keys and reasons listed in the audit report",
            )
        for key, pop in (("classes", "image"), ("instances", "instance")):
            if key not in s:
                continue
            part = s[key]
            hist: dict[str, int] = part["histogram"]
            total = sum(hist.values())
            what = "class histogram" if key == "classes" else "instances per class"
            if len(hist) <= max_class_figures:
                for name, count in hist.items():
                    b.add(
                        "class_balance",
                        "count",
                        "count",
                        count,
                        split=split,
                        n=total,
                        category=f"{key}: {name}",
                        what=what,
                        pop_unit=pop,
                    )
            b.add(
                "class_balance",
                "imbalance_ratio",
                "ratio",
                part["imbalance_ratio"],
                split=split,
                n=total,
                category=key,
                what=what,
                pop_unit=pop,
                note="largest / smallest non-empty class",
            )
            b.add(
                "class_balance",
                "gini",
                "index_0_1",
                part["gini"],
                split=split,
                n=total,
                category=key,
                what=what,
                pop_unit=pop,
                note=f"over {len(hist)} classes",
            )
            b.add(
                "class_balance",
                "entropy_norm",
                "index_0_1",
                part["entropy_norm"],
                split=split,
                n=total,
                category=key,
                what=what,
                pop_unit=pop,
                note=f"log base: {len(hist)} classes",
            )
            b.add(
                "class_balance",
                "effective_classes",
                "number",
                part["effective_classes"],
                split=split,
                n=total,
                category=key,
                what=what,
                pop_unit=pop,
            )
            b.add(
                "class_balance",
                "count",
                "count",
                part["empty_classes"],
                split=split,
                n=total,
                category=f"{key}: empty classes",
                what=what,
                pop_unit=pop,
            )
        if "instances" in s:
            inst = s["instances"]
            b.add(
                "coverage",
                "count",
                "count",
                inst["total"],
                split=split,
                n=inst["annotated_images"],
                category="instances",
                what="detection instances",
            )
            b.add(
                "coverage",
                "mean",
                "number",
                inst["per_image_mean"],
                split=split,
                n=inst["annotated_images"],
                category="instances per image",
                what="detection instances",
            )
        ip = s["image_properties"]
        images = st.images
        for dim in ("width", "height"):
            for stat in ("min", "median", "max"):
                if ip[dim][stat] is not None:
                    b.add(
                        "image_properties",
                        stat,
                        "pixels",
                        ip[dim][stat],
                        split=split,
                        n=images,
                        category=dim,
                        what="image headers",
                    )
        if ip["aspect"]["median"] is not None:
            b.add(
                "image_properties",
                "median",
                "ratio",
                ip["aspect"]["median"],
                split=split,
                n=images,
                category="aspect ratio (width / height)",
                what="image headers",
            )
        if ip["bytes"]["mean"] is not None:
            b.add(
                "image_properties",
                "mean",
                "bytes",
                round(ip["bytes"]["mean"], 1),
                split=split,
                n=images,
                category="file size",
                what="image members",
            )
        if ip["grayscale_share"] is not None:
            b.add(
                "image_properties",
                "proportion",
                "fraction",
                ip["grayscale_share"],
                split=split,
                n=images - st.undecodable_count,
                category="grayscale",
                what="decoded thumbnails",
            )
        for fmt, count in ip["formats"].items():
            b.add(
                "image_properties",
                "proportion",
                "fraction",
                count / images,
                split=split,
                n=images,
                category=f"format: {fmt}",
                what="image headers",
            )
        b.add(
            "image_properties",
            "count",
            "count",
            ip["undecodable"],
            split=split,
            n=images,
            category="undecodable",
            what="decoding",
            note="keys listed in the audit report",
        )
        if "duplicates" in s:
            d = s["duplicates"]
            b.add(
                "duplicates",
                "duplicate_rate",
                "fraction",
                d["exact_rate"],
                split=split,
                n=d["hashed"],
                category="exact",
                what="content hash",
                note="(samples - distinct contents) / samples",
            )
            b.add(
                "duplicates",
                "duplicate_rate",
                "fraction",
                d["near_rate"],
                split=split,
                n=d["hashed"],
                category="near",
                what="perceptual hash",
                note=f"(samples - clusters) / samples; pHash within {result.dedup.threshold} of 64 bits, or identical bytes",
            )
        if "leakage" in s:
            lk = s["leakage"]
            ref = lk["reference"]
            b.add(
                "split_leakage",
                "proportion",
                "fraction",
                lk["share"],
                split=split,
                n=n,
                category=f"also in {ref}",
                what=f"duplicates in {ref}",
                note=f"exact or near duplicate (pHash within {result.dedup.threshold} bits) in split {ref}",
            )
            b.add(
                "split_leakage",
                "count",
                "count",
                lk["count"],
                split=split,
                n=n,
                category=f"also in {ref}",
                what=f"duplicates in {ref}",
            )
        if "attributes" in s:
            at = s["attributes"]
            for name, values in at["categorical"].items():
                axis = attribute_axis(name)
                missing = n - sum(values.values())
                cells = dict(values, **({"(missing)": missing} if missing else {}))
                for value, count in cells.items():
                    cat = value if axis != "demographic.attribute" else f"{name}={value}"
                    b.add(
                        axis,
                        "proportion",
                        "fraction",
                        count / n,
                        split=split,
                        n=n,
                        category=cat,
                        what=f"attribute {name}",
                    )
            for pair, cells in at["intersections"].items():
                for cell, count in cells.items():
                    b.add(
                        "demographic.intersectional",
                        "proportion",
                        "fraction",
                        count / n,
                        split=split,
                        n=n,
                        category=cell,
                        what=f"intersection {pair}",
                    )
            for name, positive in at["binary"].items():
                b.add(
                    "demographic.attribute",
                    "proportion",
                    "fraction",
                    positive / n,
                    split=split,
                    n=n,
                    category=name,
                    what="binary attributes",
                )
    return b.figures
