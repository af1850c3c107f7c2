"""What every converter shares: the item and sample records, the converter base class,
path safety, key making and the image/video checks. No torch here.

A converter works in two steps so that shards can be planned, sized and written in parallel:
``scan()`` lists the items (cheap: paths, labels, sizes; bad entries are reported, not
raised), and ``load(item)`` reads one item's member bytes (in a worker process) and raises
:class:`ItemError` naming the file and the reason when it is bad. ``samples()`` joins the two
into the plain generator of samples every converter is.
"""

from __future__ import annotations

import errno
import io
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from ..errors import ConversionError, DecodeError, ItemError, MissingExtraError
from ..shards import members
from ..shards.media import PIL_FORMATS, check_pixels, describe_error, fast_header, probe_video
from ..shards.members import MAX_PIXELS

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Converter",
    "Item",
    "Options",
    "Report",
    "Sample",
    "check_image",
    "check_video",
    "class_entries",
    "make_key",
    "read_file",
    "safe_join",
    "stamp",
    "stat_file",
]

#: Source file extensions taken as images / videos: the shard layer's one table.
IMAGE_EXTENSIONS = members.IMAGE_EXTENSIONS
VIDEO_EXTENSIONS = members.VIDEO_EXTENSIONS
_PIL_EXT = PIL_FORMATS
_IMAGE_MEMBER = frozenset(_PIL_EXT.values())
_MEDIA_NAMES = {
    "jpg": "JPEG image",
    "png": "PNG image",
    "gif": "GIF image",
    "bmp": "BMP image",
    "webp": "WebP image",
    "tiff": "TIFF image",
    "ppm": "PPM/PGM image",
    "mp4": "MP4 video",
    "avi": "AVI video",
    "webm": "WebM video",
    "mkv": "Matroska video",
    "mov": "QuickTime video",
    "m4v": "MP4 video",
    "mpg": "MPEG video",
    "mpeg": "MPEG video",
}

#: ``verify`` levels for images: what is checked in ``load``.
VERIFY_LEVELS = {
    "header": "the image format is recognised and the header parses (fast; the default)",
    "decode": "every image is fully decoded (catches truncated files; slower)",
    "none": "bytes are copied without looking at them",
}

Report = Callable[[str, str], None]


@dataclass(frozen=True)
class Options:
    """Per-run options the converters see (the driver checks them first)."""

    split: str
    verify: str = "header"
    max_size: int | None = None


@dataclass(frozen=True)
class Item:
    """One planned sample, cheap to pickle: what to read, not the bytes.

    ``source`` names the item in errors and in the manifest's skipped list (a path relative
    to SRC, or a row). ``size`` estimates the member bytes for shard planning; ``stamp``
    changes when the source changes, so a resumed run rewrites shards whose input moved.
    """

    key: str
    source: str
    label: int | None = None
    class_ids: tuple[int, ...] = ()
    size: int = 0
    stamp: str = ""
    data: Any = None


@dataclass
class Sample:
    key: str
    members: dict[str, bytes]
    label: int | None = None
    source: str = ""
    class_ids: tuple[int, ...] = field(default=())


class Converter:
    """Base class: subclasses set ``name`` and ``fields`` and implement ``scan`` and ``load``."""

    name: ClassVar[str] = ""
    #: member extension -> meaning, for the manifest (copied per instance in ``__init__``).
    fields: ClassVar[dict[str, str]] = {}
    default_split: ClassVar[str | None] = "train"
    #: False where annotations are in pixel coordinates, so ``max_size`` would break them.
    resizable: ClassVar[bool] = True

    def __init__(self, src: Path, options: Options) -> None:
        self.src = src
        self.root = src.resolve()
        self.options = options
        self.classes: list[str] | None = None
        self.member_fields = dict(type(self).fields)
        #: extra facts for the manifest's converter options (e.g. COCO categories).
        self.info: dict[str, Any] = {}

    # -- to implement -------------------------------------------------------------------
    def scan(self, report: Report) -> Iterator[Item]:
        raise NotImplementedError

    def load(self, item: Item) -> dict[str, bytes]:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------
    @classmethod
    def infer_split(cls, src: Path) -> str:
        """The split to convert when none is given (formats whose layout names splits)."""
        raise ConversionError(f"give the split to convert from {src} (--split)")

    def field_key(self, ext: str) -> str:
        """The manifest's ``fields`` key for member ``ext`` (frames collapse to one key)."""
        return ext

    def describe(self, ext: str) -> str:
        """The manifest's meaning of member ``ext``."""
        if ext in self.member_fields:
            return self.member_fields[ext]
        last = ext.rsplit(".", 1)[-1]
        kind = _MEDIA_NAMES.get(last)
        if kind is None:
            return ext
        how = (
            "re-encoded when larger than max_size, else "
            if self.options.max_size and last in _IMAGE_MEMBER
            else ""
        )
        return f"{kind}: encoded bytes, {how}unchanged from the source"

    def use_classes(self, existing: list[str] | None) -> None:
        """Called before ``scan`` with the class list of the manifest this split joins,
        so another split's labels keep the same indices. Default: nothing."""

    def samples(self, report: Report | None = None) -> Iterator[Sample]:
        """The converter as a plain generator of samples (raises on the first bad item
        unless ``report`` is given)."""

        def _raise(item: str, reason: str) -> None:
            raise ItemError(item, reason)

        rep = report or _raise
        for item in self.scan(rep):
            try:
                members = self.load(item)
            except ItemError as exc:
                rep(exc.item, exc.reason)
                continue
            yield Sample(item.key, members, item.label, item.source, item.class_ids)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_cache", None)
        return state


