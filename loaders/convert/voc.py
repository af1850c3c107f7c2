"""``voc``: Pascal VOC layout — ``JPEGImages/``, ``Annotations/*.xml``, ``ImageSets/Main/{split}.txt``
and, when present, ``SegmentationClass/`` and ``SegmentationObject/`` PNGs.

Members: the image bytes unchanged, ``xml`` (the annotation file unchanged), ``json`` (the
same annotation parsed: size and objects with name, pose, truncated, difficult, occluded and
bbox, plus any other child fields as text) and ``seg.png`` / ``inst.png`` where the image has
segmentation masks. ``classes`` are the sorted object names of the split (or the existing
manifest's list when it holds them all); class counts count images holding a class. Key: the
image id. Order: the split file's order.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConversionError, ItemError
from .base import (
    IMAGE_EXTENSIONS,
    Converter,
    Item,
    Report,
    check_image,
    check_inside,
    choose_classes,
    make_key,
    read_file,
    safe_join,
    source_ext,
    stamp,
)

__all__ = ["VocConverter", "parse_voc_xml"]

_SEG = {"seg.png": "SegmentationClass", "inst.png": "SegmentationObject"}


def _text(el: ET.Element | None) -> str | None:
    return None if el is None or el.text is None else el.text.strip()


def _num(value: str | None) -> int | float | str | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def parse_voc_xml(data: bytes, where: str) -> dict[str, Any]:
    """A VOC annotation as JSON-able data; raises :class:`ItemError` for malformed XML."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ItemError(where, f"malformed annotation XML ({exc})") from None
    if root.tag != "annotation":
        raise ItemError(where, f"root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    objects = []
    for obj in root.findall("object"):
        rec: dict[str, Any] = {}
        for child in obj:
            if child.tag == "bndbox":
                rec["bbox"] = {c.tag: _num(_text(c)) for c in child}
            elif child.tag == "part":
                rec.setdefault("parts", []).append(
                    {
                        "name": _text(child.find("name")),
                        "bbox": {c.tag: _num(_text(c)) for c in (child.find("bndbox") or [])},
                    }
                )
            elif len(child) == 0:
                rec[child.tag] = (
                    _num(_text(child))
                    if child.tag in ("truncated", "difficult", "occluded")
                    else _text(child)
                )
        if not rec.get("name"):
            raise ItemError(where, "an <object> has no <name>")
        objects.append(rec)
    return {
        "filename": _text(root.find("filename")),
        "size": {c.tag: _num(_text(c)) for c in size} if size is not None else None,
        "segmented": _num(_text(root.find("segmented"))),
        "objects": objects,
    }


class VocConverter(Converter):
    name = "voc"
    default_split = None
    resizable = False
    fields: ClassVar[dict[str, str]] = {
        "xml": "the VOC annotation XML, unchanged",
        "json": '{"filename", "size": {width, height, depth}, "segmented", "objects": [{name, pose, '
        "truncated, difficult, bbox: {xmin, ymin, xmax, ymax}, ...}]} parsed from the XML",
        "seg.png": "SegmentationClass PNG (palette class indices), unchanged",
        "inst.png": "SegmentationObject PNG (palette instance indices), unchanged",
    }

    @classmethod
    def infer_split(cls, src: Path) -> str:
        main = src / "ImageSets" / "Main"
        found = (
            sorted(p.stem for p in main.glob("*.txt") if "_" not in p.stem) if main.is_dir() else []
        )
        raise ConversionError(
            f"give the split to convert (--split); {main} has: {', '.join(found) or 'no split files'}"
        )

    def _ids(self) -> list[str]:
        split_file = self.root / "ImageSets" / "Main" / f"{self.options.split}.txt"
        if not split_file.is_file():
            raise ConversionError(f"{split_file}: no such split file")
        ids = []
        for line in split_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                ids.append(line.split()[0])
        return ids

    def _image(self, image_id: str) -> Path | None:
        jpeg_dir = self.root / "JPEGImages"
        for ext in ("jpg", "jpeg", "png", "JPG", "JPEG", "PNG"):
            p = jpeg_dir / f"{image_id}.{ext}"
            if p.is_file():
                return p
        return None

    def _masks(self, image_id: str) -> dict[str, Path]:
        """The segmentation masks of ``image_id`` by member; a mask (or its folder) linked
        out of SRC raises, so the image is reported rather than converted without it."""
        masks = {}
        for member, folder in _SEG.items():
            p = self.root / folder / f"{image_id}.png"
            if p.is_symlink() or p.is_file():
                check_inside(self.root, p, p.relative_to(self.root).as_posix())
                if p.is_file():
                    masks[member] = p
        return masks

    def scan(self, report: Report) -> Iterator[Item]:
        ids = self._ids()
        found: list[tuple[str, Path, bytes, dict[str, Any], Path, dict[str, Path]]] = []
        names: set[str] = set()
        for image_id in ids:
            where = f"Annotations/{image_id}.xml"
            try:
                xml_path = safe_join(self.root, where)
                xml = read_file(xml_path, where)
                ann = parse_voc_xml(xml, where)
            except ItemError as exc:
                reason = exc.reason
                if reason == "file is missing":
                    reason = f"split file {self.options.split}.txt names image id {image_id!r}, which has no annotation"
                report(exc.item, reason)
                continue
            try:
                safe_join(self.root, f"JPEGImages/{image_id}")
            except ItemError as exc:
                report(exc.item, exc.reason)
                continue
            image = self._image(image_id)
            if image is None:
                report(
                    f"JPEGImages/{image_id}.jpg", f"annotation {where} names a missing image file"
                )
                continue
            if (
                source_ext(image.name) not in IMAGE_EXTENSIONS
            ):  # pragma: no cover - _image only finds images
                report(str(image), "unexpected file type")
                continue
            try:
                # the id's check above has no extension: the file found may itself be a link
                check_inside(self.root, image, image.relative_to(self.root).as_posix())
                masks = self._masks(image_id)
            except ItemError as exc:
                report(exc.item, exc.reason)
                continue
            names.update(o["name"] for o in ann["objects"])
            found.append((image_id, image, xml, ann, xml_path, masks))
        if self.classes is None:
            self.classes = sorted(names)
        else:
            self.classes = choose_classes(sorted(names), self.classes)
        index = {n: i for i, n in enumerate(self.classes)}
        for image_id, image, xml, ann, xml_path, masks in found:
            st = image.stat()
            extra = {member: p.relative_to(self.root).as_posix() for member, p in masks.items()}
            size = st.st_size + len(xml) + sum(p.stat().st_size for p in masks.values())
            blob = json.dumps(ann, ensure_ascii=False, separators=(",", ":")).encode()
            xst = xml_path.stat()
            yield Item(
                key=make_key(image_id),
                source=f"JPEGImages/{image.name}",
                label=None,
                class_ids=tuple(sorted({index[o["name"]] for o in ann["objects"]})),
                size=size + len(blob),
                stamp=f"{stamp(st)}:{stamp(xst)}:{sorted(extra)}",
                data=(
                    image.relative_to(self.root).as_posix(),
                    xml_path.relative_to(self.root).as_posix(),
                    extra,
                ),
            )

    def use_classes(self, existing: list[str] | None) -> None:
        self.classes = list(existing) if existing is not None else None

    def load(self, item: Item) -> dict[str, bytes]:
        image_rel, xml_rel, extra = item.data
        data = read_file(self.root / image_rel, item.source)
        ext, data = check_image(data, item.source, self.options.verify, self.options.max_size)
        xml = read_file(self.root / xml_rel, xml_rel)
        ann = parse_voc_xml(xml, xml_rel)
        members = {
            ext or source_ext(image_rel): data,
            "xml": xml,
            "json": json.dumps(ann, ensure_ascii=False, separators=(",", ":")).encode(),
        }
        for member, rel in extra.items():
            seg = read_file(self.root / rel, rel)
            seg_ext, seg = check_image(seg, rel, self.options.verify, None)
            if seg_ext not in ("png", ""):
                raise ItemError(rel, f"segmentation mask is {seg_ext}, expected png")
            members[member] = seg
        return members
