"""``coco``: COCO images + ``annotations/{instances,person_keypoints,captions}_{split}.json``.

Layout: ``SRC/annotations/*_{split}.json`` and images at ``SRC/{split}/file_name`` (or
``SRC/images/{split}/``). The three annotation files are joined per image into one ``json``
member: ``{"image": <images record>, "annotations": [instances], "keypoints": [person
keypoints], "captions": [captions]}``, every record unchanged (boxes, polygons, RLE, iscrowd).
``classes`` are the category names in id order; the categories with their original ids are in
the manifest's converter options (``categories``, ``keypoint_categories``). Class counts
count the images holding at least one instance of a class. Key: the image file's stem.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConversionError, ItemError
from .base import (
    Converter,
    Item,
    Report,
    check_image,
    load_json_file,
    make_key,
    read_file,
    safe_join,
    source_ext,
    stamp,
    stat_file,
)

__all__ = ["CocoConverter"]

KINDS = ("instances", "person_keypoints", "captions")
_MEMBER = {"instances": "annotations", "person_keypoints": "keypoints", "captions": "captions"}


def _file_name(rec: dict[str, Any]) -> str:
    """The sort key of an images record: its file name, or "" when that is not a string
    (the record is reported in order; a None among strings must not break the sort)."""
    name = rec.get("file_name")
    return name if isinstance(name, str) else ""


class CocoConverter(Converter):
    name = "coco"
    default_split = None
    resizable = False
    fields: ClassVar[dict[str, str]] = {
        "json": '{"image": images record, "annotations": instances records (bbox, segmentation polygons '
        'or RLE, iscrowd, category_id = original COCO id), "keypoints": person_keypoints records, '
        '"captions": captions records}, each record unchanged from the annotation files',
    }

    @classmethod
    def infer_split(cls, src: Path) -> str:
        found = sorted(
            {p.stem[len(k) + 1 :] for k in KINDS for p in (src / "annotations").glob(f"{k}_*.json")}
        )
        if len(found) == 1:
            return found[0]
        raise ConversionError(
            f"give the split to convert (--split); {src / 'annotations'} has: {', '.join(found) or 'no annotation files'}"
        )

    def _image_dir(self) -> Path:
        split = self.options.split
        for cand in (self.root / split, self.root / "images" / split):
            if cand.is_dir():
                return cand
        raise ConversionError(f"{self.src}: no image folder {split}/ or images/{split}/")

    def scan(self, report: Report) -> Iterator[Item]:
        split = self.options.split
        ann_dir = self.root / "annotations"
        files = {k: ann_dir / f"{k}_{split}.json" for k in KINDS}
        present = {k: p for k, p in files.items() if p.is_file()}
        if not present:
            raise ConversionError(
                f"{ann_dir}: no annotation file for split {split!r} (expected one of "
                f"{', '.join(p.name for p in files.values())})"
            )
        image_dir = self._image_dir()
        rel_dir = image_dir.relative_to(self.root).as_posix()
        images: dict[int, dict[str, Any]] = {}
        per_image: dict[int, dict[str, list[Any]]] = defaultdict(
            lambda: {m: [] for m in _MEMBER.values()}
        )
        categories: list[dict[str, Any]] | None = None
        for kind, path in present.items():
            where = f"annotations/{path.name}"
            data = load_json_file(path, where)
            if not isinstance(data, dict) or not isinstance(data.get("images"), list):
                raise ConversionError(f"{where}: not a COCO annotation file (no 'images' list)")
            for rec in data["images"]:
                images.setdefault(rec["id"], rec)
            if kind == "instances":
                categories = data.get("categories")
            elif kind == "person_keypoints":
                self.info["keypoint_categories"] = data.get("categories")
                if categories is None:
                    categories = data.get("categories")
            for ann in data.get("annotations", []):
                image_id = ann.get("image_id")
                if image_id not in images:
                    report(
                        f"{where}: annotation {ann.get('id')}",
                        f"names image_id {image_id}, which is not in the images list",
                    )
                    continue
                per_image[image_id][_MEMBER[kind]].append(ann)
        cats = sorted(categories or [], key=lambda c: c["id"])
        self.classes = [c["name"] for c in cats]
        self.info["categories"] = cats
        cat_index = {c["id"]: i for i, c in enumerate(cats)}
        for image_id in sorted(images, key=lambda i: _file_name(images[i])):
            rec = images[image_id]
            name = rec.get("file_name")
            where = f"{rel_dir}/{name}"
            if not isinstance(name, str):
                report(f"image id {image_id}", "images record has no file_name")
                continue
            try:
                path = safe_join(image_dir, name, where)
                st = stat_file(
                    path, where, f"annotation names a missing file (image id {image_id})"
                )
            except ItemError as exc:
                report(exc.item, exc.reason)
                continue
            anns = per_image.get(image_id, {m: [] for m in _MEMBER.values()})
            body = {"image": rec, **{m: anns[m] for m in _MEMBER.values()}}
            blob = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            class_ids = tuple(
                sorted(
                    {
                        cat_index[a["category_id"]]
                        for a in anns["annotations"]
                        if a.get("category_id") in cat_index
                    }
                )
            )
            yield Item(
                key=make_key(Path(name).name),
                source=where,
                label=None,
                class_ids=class_ids,
                size=st.st_size + len(blob),
                stamp=f"{stamp(st)}:{hashlib.sha1(blob).hexdigest()}",
                data=(path.relative_to(self.root).as_posix(), blob),
            )

    def load(self, item: Item) -> dict[str, bytes]:
        rel, blob = item.data
        data = read_file(self.root / rel, item.source)
        ext, data = check_image(data, item.source, self.options.verify, self.options.max_size)
        return {ext or source_ext(rel): data, "json": blob}
