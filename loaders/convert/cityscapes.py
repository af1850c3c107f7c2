"""``cityscapes``: ``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` with
``gtFine/{split}/{city}/*_gtFine_{labelIds,instanceIds,color}.png`` and ``*_gtFine_polygons.json``.

Members: ``png`` (the left 8-bit image), ``labelids.png``, ``instanceids.png``, ``color.png``
and ``polygons.json``, every file unchanged; the gtFine members are present when ``gtFine/``
exists for the split, and then each one is required. ``classes`` are the 34 Cityscapes
label names indexed by labelId; class counts count images whose polygons hold the class
(``cargroup`` counts as ``car``). Key: ``{city}_{seq}_{frame}``. A gtFine file without its
image is reported as an annotation naming a missing file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from ..errors import ConversionError, ItemError
from ..shards.checks import json_kind
from .base import (
    Converter,
    Item,
    Report,
    check_image,
    check_inside,
    make_key,
    read_file,
    stamp,
)

__all__ = ["LABELS", "CityscapesConverter"]

#: Cityscapes label names by labelId (cityscapesscripts/helpers/labels.py).
LABELS = [
    "unlabeled",
    "ego vehicle",
    "rectification border",
    "out of roi",
    "static",
    "dynamic",
    "ground",
    "road",
    "sidewalk",
    "parking",
    "rail track",
    "building",
    "wall",
    "fence",
    "guard rail",
    "bridge",
    "tunnel",
    "pole",
    "polegroup",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "caravan",
    "trailer",
    "train",
    "motorcycle",
    "bicycle",
]
_GT = {
    "labelids.png": "labelIds.png",
    "instanceids.png": "instanceIds.png",
    "color.png": "color.png",
    "polygons.json": "polygons.json",
}
_IMAGE = re.compile(r"^(?P<stem>[A-Za-z0-9\-]+_\d+_\d+)_leftImg8bit\.png$")
_GT_FILE = re.compile(
    r"^(?P<stem>[A-Za-z0-9\-]+_\d+_\d+)_gtFine_(?P<kind>labelIds\.png|instanceIds\.png|color\.png|polygons\.json|labelTrainIds\.png)$"
)


def _files(root: Path, top: Path, report: Report) -> Iterator[tuple[str, str, Path]]:
    """``(city, file name, path)`` for every file in ``top/{city}/``, sorted."""
    for city in sorted(os.scandir(top), key=lambda e: e.name):
        if city.name.startswith("."):
            continue
        rel = Path(city.path).relative_to(root).as_posix()
        if not city.is_dir():
            report(rel, "unexpected file (expected city folders)")
            continue
        if city.is_symlink():
            try:
                check_inside(root, Path(city.path), rel)
            except ItemError as exc:
                report(exc.item, exc.reason)
                continue
        for f in sorted(os.scandir(city.path), key=lambda e: e.name):
            if f.name.startswith("."):
                continue
            frel = f"{rel}/{f.name}"
            if f.is_symlink():
                try:
                    check_inside(root, Path(f.path), frel)
                except ItemError as exc:
                    report(exc.item, exc.reason)
                    continue
            yield city.name, f.name, Path(f.path)


class CityscapesConverter(Converter):
    name = "cityscapes"
    default_split = None
    resizable = False
    fields: ClassVar[dict[str, str]] = {
        "png": "leftImg8bit image (8-bit PNG), unchanged",
        "labelids.png": "gtFine labelIds PNG (pixel = labelId, index into classes), unchanged",
        "instanceids.png": "gtFine instanceIds PNG (labelId * 1000 + instance, or labelId), unchanged",
        "color.png": "gtFine color PNG, unchanged",
        "polygons.json": "gtFine polygons JSON (imgHeight, imgWidth, objects: label, polygon), unchanged",
    }

    @classmethod
    def infer_split(cls, src: Path) -> str:
        d = src / "leftImg8bit"
        found = sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []
        raise ConversionError(
            f"give the split to convert (--split); {d} has: {', '.join(found) or 'no splits'}"
        )

    def scan(self, report: Report) -> Iterator[Item]:
        split = self.options.split
        img_dir = self.root / "leftImg8bit" / split
        gt_dir = self.root / "gtFine" / split
        if not img_dir.is_dir():
            raise ConversionError(f"{img_dir}: no such split folder")
        self.classes = list(LABELS)
        has_gt = gt_dir.is_dir()
        gt: dict[str, dict[str, Path]] = {}
        if has_gt:
            for city, name, path in _files(self.root, gt_dir, report):
                m = _GT_FILE.match(name)
                rel = path.relative_to(self.root).as_posix()
                if not m or not name.startswith(city + "_"):
                    report(
                        rel,
                        "unexpected file type (expected {city}_{seq}_{frame}_gtFine_*.png/json)",
                    )
                    continue
                if m["kind"] == "labelTrainIds.png":
                    continue  # derived by createTrainIdLabelImgs; not part of the download
                gt.setdefault(f"{city}/{m['stem']}", {})[m["kind"]] = path
        images: set[str] = set()
        index = {n: i for i, n in enumerate(LABELS)}
        for city, name, path in _files(self.root, img_dir, report):
            rel = path.relative_to(self.root).as_posix()
            m = _IMAGE.match(name)
            if not m or not name.startswith(city + "_"):
                report(rel, "unexpected file type (expected {city}_{seq}_{frame}_leftImg8bit.png)")
                continue
            stem = m["stem"]
            images.add(f"{city}/{stem}")
            parts = {"png": path}
            if has_gt:
                have = gt.get(f"{city}/{stem}", {})
                missing = [k for k in _GT.values() if k not in have]
                if missing:
                    report(
                        rel,
                        f"gtFine file(s) missing: {', '.join(f'{stem}_gtFine_{k}' for k in missing)}",
                    )
                    continue
                parts.update({member: have[kind] for member, kind in _GT.items()})
            class_ids: tuple[int, ...] = ()
            if "polygons.json" in parts:
                try:
                    poly = json.loads(parts["polygons.json"].read_bytes())
                    objects = poly.get("objects", [])
                    if not isinstance(objects, list):
                        # a number or null would escape below as a TypeError, not a report
                        raise ValueError(f"'objects' is {json_kind(objects)}, expected a list")
                    names = {str(o.get("label", "")).removesuffix("group") for o in objects}
                except (ValueError, AttributeError) as exc:
                    report(
                        parts["polygons.json"].relative_to(self.root).as_posix(),
                        f"malformed polygons JSON ({exc})",
                    )
                    continue
                class_ids = tuple(sorted(index[n] for n in names if n in index))
            stats = [p.stat() for p in parts.values()]
            yield Item(
                key=make_key(stem),
                source=rel,
                label=None,
                class_ids=class_ids,
                size=sum(s.st_size for s in stats),
                stamp=";".join(stamp(s) for s in stats),
                data={m: p.relative_to(self.root).as_posix() for m, p in parts.items()},
            )
        for cs in sorted(set(gt) - images):
            city, stem = cs.split("/")
            report(
                f"gtFine/{split}/{city}/{stem}_gtFine_*",
                f"annotation names a missing file leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png",
            )

    def load(self, item: Item) -> dict[str, bytes]:
        members: dict[str, bytes] = {}
        for member, rel in item.data.items():
            data = read_file(self.root / rel, rel)
            if member == "png":
                ext, data = check_image(data, rel, self.options.verify, self.options.max_size)
                if ext not in ("png", ""):
                    raise ItemError(rel, f"leftImg8bit image is {ext}, expected png")
            elif member.endswith(".png"):
                ext, data = check_image(data, rel, self.options.verify, None)
                if ext not in ("png", ""):
                    raise ItemError(rel, f"gtFine mask is {ext}, expected png")
            else:
                try:
                    json.loads(data)
                except ValueError as exc:
                    raise ItemError(rel, f"malformed polygons JSON ({exc})") from None
            members[member] = data
        return members
