"""The converters' shared image checks and sample generator on hostile bytes: a format the
shards do not take behind a ``.jpg`` name, a PNG header announcing a decompression bomb,
a bad item in the plain ``samples()`` generator, and ``max_size`` on a PNG."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from visiondata.loaders.convert import ConversionError, ItemError, convert
from visiondata.loaders.convert.base import Converter, Options
from visiondata.loaders.convert.imagefolder import ImageFolderConverter
from visiondata.loaders.shards.members import MAX_PIXELS

from .convert_fakes import image_bytes, make_imagefolder, manifest, read_shards

SPEC = {"cat": ["c1.jpg", "c2.jpg", "c3.jpg"], "dog": ["d1.jpg"]}
KEYS = ["cat/c1", "cat/c2", "cat/c3", "dog/d1"]


def _skips(result: object) -> dict[str, str]:
    return {s.item: s.reason for s in result.skipped}  # type: ignore[attr-defined]


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and a valid IHDR chunk (CRC included), no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def _ico() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(out, format="ICO")
    return out.getvalue()


@pytest.mark.parametrize("verify", ["header", "decode"])
def test_an_icon_named_jpg_is_an_unexpected_format(tmp_path: Path, verify: str) -> None:
    src = tmp_path / "src"
    make_imagefolder(src, SPEC)
    (src / "cat" / "c2.jpg").write_bytes(_ico())
    result = convert("imagefolder", src, tmp_path / "out", verify=verify, on_error="skip")
    assert _skips(result) == {
        "cat/c2.jpg": "unexpected image format 'ICO' (expected one of BMP, GIF, JPEG, MPO, "
        "PNG, PPM, TIFF, WEBP)"
    }
    assert list(read_shards(tmp_path / "out", "train")) == ["cat/c1", "cat/c3", "dog/d1"]


def test_a_png_header_announcing_a_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_imagefolder(src, SPEC)
    (src / "dog" / "d1.jpg").write_bytes(_png_header(100_000, 100_000))
    with pytest.raises(ItemError) as info:
        convert("imagefolder", src, tmp_path / "raise")
    reason = (
        f"image is 100000x100000 = 10,000,000,000 pixels, above the limit of {MAX_PIXELS:,} "
        "(max_pixels; a decompression bomb?)"
    )
    assert (info.value.item, info.value.reason) == ("dog/d1.jpg", reason)
    result = convert("imagefolder", src, tmp_path / "out", on_error="skip")
    assert _skips(result) == {"dog/d1.jpg": reason}
    assert list(read_shards(tmp_path / "out", "train")) == KEYS[:3]


def test_samples_raises_on_the_first_bad_item_or_reports_it(tmp_path: Path) -> None:
    make_imagefolder(tmp_path, SPEC)
    (tmp_path / "cat" / "c2.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    conv = ImageFolderConverter(tmp_path, Options("train"))
    gen = conv.samples()
    assert next(gen).key == "cat/c1"
    with pytest.raises(ItemError) as info:
        next(gen)
    assert info.value.item == "cat/c2.jpg"
    assert info.value.reason.startswith("corrupt or unreadable image (")
    seen: list[tuple[str, str]] = []
    got = list(
        ImageFolderConverter(tmp_path, Options("train")).samples(
            lambda item, reason: seen.append((item, reason))
        )
    )
    assert [s.key for s in got] == ["cat/c1", "cat/c3", "dog/d1"]
    assert seen == [("cat/c2.jpg", info.value.reason)]
    assert got[1].members == {"jpg": (tmp_path / "cat" / "c3.jpg").read_bytes(), "cls": b"0"}


def test_max_size_reencodes_a_png_as_png(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_imagefolder(src, {"a": ["big.png", "small.png"]})
    (src / "a" / "big.png").write_bytes(image_bytes(1, "PNG", (300, 120)))
    convert("imagefolder", src, tmp_path / "out", max_size=100)
    got = read_shards(tmp_path / "out", "train")
    with Image.open(io.BytesIO(got["a/big"]["png"])) as im:
        assert (im.format, im.size) == ("PNG", (100, 40))
    assert got["a/small"]["png"] == (src / "a" / "small.png").read_bytes()  # 48x32: unchanged
    assert manifest(tmp_path / "out")["fields"]["png"] == (
        "PNG image: encoded bytes, re-encoded when larger than max_size, else unchanged from the source"
    )


def test_base_converter_defaults(tmp_path: Path) -> None:
    """A layout that does not name its splits asks for one; a member the converter did not
    describe and that is no known media keeps its own name as its meaning."""
    with pytest.raises(ConversionError) as info:
        Converter.infer_split(tmp_path)
    assert str(info.value) == f"give the split to convert from {tmp_path} (--split)"
    conv = ImageFolderConverter(tmp_path, Options("train"))
    assert conv.describe("depth.npy") == "depth.npy"
    assert conv.describe("cls") == "class index (decimal text) into the manifest's classes"
    assert conv.describe("image.webp") == "WebP image: encoded bytes, unchanged from the source"