# -- paths ------------------------------------------------------------------------------


def safe_join(root: Path, rel: str, source: str | None = None) -> Path:
    """``root / rel`` if it stays inside ``root``: refuses absolute paths, ``..`` parts and
    symlinks that resolve outside (``root`` must already be resolved)."""
    where = source or rel
    if not rel:
        raise ItemError(where, "empty path")
    if rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel) or os.path.isabs(rel):
        raise ItemError(
            where, f"absolute path {rel!r} is not allowed (paths must be relative to SRC)"
        )
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    if ".." in parts:
        raise ItemError(where, f"path {rel!r} contains '..' (escapes SRC)")
    path = root.joinpath(*parts)
    check_inside(root, path, where)
    return path


def check_inside(root: Path, path: Path, where: str) -> None:
    """Raise unless ``path`` (following symlinks) resolves inside ``root``; a symlink loop is
    that item's error too."""
    # strict realpath is the one spelling that reports a loop on every Python (Path.resolve
    # raises RuntimeError up to 3.12 and says nothing from 3.13 on).
    try:
        resolved = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ItemError(where, f"symlink loop ({os.strerror(errno.ELOOP)})") from None
        # missing, through a file, too long...: where the path would lead is still checked
        # here; the caller's stat or read reports the problem itself.
        resolved = Path(os.path.realpath(path))
    if resolved != root and root not in resolved.parents:
        raise ItemError(where, f"symlink resolves to {resolved}, outside SRC {root}")


def stat_file(path: Path, where: str, missing: str = "file is missing") -> os.stat_result:
    """``path.stat()``, where any failure is that item's problem: ``missing`` when there is
    no file, else the OS's reason (a path through a file, a name too long, ...)."""
    try:
        return path.stat()
    except FileNotFoundError:
        raise ItemError(where, missing) from None
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ItemError(where, f"cannot stat: {reason}") from None


def stamp(st: os.stat_result) -> str:
    """A source file's change stamp, ``size:mtime_ns`` (an item's stamp says when to redo it)."""
    return f"{st.st_size}:{st.st_mtime_ns}"


