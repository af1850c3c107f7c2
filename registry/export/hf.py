"""A card as a Hugging Face dataset card: ``README.md`` with a YAML header and prose sections.

The header uses the Hub's metadata keys (license, task_categories, size_categories,
annotations_creators, source_datasets, pretty_name); each mapping from our vocabulary to the
Hub's is one table below, so a missing term fails loudly in a test rather than silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from ..schema import Card
from ..vocab import AXES
from ._common import notes_of, size_category, split_size

__all__ = [
    "ANNOTATION_CREATORS",
    "HF_LICENSES",
    "TASK_CATEGORIES",
    "TASK_IDS",
    "header",
    "render",
]

#: Our task term -> Hugging Face task category (None: the Hub has no fitting category).
TASK_CATEGORIES: Mapping[str, str | None] = {
    "image-classification": "image-classification",
    "multi-label-classification": "image-classification",
    "fine-grained-classification": "image-classification",
    "object-detection": "object-detection",
    "instance-segmentation": "image-segmentation",
    "semantic-segmentation": "image-segmentation",
    "panoptic-segmentation": "image-segmentation",
    "keypoint-detection": "keypoint-detection",
    "scene-recognition": "image-classification",
    "image-captioning": "image-to-text",
    "visual-question-answering": "visual-question-answering",
    "image-retrieval": "image-feature-extraction",
    "face-recognition": "image-feature-extraction",
    "face-attribute-classification": "image-classification",
    "age-estimation": "image-classification",
    "action-recognition": "video-classification",
    "temporal-action-localization": "video-classification",
    "spatio-temporal-action-detection": "video-classification",
    "video-classification": "video-classification",
    "egocentric-video": "video-classification",
    "optical-flow": None,
    "depth-estimation": "depth-estimation",
    "domain-adaptation": None,
    "embodied-ai": "robotics",
    "autonomous-driving": None,
    "digit-recognition": "image-classification",
    "image-text-pretraining": "zero-shot-image-classification",
    "medical-imaging": None,
    "fairness-benchmarking": None,
    "face-detection": "object-detection",
    "person-re-identification": "image-feature-extraction",
    "3d-object-detection": None,
    "object-tracking": None,
    "image-text-retrieval": "image-feature-extraction",
    "visual-grounding": "zero-shot-object-detection",
    "domain-generalization": None,
    "robustness-evaluation": None,
    "navigation": "robotics",
    "pose-estimation": "keypoint-detection",
    "scene-text-recognition": "image-to-text",
    "image-generation": "unconditional-image-generation",
}

#: Our task term -> Hugging Face ``task_ids`` value (a sub-task of its task category; the Hub's
#: list is ``SUBTASK_TYPES`` in huggingface.js packages/tasks/src/pipelines.ts). None: no sub-task.
TASK_IDS: Mapping[str, str | None] = {
    "image-classification": "multi-class-image-classification",
    "multi-label-classification": "multi-label-image-classification",
    "fine-grained-classification": "multi-class-image-classification",
    "object-detection": None,
    "instance-segmentation": "instance-segmentation",
    "semantic-segmentation": "semantic-segmentation",
    "panoptic-segmentation": "panoptic-segmentation",
    "keypoint-detection": None,
    "scene-recognition": "multi-class-image-classification",
    "image-captioning": "image-captioning",
    "visual-question-answering": "visual-question-answering",
    "image-retrieval": None,
    "face-recognition": None,
    "face-attribute-classification": "multi-label-image-classification",
    "age-estimation": "multi-class-image-classification",
    "action-recognition": None,
    "temporal-action-localization": None,
    "spatio-temporal-action-detection": None,
    "video-classification": None,
    "egocentric-video": None,
    "optical-flow": None,
    "depth-estimation": None,
    "domain-adaptation": None,
    "embodied-ai": None,
    "autonomous-driving": None,
    "digit-recognition": "multi-class-image-classification",
    "image-text-pretraining": None,
    "medical-imaging": None,
    "fairness-benchmarking": None,
    "face-detection": "face-detection",
    "person-re-identification": None,
    "3d-object-detection": None,
    "object-tracking": None,
    "image-text-retrieval": None,
    "visual-grounding": None,
    "domain-generalization": None,
    "robustness-evaluation": None,
    "navigation": None,
    "pose-estimation": "pose-estimation",
    "scene-text-recognition": None,
    "image-generation": None,
}

#: Our annotation method -> Hugging Face ``annotations_creators`` value.
ANNOTATION_CREATORS: Mapping[str, str] = {
    "expert": "expert-generated",
    "crowdsourced": "crowdsourced",
    "volunteer": "crowdsourced",
    "automatic": "machine-generated",
    "semi-automatic": "machine-generated",
    "game": "crowdsourced",
    "self-reported": "found",
    "metadata": "found",
    "rendering": "machine-generated",
    "none": "no-annotation",
    "unknown": "other",
}

#: License ids the Hub knows (lower case); any other SPDX id is written as ``other``.
HF_LICENSES = frozenset(
    [
        "apache-2.0",
        "mit",
        "openrail",
        "afl-3.0",
        "artistic-2.0",
        "bsl-1.0",
        "bsd",
        "bsd-2-clause",
        "bsd-3-clause",
        "bsd-3-clause-clear",
        "c-uda",
        "cc",
        "cc0-1.0",
        "cc-by-2.0",
        "cc-by-2.5",
        "cc-by-3.0",
        "cc-by-4.0",
        "cc-by-sa-3.0",
        "cc-by-sa-4.0",
        "cc-by-nc-2.0",
        "cc-by-nc-3.0",
        "cc-by-nc-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-3.0",
        "cc-by-nc-nd-4.0",
        "cc-by-nc-sa-2.0",
        "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0",
        "cdla-sharing-1.0",
        "cdla-permissive-1.0",
        "cdla-permissive-2.0",
        "wtfpl",
        "ecl-2.0",
        "epl-1.0",
        "epl-2.0",
        "etalab-2.0",
        "eupl-1.1",
        "agpl-3.0",
        "gfdl",
        "gpl",
        "gpl-2.0",
        "gpl-3.0",
        "lgpl",
        "lgpl-2.1",
        "lgpl-3.0",
        "isc",
        "lppl-1.3c",
        "ms-pl",
        "mpl-2.0",
        "odc-by",
        "odbl",
        "ofl-1.1",
        "ncsa",
        "unlicense",
        "zlib",
        "pddl",
        "unknown",
        "other",
    ]
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:64] or "other"


def _license(card: Card) -> dict[str, Any]:
    """The Hub's ``license``; ``other`` with ``license_name`` (a slug) and ``license_link`` for
    a license the Hub does not list, or one the card itself calls ``other``."""
    lid = card.license.id.casefold()
    if lid in HF_LICENSES and lid != "other":
        return {"license": lid}
    name = _slug(card.license.name) if lid == "other" else lid
    out: dict[str, Any] = {"license": "other", "license_name": name}
    if card.license.url:
        out["license_link"] = card.license.url
    return out


def _configs(data_files: Mapping[str, Sequence[str]] | None) -> list[dict[str, Any]] | None:
    if not data_files:
        return None
    files = [{"split": split, "path": list(paths)} for split, paths in data_files.items()]
    return [{"config_name": "default", "data_files": files}]


def header(card: Card, data_files: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The README's YAML metadata as a dict; ``data_files`` (split -> shard files, relative to
    the repository) adds a ``configs`` entry so the Hub loads those shards."""
    tasks = [TASK_CATEGORIES[t] for t in card.tasks]
    categories = list(dict.fromkeys(t for t in tasks if t is not None)) or ["other"]
    task_ids = list(dict.fromkeys(TASK_IDS[t] for t in card.tasks if TASK_IDS.get(t)))
    sized = all(s.num_examples is not None for s in card.splits.values())
    meta: dict[str, Any] = {
        "pretty_name": card.name,
        **_license(card),
        "task_categories": categories,
        "task_ids": task_ids or None,
        "size_categories": [size_category(card.total_examples)] if sized else None,
        "annotations_creators": list(
            dict.fromkeys(ANNOTATION_CREATORS[m] for m in card.annotation.methods)
        ),
        "source_datasets": [f"extended|{d}" for d in card.derived_from] or ["original"],
        "tags": ["visiondata", *card.tasks, *card.modalities],
        "configs": _configs(data_files),
    }
    return {k: v for k, v in meta.items() if v is not None}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _figures_table(card: Card) -> list[str]:
    if not card.figures:
        return []
    lines = [
        "",
        "Typed coverage and bias figures from the visiondata card (derived figures' verification "
        "is computed from their inputs):",
        "",
        "| id | axis | metric | category | subject | edition | value | unit | population | "
        "provenance | verification |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in card.figures:
        pop = ", ".join(x for x in (f.population.unit, f.population.split) if x)
        if f.scope == "pooled":
            pop += f"; pooled with {', '.join(f.pooled_with)}"
        prov = f"{f.provenance.kind} ({f.provenance.citation})"
        subject = f.subject.name if f.subject else ""
        cells = (f.id, f.axis, f.metric, f.category or "", subject, f.edition or "")
        lines.append(
            "| "
            + " | ".join(_cell(c) for c in cells)
            + f" | {f.value:g} | {f.unit} | {_cell(pop)} | {prov} | "
            f"{card.verification_of(f).status} |"
        )
    axes = sorted({f.axis for f in card.figures})
    lines += ["", *(f"- `{a}`: {AXES[a]}" for a in axes)]
    return lines


def _transfers_table(card: Card) -> list[str]:
    if not card.transfers:
        return []
    lines = [
        "",
        "Transfer figures (trained on this dataset, tested on another):",
        "",
        "| id | target | task | setting | subject | metric | value | unit | provenance | "
        "verification |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in card.transfers:
        cells = (t.id, t.target, t.task, t.setting, t.subject.name, t.metric)
        lines.append(
            "| "
            + " | ".join(_cell(c) for c in cells)
            + f" | {t.value:g} | {t.unit} | {t.provenance.kind} ({t.provenance.citation}) | "
            f"{t.verification.status} |"
        )
    return lines


def _editions(card: Card) -> list[str]:
    if not card.editions:
        return []
    lines = ["### Editions", ""]
    for e in card.editions:
        year = f" ({e.year})" if e.year else ""
        lines.append(f"- `{e.id}` {e.name}{year}" + (f": {e.changes}" if e.changes else ""))
    return [*lines, ""]


def _bullets(texts: list[str], empty: str = "[More Information Needed]") -> list[str]:
    return [f"- {t}" for t in texts] if texts else [empty]


def render(card: Card, data_files: Mapping[str, Sequence[str]] | None = None) -> str:
    """The whole README.md text; ``data_files`` as for :func:`header`."""
    meta = yaml.safe_dump(header(card, data_files), sort_keys=False, allow_unicode=True, width=100)
    col, ann = card.collection, card.annotation
    refs = [f"- {r.title}" + (f" ({r.url})" if r.url else "") for r in card.references.values()]
    splits = ["| split | examples | count kind | labels public |", "| --- | --- | --- | --- |"]
    splits += [
        f"| {n} | {split_size(s.num_examples)} | {s.count_kind} | "
        f"{'yes' if s.labels_public else 'no'} |"
        for n, s in card.splits.items()
    ]
    fields = (
        [f"- `{ext}`: {meaning}" for ext, meaning in card.shards.fields.items()]
        if card.shards
        else ["[More Information Needed]"]
    )
    lines = [
        "---",
        meta.rstrip(),
        "---",
        "",
        f"# Dataset Card for {card.name}",
        "",
        "## Dataset Description",
        "",
        f"- **Homepage:** {card.homepage}",
        f"- **Year of release:** {card.year}",
        f"- **Status:** {card.status.state}",
        "",
        card.description.strip(),
        "",
        *_editions(card),
        "## Dataset Structure",
        "",
        "### Data Instances",
        "",
        f"One example is one {card.example_unit}."
        + (
            f" There are {card.classes.count} classes."
            if card.classes and card.classes.count
            else ""
        ),
        "",
        "### Data Fields",
        "",
        "As WebDataset samples written by visiondata:",
        "",
        *fields,
        "",
        "### Data Splits",
        "",
        *splits,
        "",
        "## Dataset Creation",
        "",
        "### Source Data",
        "",
        f"Sources: {', '.join(col.sources)}."
        + (f" Period: {col.period}." if col.period else "")
        + (f" Collected by: {col.who}." if col.who else ""),
        *([col.notes.strip()] if col.notes else []),
        "",
        "### Annotations",
        "",
        f"Methods: {', '.join(ann.methods)}."
        + (f" Platform: {ann.platform}." if ann.platform else "")
        + (f" Per item: {ann.per_item}." if ann.per_item else ""),
        *([f"Annotated: {', '.join(ann.annotated)}."] if ann.annotated else []),
        "",
        "### Personal and Sensitive Information",
        "",
        *_bullets(notes_of(card, "sensitive")),
        "",
        "## Considerations for Using the Data",
        "",
        "### Discussion of Biases",
        "",
        *_bullets(notes_of(card, "bias")),
        *_figures_table(card),
        *_transfers_table(card),
        "",
        "### Other Known Limitations",
        "",
        *_bullets(notes_of(card, "limitation")),
        "",
        "## Additional Information",
        "",
        "### Licensing Information",
        "",
        f"{card.license.name} (`{card.license.id}`), commercial use: {card.license.commercial_use}."
        + (f" {card.license.url}" if card.license.url else ""),
        *([card.license.notes.strip()] if card.license.notes else []),
        "",
        "### Citation Information",
        "",
        "```bibtex",
        card.citation.strip(),
        "```",
        "",
        "### References",
        "",
        *refs,
        "",
    ]
    if card.status.state != "active":
        warning = (
            f"> **{card.status.state.capitalize()}** ({card.status.date}): {card.status.reason}"
        )
        lines[6:6] = [warning, ""]
    lines.append(f"*Generated by `visiondata cards export {card.id} --to hf`.*")
    return "\n".join(lines) + "\n"
