"""What a member's bytes must be, by kind: the checks ``shards verify`` makes and the parsers
the loader's decoders share, so a value the loader refuses is one that verify reports."""

from __future__ import annotations

import io
import json

from ..errors import DecodeError
from .media import probe_image, probe_video
from .members import DEFAULT_LIMITS, Limits, kind_of

__all__ = ["INT64_MAX", "INT64_MIN", "check_member", "json_kind", "parse_cls"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def json_kind(value: object) -> str:
    """What a parsed JSON value is, in JSON's own words ("an object", "null", ...), for
    messages that say what was given where something else was expected."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an object" if isinstance(value, dict) else "an array"


def parse_cls(data: bytes) -> int:
    """A ``cls`` member: a decimal integer (surrounding whitespace allowed) that fits int64, so
    a batch of them always stacks into one int64 tensor."""
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise DecodeError("a cls member must be ASCII digits") from None
    if not text or not text.lstrip("-+").isdigit():
        raise DecodeError(f"a cls member must be a decimal integer, got {text[:20]!r}")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise DecodeError(f"cls value {text[:24]}... does not fit a 64-bit integer")
    return value


def check_member(
    ext: str, data: bytes, deep: bool = False, limits: Limits = DEFAULT_LIMITS
) -> None:
    """Raise a :class:`~visiondata.loaders.errors.DecodeError` (message only) when ``data``
    cannot be what its extension says. Without ``deep``, images are checked to their header
    (format, size, the pixel limit); with it every image and video is decoded."""
    kind = kind_of(ext)
    try:
        if kind == "json":
            json.loads(data)
        elif kind == "cls":
            parse_cls(data)
        elif kind == "text":
            data.decode("utf-8")
        elif kind in ("image", "mask"):
            level = "decode" if deep else "header"
            probe_image(data, level, limits.max_pixels, mask=kind == "mask")
        elif kind == "video" and deep:
            probe_video(data, "header", limits.max_pixels)
        elif kind == "npy" and deep:
            import numpy as np

            np.load(io.BytesIO(data), allow_pickle=False)
    except DecodeError:
        raise
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise DecodeError(f"unreadable {kind} member ({type(exc).__name__}: {exc})") from None
