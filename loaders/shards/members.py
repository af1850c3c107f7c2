"""What a shard's members are: the one table of extensions, the naming rule, and the limits.

Every consumer of shards (the loader's decoders, ``shards verify``, ``shards index``, the audit
and the converters) takes its answers from here, so they cannot disagree about what a member
holds, which sample it belongs to, or how large it may be. No torch, no numpy.

The naming rule is WebDataset's: a member ``dir/0001.seg.png`` belongs to the sample with key
``dir/0001`` (the path up to the first dot of the file name) and is its field ``seg.png``
(lower-cased, as webdataset does). Names that are absolute, hold a ``..`` component, are empty
or are only an extension are refused (:func:`name_problem`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "DEFAULT_LIMITS",
    "IMAGE_EXTENSIONS",
    "KINDS",
    "MASK_EXTENSIONS",
    "MAX_MEMBER_BYTES",
    "MAX_PIXELS",
    "PICKLE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Limits",
    "image_field",
    "is_gzip",
    "kind_of",
    "name_problem",
    "split_name",
]

#: member kind -> what it decodes to (the loader's decoder of the same name)
KINDS = MappingProxyType(
    {
        "image": "jpg/png/webp/... -> uint8 tensor 3xHxW (RGB)",
        "mask": "single-channel PNG -> integer tensor HxW (class labels)",
        "video": "mp4/avi/webm/... -> bytes, decoded by a ClipSampler",
        "json": "JSON -> Python objects",
        "cls": "text integer (fits int64) -> int",
        "text": "UTF-8 -> str",
        "npy": "NumPy .npy, never with pickle -> tensor",
        "pickle": "Python pickle: runs code, refused unless opted in",
        "torch": "torch.save file: runs code, refused unless opted in",
        "bytes": "anything else: left as bytes",
    }
)

#: extension -> kind: the one table. A compound extension (``seg.png``) is looked up whole
#: first, then by its last part (so ``left.jpg`` is an image).
_TABLE: dict[str, str] = {
    **dict.fromkeys(
        ("jpg", "jpeg", "jpe", "png", "webp", "bmp", "gif", "tif", "tiff", "ppm", "pgm", "pbm"),
        "image",
    ),
    **dict.fromkeys(("seg.png", "mask.png", "label.png", "labels.png"), "mask"),
    **dict.fromkeys(("mp4", "avi", "webm", "mkv", "mov", "m4v", "mpg", "mpeg"), "video"),
    "json": "json",
    "cls": "cls",
    "txt": "text",
    "text": "text",
    "npy": "npy",
    **dict.fromkeys(("pyd", "pickle", "pkl"), "pickle"),
    **dict.fromkeys(("pth", "pt"), "torch"),
}
EXTENSIONS = MappingProxyType(_TABLE)

IMAGE_EXTENSIONS = frozenset(e for e, k in _TABLE.items() if k == "image")
MASK_EXTENSIONS = frozenset(e for e, k in _TABLE.items() if k == "mask")
VIDEO_EXTENSIONS = frozenset(e for e, k in _TABLE.items() if k == "video")
PICKLE_EXTENSIONS = frozenset(e for e, k in _TABLE.items() if k in ("pickle", "torch"))

_GZIP_SUFFIXES = (".gz", ".tgz")


def kind_of(ext: str) -> str:
    """The kind of a member extension (``bytes`` when the table does not know it)."""
    ext = ext.lower()
    if ext in _TABLE:
        return _TABLE[ext]
    return _TABLE.get(ext.rsplit(".", 1)[-1], "bytes")


def image_field(fields: Iterable[str]) -> str | None:
    """The first of ``fields`` (in their order) whose extension is an image, or ``None``."""
    return next((f for f in fields if kind_of(f) == "image"), None)


def is_gzip(url: str) -> bool:
    """Whether a shard is a gzip-compressed tar, by its name (``.tar.gz``, ``.tgz``)."""
    return url.lower().rstrip("/").endswith(_GZIP_SUFFIXES)


def split_name(name: str) -> tuple[str, str]:
    """``(key, extension)`` of a member name: the key ends at the first dot of the file name;
    the extension is lower-cased. A name without a dot has the extension ``""``."""
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot < 0:
        return name, ""
    return name[:dot], name[dot + 1 :].lower()


def name_problem(name: str) -> str | None:
    """Why a member name is refused, or ``None`` when it is a sample member's name."""
    if not name:
        return "has an empty name"
    if name.startswith("/"):
        return "has an absolute name"
    parts = name.split("/")
    if ".." in parts:
        return "has a '..' component in its name"
    if "\0" in name:
        return "has a NUL byte in its name"
    key, ext = split_name(name)
    base = key.rsplit("/", 1)[-1]
    if not base:
        return "has a name that is only an extension (no sample key)"
    if not ext:
        return "has no extension (no field name)"
    return None


#: Default of the loader's ``max_member_bytes``: a member larger than this (inflated size, for
#: gzip shards) is refused before it is read into memory.
MAX_MEMBER_BYTES = 1 << 30
#: Default of ``max_pixels``: an image (or video frame) with more pixels than this is refused
#: from its header, before any pixel is allocated. It is Pillow's own default
#: (``PIL.Image.MAX_IMAGE_PIXELS``), so nothing accepted here makes Pillow warn.
MAX_PIXELS = 89_478_485


@dataclass(frozen=True)
class Limits:
    """The bounds every reader and decoder applies (the loader's ``max_member_bytes`` and
    ``max_pixels`` options; ``shards verify`` takes the same)."""

    max_member_bytes: int = MAX_MEMBER_BYTES
    max_pixels: int = MAX_PIXELS
    #: a pax extended header or GNU long name longer than this is refused as absurd
    max_header_bytes: int = 1 << 20


DEFAULT_LIMITS = Limits()
