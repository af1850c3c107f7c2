"""What a sample's annotation members say: class label, detection instances, subgroup attributes.

Pure functions over member bytes (no file I/O). Understood members:

- ``cls``: a class index as text (``classes`` names it);
- ``json``: COCO-style ``{"annotations": [{"category_id": ...}, ...]}`` (ids named by the
  converter's ``categories``), or ``{"objects": [{"name"|"label"|"category": ...}]}``; and
  subgroup attributes, at the top level or under ``"attributes"``: categorical fields named in
  :data:`ATTRIBUTE_AXES` (FairFace's race, gender, age) and binary ones (CelebA's ``Male: 1``,
  ``Eyeglasses: -1``) under ``"attributes"``;
- ``xml``: Pascal VOC ``<object><name>``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..shards.checks import json_kind

__all__ = ["ATTRIBUTE_AXES", "SampleAnnotations", "attribute_axis", "parse_annotations"]

#: Categorical attribute field (lower case) -> card axis of its shares.
ATTRIBUTE_AXES: Mapping[str, str] = {
    "race": "demographic.race",
    "ethnicity": "demographic.race",
    "gender": "demographic.gender",
    "sex": "demographic.gender",
    "age": "demographic.age",
    "age_group": "demographic.age",
    "skin_type": "demographic.skin_type",
    "skin_tone": "demographic.skin_type",
    "fitzpatrick": "demographic.skin_type",
    "country": "geography.country",
    "continent": "geography.continent",
}


def attribute_axis(name: str) -> str:
    """The card axis for a categorical attribute (``demographic.attribute`` when unknown)."""
    return ATTRIBUTE_AXES.get(name.lower(), "demographic.attribute")


@dataclass
class SampleAnnotations:
    label: str | None = None
    instances: list[str] | None = None  # None: no detection annotation present
    attributes: dict[str, str] = field(default_factory=dict)
    binary: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _name_of(obj: Mapping[str, Any], categories: Mapping[int, str]) -> str | None:
    for k in ("name", "label", "category", "class"):
        v = obj.get(k)
        if isinstance(v, str) and v:
            return v
    cid = obj.get("category_id")
    if isinstance(cid, int) and not isinstance(cid, bool):
        return categories.get(cid, str(cid))
    return None


def _categorical(data: Mapping[str, Any], wanted: Iterable[str]) -> dict[str, str]:
    wanted_lower = {w.lower() for w in wanted}
    out = {}
    for k, v in data.items():
        if k.lower() in wanted_lower and isinstance(v, (str, int)) and not isinstance(v, bool):
            out[k.lower()] = str(v)
    return out


def parse_annotations(
    members: Mapping[str, bytes],
    *,
    classes: list[str] | None = None,
    categories: Mapping[int, str] | None = None,
    attributes: Iterable[str] = ATTRIBUTE_AXES,
) -> SampleAnnotations:
    """Read the annotation members of one sample; malformed ones are noted in ``problems``."""
    cats = categories or {}
    wanted = list(attributes)
    out = SampleAnnotations()
    if "cls" in members:
        text = members["cls"].decode("utf-8", "replace").strip()
        if text.lstrip("-").isdigit():
            idx = int(text)
            out.label = classes[idx] if classes and 0 <= idx < len(classes) else str(idx)
        elif text:
            out.label = text
    if "json" in members:
        data: Any = None
        try:
            data = json.loads(members["json"])
        except (ValueError, UnicodeDecodeError) as exc:
            out.problems.append(f"json member does not parse: {exc}")
        else:
            if not isinstance(data, dict):  # nothing in it can be read: say so, never skip it
                out.problems.append(f"json member is {json_kind(data)}, expected an object")
        if isinstance(data, dict):
            for list_key in ("annotations", "objects"):
                objs = data.get(list_key)
                if isinstance(objs, list):
                    names = [_name_of(o, cats) for o in objs if isinstance(o, dict)]
                    out.instances = (out.instances or []) + [n for n in names if n]
            out.attributes.update(_categorical(data, wanted))
            attrs = data.get("attributes")
            if isinstance(attrs, dict):
                out.attributes.update(_categorical(attrs, wanted))
                for k, v in attrs.items():
                    if k.lower() in out.attributes:
                        continue
                    if isinstance(v, bool):
                        out.binary[k] = v
                    elif isinstance(v, int) and v in (-1, 0, 1):
                        out.binary[k] = v == 1
    if "xml" in members:
        try:
            root = ET.fromstring(members["xml"])
        except ET.ParseError as exc:
            out.problems.append(f"xml member does not parse: {exc}")
        else:
            names = [(o.findtext("name") or "").strip() for o in root.iter("object")]
            out.instances = (out.instances or []) + [n for n in names if n]
    return out
