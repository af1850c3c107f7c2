"""``imagefolder``: ``SRC/class/image`` folders (ImageNet train layout, Caltech).

Class index = position in the sorted class folder names (or in the existing manifest's class
list when this split joins one). Members: the image bytes unchanged (``jpg``/``png``/...,
named after the actual format) and ``cls`` (class index as text). Key: ``class/stem`` with
characters keys cannot hold replaced by ``_``. Hidden files (``.DS_Store``) are ignored;
any other file that is not an image is reported as an unexpected file type.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from ..errors import ItemError
from .base import (
    IMAGE_EXTENSIONS,
    Converter,
    Item,
    Report,
    check_image,
    check_inside,
    choose_classes,
    class_entries,
    class_folders,
    make_key,
    read_file,
    source_ext,
    stamp,
)

__all__ = ["ImageFolderConverter", "walk_files"]


def walk_files(root: Path, top: Path, report: Report) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every regular file under ``top`` as ``(path relative to root, path, stat)``, sorted,
    skipping hidden names; symlinks are followed only when they stay inside ``root``."""
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError as exc:
        report(
            str(top.relative_to(root)) if top != root else ".",
            f"cannot list directory: {exc.strerror}",
        )
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        rel = path.relative_to(root).as_posix()
        if entry.is_symlink():
            try:
                check_inside(root, path, rel)
            except ItemError as exc:
                report(exc.item, exc.reason)
                continue
        try:
            if entry.is_dir():
                yield from walk_files(root, path, report)
            elif entry.is_file():
                yield rel, path, entry.stat()
            elif entry.is_symlink() and not path.exists():
                report(rel, f"dangling symbolic link to {os.readlink(path)!r} (expected a file)")
            else:
                report(rel, "not a regular file")
        except OSError as exc:
            report(rel, f"cannot stat: {exc.strerror}")


class ImageFolderConverter(Converter):
    name = "imagefolder"
    fields: ClassVar[dict[str, str]] = {
        "cls": "class index (decimal text) into the manifest's classes"
    }

    def _class_dirs(self) -> list[str]:
        return class_folders(self.root, self.src, "SRC/class/image files")

    def use_classes(self, existing: list[str] | None) -> None:
        self.classes = choose_classes(self._class_dirs(), existing)

    def scan(self, report: Report) -> Iterator[Item]:
        if self.classes is None:
            self.use_classes(None)
        assert self.classes is not None
        for entry, label in class_entries(self.root, self.classes, report):
            for rel, _path, st in walk_files(self.root, Path(entry.path), report):
                if source_ext(rel) not in IMAGE_EXTENSIONS:
                    report(
                        rel,
                        f"unexpected file type {Path(rel).suffix or '(no extension)'!r} (expected an image: "
                        f"{', '.join(sorted(IMAGE_EXTENSIONS))})",
                    )
                    continue
                yield Item(
                    make_key(rel),
                    rel,
                    label,
                    (label,),
                    st.st_size,
                    stamp(st),
                    rel,
                )

    def load(self, item: Item) -> dict[str, bytes]:
        data = read_file(self.root / item.data, item.source)
        ext, data = check_image(data, item.source, self.options.verify, self.options.max_size)
        return {ext or source_ext(item.source): data, "cls": str(item.label).encode()}