def read_file(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ItemError(where, "file is missing") from None
    except IsADirectoryError:
        raise ItemError(where, "is a directory, expected a file") from None
    except OSError as exc:
        raise ItemError(where, f"cannot read: {exc.strerror or exc}") from None


_KEY_BAD = re.compile(r"[^A-Za-z0-9_\-/]")


def make_key(rel: str) -> str:
    """A valid sample key from a relative path: extension dropped, other characters that
    keys cannot hold ('.', spaces, ...) replaced by '_'. Two paths may map to one key; the
    driver reports that as a duplicate key naming both files."""
    p = PurePosixPath(rel)
    stem = str(p.with_suffix("")) if p.suffix else rel
    key = _KEY_BAD.sub("_", stem).strip("/")
    return re.sub(r"/+", "/", key) or "_"


def source_ext(path: str | PurePosixPath) -> str:
    return PurePosixPath(path).suffix.lower().lstrip(".")


# -- media checks ----------------------------------------------------------------------


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the environment
        raise MissingExtraError("pillow", "loaders", "the converters") from None
    return Image


def check_image(
    data: bytes, where: str, verify: str = "header", max_size: int | None = None
) -> tuple[str, bytes]:
    """Check encoded image bytes; return ``(member_ext, bytes)``. The bytes come back
    unchanged unless ``max_size`` asks for a smaller copy (longest side, re-encoded in the
    same format)."""
    if verify == "none" and max_size is None:
        return "", data
    if verify == "header" and max_size is None:
        fast = fast_header(data)
        if fast is not None:
            _pixels(fast[1], fast[2], where)
            return fast[0], data
    image_mod = _pil()
    try:
        with image_mod.open(io.BytesIO(data)) as im:
            _pixels(im.width, im.height, where)
            fmt = im.format or ""
            ext = _PIL_EXT.get(fmt)
            if ext is None:
                raise ItemError(
                    where,
                    f"unexpected image format {fmt!r} (expected one of {', '.join(sorted(_PIL_EXT))})",
                )
            if im.width <= 0 or im.height <= 0:
                raise ItemError(where, f"image has size {im.width}x{im.height}")
            if verify == "decode" or max_size is not None:
                im.load()
            if max_size is not None and max(im.size) > max_size:
                return ext, _shrink(im, fmt, max_size)
    except ItemError:
        raise
    except Exception as exc:  # PIL raises many types for bad data
        raise ItemError(where, f"corrupt or unreadable image ({describe_error(exc)})") from None
    return ext, data


def _pixels(width: int, height: int, where: str) -> None:
    try:
        check_pixels(width, height, MAX_PIXELS)
    except DecodeError as exc:
        raise ItemError(where, exc.reason) from None


def _shrink(im: Any, fmt: str, max_size: int) -> bytes:
    im = im.copy()
    im.thumbnail((max_size, max_size))
    out = io.BytesIO()
    save_fmt = "JPEG" if fmt == "MPO" else fmt
    if save_fmt == "JPEG":
        if im.mode not in ("RGB", "L", "CMYK"):
            im = im.convert("RGB")
        im.save(out, format="JPEG", quality=90)
    else:
        im.save(out, format=save_fmt)
    return out.getvalue()


def check_video(data: bytes, where: str, verify: str = "header") -> dict[str, Any]:
    """Check video bytes with PyAV (container and first video stream, frame size within the
    pixel limit, no decoding unless ``verify == "decode"``); return the stream facts."""
    if verify == "none":
        return {}
    try:
        return probe_video(data, verify, MAX_PIXELS)
    except DecodeError as exc:
        raise ItemError(where, exc.reason) from None


def load_json_file(path: Path, where: str) -> Any:
    import json

    try:
        return json.loads(read_file(path, where))
    except ValueError as exc:
        raise ConversionError(f"{where}: not valid JSON: {exc}") from None


def class_folders(root: Path, src: object, expected: str) -> list[str]:
    """The sorted class folder names under ``root`` (hidden ones ignored); ``expected`` says
    the layout in the error when there is none."""
    names = [
        e.name
        for e in os.scandir(root)
        if e.is_dir() and not e.name.startswith(".") and _stays_inside(root, e)
    ]
    if not names:
        raise ConversionError(f"{src}: no class folders found (expected {expected})")
    return sorted(names)


def class_entries(
    root: Path, classes: Sequence[str], report: Report
) -> Iterator[tuple[os.DirEntry[str], int]]:
    """``(class folder, class index)`` for each class folder of ``root``, in name order; hidden
    entries are skipped, files at the top and class folders linked out of SRC reported.
    Symlinks below the class folders are the caller's to check."""
    index = {name: i for i, name in enumerate(classes)}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            report(entry.name, "unexpected file at the top of SRC (expected class folders only)")
            continue
        if entry.is_symlink():
            try:
                check_inside(root, Path(entry.path), entry.name)
            except ItemError as exc:
                report(exc.item, exc.reason)
                continue
        yield entry, index[entry.name]


def _stays_inside(root: Path, entry: os.DirEntry[str]) -> bool:
    """False for a folder linked out of SRC: it is refused, so it takes no class index
    (``class_entries`` reports it)."""
    if not entry.is_symlink():
        return True
    try:
        check_inside(root, Path(entry.path), entry.name)
    except ItemError:
        return False
    return True


def choose_classes(found: list[str], existing: list[str] | None) -> list[str]:
    """Class names for a split: the existing manifest's list when it already holds every
    class found (so indices agree across splits), else the sorted names found."""
    if existing is not None and set(found) <= set(existing):
        return list(existing)
    return sorted(found)
