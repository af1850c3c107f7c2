"""A draft card from a Hugging Face dataset card (``README.md`` with a YAML header).

What the HF card says is carried over (name, license, tasks, splits, class names, homepage,
citation, summary); everything our schema needs beyond that is a ``TODO`` marker, so
``visiondata cards validate`` refuses the draft until a person has filled it in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import VisionDataError
from ..schema import ID_PATTERN
from ..vocab import TASKS

__all__ = ["HF_METHODS", "HF_TASKS", "draft_card", "parse_hf_card"]

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)(.*)\Z", re.S)
_BIBTEX = re.compile(r"```(?:bibtex|bib|latex|tex)?\s*\n(@.*?)```", re.S | re.I)
_HOMEPAGE = re.compile(r"\*\*Homepage:?\*\*:?\s*\[?<?(https?://[^\s)>\]]+)", re.I)

#: Hugging Face task category -> our task term, where one fits.
HF_TASKS: Mapping[str, str] = {
    "image-classification": "image-classification",
    "object-detection": "object-detection",
    "image-segmentation": "semantic-segmentation",
    "keypoint-detection": "keypoint-detection",
    "image-to-text": "image-captioning",
    "visual-question-answering": "visual-question-answering",
    "video-classification": "video-classification",
    "depth-estimation": "depth-estimation",
    "robotics": "embodied-ai",
    "zero-shot-image-classification": "image-text-pretraining",
    "image-feature-extraction": "image-retrieval",
    "unconditional-image-generation": "image-generation",
}
#: Hugging Face annotations_creators -> our annotation method.
HF_METHODS: Mapping[str, str] = {
    "expert-generated": "expert",
    "crowdsourced": "crowdsourced",
    "machine-generated": "automatic",
    "found": "metadata",
    "no-annotation": "none",
}


def parse_hf_card(text: str) -> tuple[dict[str, Any], str]:
    """Split a HF README into its YAML header (a dict) and Markdown body."""
    m = _FRONT.match(text.lstrip("\ufeff"))
    if not m:
        raise VisionDataError("not a Hugging Face dataset card: no YAML header between '---' lines")
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        raise VisionDataError(f"the YAML header does not parse: {exc}") from None
    if not isinstance(meta, dict):
        raise VisionDataError(f"the YAML header is a {type(meta).__name__}, expected a mapping")
    return meta, m.group(2)


def _summary(body: str) -> str | None:
    """The first prose paragraph of 'Dataset Summary', else the first after a heading."""
    section = re.search(r"^#+\s*Dataset Summary\s*$(.*?)(?=^#|\Z)", body, re.M | re.S)
    for chunk in ([section.group(1)] if section else []) + [body]:
        for para in re.split(r"\n\s*\n", chunk):
            p = para.strip()
            if p and not p.startswith(("#", "-", "*", "|", "```", "<", "[", ">")):
                return " ".join(p.split())
    return None


def _splits(meta: dict[str, Any]) -> list[tuple[str, int]]:
    info = meta.get("dataset_info")
    configs = info if isinstance(info, list) else [info] if isinstance(info, dict) else []
    for config in configs:
        splits = config.get("splits") if isinstance(config, dict) else None
        if splits:
            return [(str(s["name"]), int(s["num_examples"])) for s in splits if "num_examples" in s]
    return []


def _class_names(meta: dict[str, Any]) -> list[str]:
    info = meta.get("dataset_info")
    configs = info if isinstance(info, list) else [info] if isinstance(info, dict) else []
    for config in configs:
        for feature in (config or {}).get("features") or []:
            dtype = feature.get("dtype") if isinstance(feature, dict) else None
            names = dtype.get("class_label", {}).get("names") if isinstance(dtype, dict) else None
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names, key=lambda k: int(k))]
            if isinstance(names, list):
                return [str(n) for n in names]
    return []


def _modalities(meta: dict[str, Any]) -> list[str]:
    """Our modality terms for the HF feature dtypes image, video and audio."""
    info = meta.get("dataset_info")
    configs = info if isinstance(info, list) else [info] if isinstance(info, dict) else []
    found = [
        f.get("dtype")
        for config in configs
        for f in (config or {}).get("features") or []
        if isinstance(f, dict)
    ]
    return [m for m in ("image", "video", "audio") if m in found]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _id(meta: dict[str, Any], card_id: str | None, source: str) -> str:
    if card_id:
        if not re.match(ID_PATTERN, card_id):
            raise VisionDataError(f"card id {card_id!r} is not lowercase words joined by hyphens")
        return card_id
    parent = source.replace("\\", "/").rsplit("/", 2)
    base = str(meta.get("pretty_name") or (parent[-2] if len(parent) > 1 else ""))
    slug = re.sub(r"[^a-z0-9]+", "-", base.casefold()).strip("-")
    return slug or "TODO-id"


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML scalar


def draft_card(text: str, card_id: str | None = None, source: str = "README.md") -> str:
    """The draft card YAML for the HF card ``text``, with TODO where ours needs more."""
    meta, body = parse_hf_card(text)
    cid = _id(meta, card_id, source)
    name = meta.get("pretty_name")
    licenses = _as_list(meta.get("license"))
    tasks_hf = _as_list(meta.get("task_categories"))
    tasks = list(dict.fromkeys(HF_TASKS[t] for t in tasks_hf if t in HF_TASKS))
    tasks += [t for t in _as_list(meta.get("task_ids")) if t in TASKS and t not in tasks]
    methods = list(
        dict.fromkeys(
            HF_METHODS[a] for a in _as_list(meta.get("annotations_creators")) if a in HF_METHODS
        )
    )
    derived = [
        s.split("|", 1)[1]
        for s in _as_list(meta.get("source_datasets"))
        if s.startswith("extended|")
    ]
    summary = _summary(body)
    bib = _BIBTEX.search(body)
    home = _HOMEPAGE.search(body)
    splits = _splits(meta)
    classes = _class_names(meta)

    def todo(value: str | None, what: str) -> str:
        return _q(value) if value else f"TODO {what}"

    lic = licenses[0] if licenses else None
    out = [
        f"# Draft imported from the Hugging Face dataset card {source}.",
        "# Check every value at a primary source, fill every TODO, then: visiondata cards validate",
        f"id: {cid}",
        "schema_version: 2",
        f"name: {todo(str(name) if name else None, 'full name')}",
        "aliases: []",
        f"description: {todo(summary, 'two or three sentences: what the dataset is and what it is for')}",
        "year: TODO                       # year of first public release",
        f"homepage: {todo(home.group(1) if home else None, 'https://...')}",
    ]
    if bib:
        out += ["citation: |", *(f"  {line}" for line in bib.group(1).strip().splitlines())]
    else:
        out.append("citation: TODO BibTeX of the defining publication")
    out += [
        "references:",
        "  TODO-key:",
        "    title: TODO the defining paper (every citation key below must be defined here)",
        "    url: TODO https://...",
        "license:",
        f"  id: {todo(lic.upper() if lic and lic not in ('other', 'unknown') else lic, 'SPDX id')}"
        + ("                # HF id, upper-cased: check it is the SPDX id" if lic else ""),
        f"  name: {todo(meta.get('license_name'), 'license name')}",
        f"  url: {todo(meta.get('license_link'), 'https://...')}",
        "  commercial_use: TODO           # allowed | prohibited | unclear",
        "access: TODO                     # open | registration | request | unavailable | unreleased",
        "status:",
        "  state: active",
        f"tasks: [{', '.join(tasks)}]"
        + ("" if tasks else "  # TODO task terms (visiondata cards vocab)")
        + (f"  # from HF: {', '.join(tasks_hf)}" if tasks_hf and tasks else ""),
        f"modalities: [{', '.join(_modalities(meta)) or 'TODO'}]"
        + ("  # TODO add text, depth, ... if present" if _modalities(meta) else ""),
        "domain: TODO                     # real | synthetic | mixed",
        "example_unit: TODO               # image, clip, question, ...",
        f"derived_from: [{', '.join(derived)}]"
        + ("  # TODO check these are card ids" if derived else ""),
        "splits:",
    ]
    if splits:
        for split, n in splits:
            out += [
                f"  {split}:",
                f"    num_examples: {n}",
                "    count_kind: release              # as distributed (check: release | paper)",
                "    citation: TODO-key",
                "    locator: TODO where the number is written (HF dataset_info is not a primary source)",
                "    verification: {status: unverified, note: read in the Hugging Face dataset card}",
            ]
    else:
        out += [
            "  train:",
            "    num_examples: TODO",
            "    count_kind: TODO release | paper | computed | available",
            "    citation: TODO-key",
            "    locator: TODO",
        ]
    if classes:
        out += [
            "classes:",
            f"  count: {len(classes)}",
            "  names:",
            *(f"    - {_q(n)}" for n in classes),
        ]
        out += ["  citation: TODO-key", "  locator: TODO"]
    else:
        out += ["classes:", "  count: TODO"]
    out += [
        "collection:",
        "  sources: [TODO]                # flickr, web-search, youtube, captured, ...",
        "  who: TODO",
        "annotation:",
        f"  methods: [{', '.join(methods) or 'TODO'}]",
        "  annotated: [TODO]",
        "figures: []                      # TODO typed coverage and bias figures, with provenance",
        "notes:",
        "  - kind: bias",
        "    text: TODO known biases, limitations and sensitive content, each with a citation",
        "    citation: TODO-key",
        "shards:",
        "  converter: hf",
        "  fields: {TODO: TODO}",
    ]
    return "\n".join(out) + "\n"
