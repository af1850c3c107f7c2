"""Image and video bytes: format, size, the decompression-bomb limit. No torch.

One place answers "what is this image, how large is it, may it be decoded?" for every decoder
(the loader's default image and mask decoders, the fused crops, video frames), for
``shards verify --deep``, the audit and the converters. The pixel limit is checked from the
header, before any pixel is allocated: :func:`open_image` refuses an image whose header
declares more than ``max_pixels`` pixels with :class:`~visiondata.loaders.errors.DecompressionBombError`.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ..errors import DecompressionBombError, ImageDecodeError, VideoDecodeError
from .members import MAX_PIXELS

__all__ = [
    "MASK_MODES",
    "PIL_FORMATS",
    "check_mask",
    "check_pixels",
    "describe_error",
    "fast_header",
    "open_image",
    "probe_image",
    "probe_video",
]

#: PIL format name -> member extension. The member extension follows the bytes, not the
#: source file name, so a PNG saved as ``x.jpg`` is stored as ``png``.
PIL_FORMATS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "BMP": "bmp",
    "WEBP": "webp",
    "TIFF": "tiff",
    "PPM": "ppm",
}

_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_OBJECT_REPR = re.compile(r"\s*<[^<>]* (object )?at 0x[0-9a-f]+>")


def describe_error(exc: BaseException) -> str:
    """``Type: message`` without object reprs (memory addresses would make manifests and
    reports differ between runs)."""
    if type(exc).__name__ == "UnidentifiedImageError":
        return "not a recognised image format"
    text = _OBJECT_REPR.sub("", str(exc)).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_pixels(width: int, height: int, max_pixels: int, what: str = "image") -> None:
    """Refuse ``width x height`` above ``max_pixels`` (a decompression bomb)."""
    if width * height > max_pixels:
        raise DecompressionBombError(
            f"{what} is {width}x{height} = {width * height:,} pixels, above the limit of "
            f"{max_pixels:,} (max_pixels; a decompression bomb?)"
        )


def fast_header(data: bytes) -> tuple[str, int, int] | None:
    """``(ext, width, height)`` when ``data`` is a JPEG or PNG whose header parses up to a
    non-empty frame size (JPEG: the marker segments up to SOFn; PNG: signature and IHDR);
    ``None`` means "ask Pillow" (other formats, or anything unusual). About 20x cheaper than
    opening the image with Pillow."""
    if data[:8] == _PNG_SIGNATURE:
        if len(data) >= 24 and data[12:16] == b"IHDR":
            w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
            return ("png", w, h) if w > 0 and h > 0 else None
        return None
    if data[:3] != b"\xff\xd8\xff":
        return None
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF:
            if pos + 9 > n or length < 8:
                return None
            h = int.from_bytes(data[pos + 5 : pos + 7], "big")
            w = int.from_bytes(data[pos + 7 : pos + 9], "big")
            return ("jpg", w, h) if w > 0 and h > 0 else None
        if marker == 0xDA or length < 2:  # start of scan before any frame header
            return None
        pos += 2 + length
    return None


def open_image(data: bytes, max_pixels: int = MAX_PIXELS) -> Any:
    """A lazily opened ``PIL.Image`` whose header was read and whose pixel count was checked;
    nothing is decoded yet. Raises :class:`ImageDecodeError` or :class:`DecompressionBombError`.

    JPEG and PNG sizes are read from the header before Pillow sees the bytes; for other formats
    Pillow's own bomb check (``Image.MAX_IMAGE_PIXELS``, never changed here) may refuse first,
    and is reported the same way."""
    from PIL import Image

    fast = fast_header(data)
    if fast is not None:
        check_pixels(fast[1], fast[2], max_pixels)
    try:
        img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBombError(
            f"refused by Pillow's decompression-bomb check: {exc}"
        ) from None
    except Exception as exc:  # Pillow raises many types for bad bytes
        raise ImageDecodeError(f"not a readable image ({describe_error(exc)})") from None
    if img.width <= 0 or img.height <= 0:
        raise ImageDecodeError(f"image has size {img.width}x{img.height}")
    check_pixels(img.width, img.height, max_pixels)
    return img


def load_image(data: bytes, max_pixels: int = MAX_PIXELS) -> Any:
    """:func:`open_image`, then decode every pixel (catches truncated and corrupt data)."""
    img = open_image(data, max_pixels)
    try:
        img.load()
    except Exception as exc:
        raise ImageDecodeError(
            f"corrupt {img.format or 'image'} data ({describe_error(exc)})"
        ) from None
    return img


def probe_image(
    data: bytes, level: str = "header", max_pixels: int = MAX_PIXELS, mask: bool = False
) -> str:
    """Check encoded image bytes and return their member extension. ``level``: ``header``
    (the format is known and its header parses) or ``decode`` (every pixel decodes). With
    ``mask``, the image must also be a label mask (:func:`check_mask`)."""
    if level == "header" and not mask:  # the fast header has no mode
        fast = fast_header(data)
        if fast is not None:
            check_pixels(fast[1], fast[2], max_pixels)
            return fast[0]
    img = load_image(data, max_pixels) if level == "decode" else open_image(data, max_pixels)
    if mask:
        check_mask(img)
    ext = PIL_FORMATS.get(img.format or "")
    if ext is None:
        raise ImageDecodeError(
            f"unexpected image format {img.format!r} (expected one of {', '.join(sorted(PIL_FORMATS))})"
        )
    return ext


#: the PIL modes of a label mask: one channel of integer labels (``1`` becomes 0/1; ``I;16``
#: and ``I`` keep labels above 255)
MASK_MODES = ("L", "P", "I", "I;16", "1")


def check_mask(img: Any) -> None:
    """Refuse an opened image that is not a label mask. The one rule for the loader's mask
    decoder and ``shards verify``, so a mask the loader refuses is one verify reports; the
    mode is in the header, so the check decodes nothing."""
    if img.mode not in MASK_MODES:
        raise ImageDecodeError(
            f"a label mask must be single-channel (mode {', '.join(MASK_MODES)}), got mode "
            f"{img.mode}"
        )


def probe_video(data: bytes, level: str = "header", max_pixels: int = MAX_PIXELS) -> dict[str, Any]:
    """Open video bytes with PyAV: container and first video stream, frame size checked against
    ``max_pixels``; ``level="decode"`` decodes every frame. Returns the stream's facts."""
    try:
        import av
    except ImportError:
        from ..errors import MissingExtraError

        raise MissingExtraError("av", "loaders", "video members") from None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = container.streams.video
            if not streams:
                raise VideoDecodeError("no video stream in the file")
            vs = streams[0]
            ctx = vs.codec_context
            check_pixels(ctx.width, ctx.height, max_pixels, "video frame")
            facts: dict[str, Any] = {
                "codec": ctx.name,
                "width": ctx.width,
                "height": ctx.height,
                "fps": float(vs.average_rate) if vs.average_rate else None,
                "frames": int(vs.frames) or None,
                "duration": float(container.duration / 1_000_000) if container.duration else None,
            }
            if level == "decode":
                for _ in container.decode(video=0):
                    pass
    except (VideoDecodeError, DecompressionBombError):
        raise
    except Exception as exc:
        raise VideoDecodeError(f"corrupt or unreadable video ({describe_error(exc)})") from None
    return facts
