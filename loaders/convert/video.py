"""``video``: ``SRC/class/clip.{mp4,avi,webm,...}`` files (UCF101, HMDB51, Kinetics style) and
``SRC/class/clip/`` frame folders (``img_00001.jpg``, ...).

A clip file becomes members ``mp4``/``avi``/``webm``/... (the bytes unchanged), ``cls`` and
``json`` (source path and stream facts read from the container header: codec, width, height,
fps, frames, duration). A frame folder becomes members ``00001.jpg``, ``00002.jpg``, ...
(frames in name order, bytes unchanged), ``cls`` and ``json`` (source path and the frame file
names). Class index = position in the sorted class folder names. Key: ``class/clip``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ItemError
from .base import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Converter,
    Item,
    Report,
    check_image,
    check_inside,
    check_video,
    choose_classes,
    class_entries,
    class_folders,
    make_key,
    read_file,
    source_ext,
    stamp,
)

__all__ = ["VideoConverter"]


class VideoConverter(Converter):
    name = "video"
    fields: ClassVar[dict[str, str]] = {
        "cls": "class index (decimal text) into the manifest's classes",
        "json": '{"source": path in SRC, and for clip files "codec", "width", "height", "fps", "frames", '
        '"duration" from the container header; for frame folders "frames": the frame file names}',
    }

    def _class_dirs(self) -> list[str]:
        return class_folders(self.root, self.src, "SRC/class/clip.mp4 or SRC/class/clip/")

    def use_classes(self, existing: list[str] | None) -> None:
        self.classes = choose_classes(self._class_dirs(), existing)

    def field_key(self, ext: str) -> str:
        head, _, last = ext.partition(".")
        return f"<n>.{last}" if head.isdigit() and last else ext

    def describe(self, ext: str) -> str:
        head, _, last = ext.partition(".")
        if head.isdigit() and last:
            return f"frame n (1-based, 5 digits) of a frame-folder clip ({last}): encoded bytes unchanged"
        return super().describe(ext)

    def scan(self, report: Report) -> Iterator[Item]:
        if self.classes is None:
            self.use_classes(None)
        assert self.classes is not None
        for cls_entry, label in class_entries(self.root, self.classes, report):
            for entry in sorted(os.scandir(cls_entry.path), key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                rel = path.relative_to(self.root).as_posix()
                try:
                    if entry.is_symlink() or cls_entry.is_symlink():
                        check_inside(self.root, path, rel)
                except ItemError as exc:
                    report(exc.item, exc.reason)
                    continue
                if entry.is_dir():
                    item = self._frames(path, rel, label, report)
                    if item is not None:
                        yield item
                elif source_ext(entry.name) in VIDEO_EXTENSIONS:
                    st = entry.stat()
                    yield Item(
                        make_key(rel),
                        rel,
                        label,
                        (label,),
                        st.st_size,
                        stamp(st),
                        ("clip", rel),
                    )
                else:
                    report(
                        rel,
                        f"unexpected file type {path.suffix or '(no extension)'!r} (expected a video: "
                        f"{', '.join(sorted(VIDEO_EXTENSIONS))}, or a folder of frames)",
                    )

    def _frames(self, path: Path, rel: str, label: int, report: Report) -> Item | None:
        frames: list[str] = []
        size = 0
        stamps = []
        bad = False
        for f in sorted(os.scandir(path), key=lambda e: e.name):
            if f.name.startswith("."):
                continue
            frel = f"{rel}/{f.name}"
            if f.is_symlink():
                try:
                    check_inside(self.root, Path(f.path), frel)
                except ItemError as exc:
                    report(exc.item, exc.reason)
                    bad = True
                    continue
            if not f.is_file() or source_ext(f.name) not in IMAGE_EXTENSIONS:
                report(frel, "unexpected file type in a frame folder (expected image frames only)")
                bad = True
                continue
            st = f.stat()
            frames.append(f.name)
            size += st.st_size
            stamps.append(stamp(st))
        if bad:
            return None
        if not frames:
            report(rel, "empty frame folder")
            return None
        return Item(
            make_key(rel),
            rel,
            label,
            (label,),
            size,
            ";".join(stamps),
            ("frames", rel, tuple(frames)),
        )

    def load(self, item: Item) -> dict[str, bytes]:
        meta: dict[str, Any] = {"source": item.source}
        members: dict[str, bytes] = {"cls": str(item.label).encode()}
        if item.data[0] == "clip":
            rel = item.data[1]
            data = read_file(self.root / rel, rel)
            meta.update(check_video(data, rel, self.options.verify))
            members[source_ext(rel)] = data
        else:
            _, rel, frames = item.data
            meta["frames"] = list(frames)
            for i, name in enumerate(frames, 1):
                frel = f"{rel}/{name}"
                data = read_file(self.root / frel, frel)
                ext, data = check_image(data, frel, self.options.verify, self.options.max_size)
                members[f"{i:05d}.{ext or source_ext(name)}"] = data
        members["json"] = json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode()
        return members
