"""The shared image/video probe (shards/media.py) on headers it must not trust: a PNG cut
before its IHDR, JPEG fill bytes and marker segments out of order, a BMP that declares a
decompression bomb, a format the member table does not know, a container with no video."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from visiondata.loaders.errors import DecompressionBombError, ImageDecodeError, VideoDecodeError
from visiondata.loaders.shards.media import fast_header, probe_image, probe_video

from .crafted import jpeg, silence_wav
from .loader_fakes import REALDATA, png_bytes

MP4 = REALDATA / "video" / "derived" / "bbb_t05-10s_320x180_h264.mp4"


def _saved(fmt: str, mode: str = "L", size: tuple[int, int] = (8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 3).save(buf, format=fmt)
    return buf.getvalue()


def test_a_png_cut_before_its_ihdr_is_left_to_pillow_and_refused() -> None:
    cut = png_bytes(1)[:12]  # the signature and the IHDR length, no chunk type
    assert fast_header(cut) is None
    with pytest.raises(ImageDecodeError) as err:
        probe_image(cut)
    assert err.value.reason == "not a readable image (not a recognised image format)"


def test_jpeg_fill_bytes_before_a_marker_are_skipped() -> None:
    data = jpeg(0)
    size = fast_header(data)
    assert size is not None and size[0] == "jpg"
    filled = data[:2] + b"\xff\xff\xff" + data[2:]  # fill bytes (0xFF) are allowed before a marker
    assert fast_header(filled) == size
    with Image.open(io.BytesIO(data)) as img:
        assert size[1:] == img.size


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xc0\x00\x04\x08\x00\x10\x00\x10",  # SOF0 whose length (4) is under 8
        b"\xff\xd8\xff\xda\x00\x08" + bytes(8),  # start of scan before any frame header
        b"\xff\xd8\xff\xe0\x00\x01" + bytes(8),  # a segment length under 2
        b"\xff\xd8\xff\xe0\x00\x10" + bytes(14) + b"\x00\xc0",  # no 0xFF where a marker must be
    ],
    ids=["short-sof", "sos-first", "length-1", "no-marker"],
)
def test_jpeg_headers_out_of_order_are_not_trusted(data: bytes) -> None:
    assert fast_header(data) is None
    with pytest.raises(ImageDecodeError):
        probe_image(data)


def test_a_bmp_declaring_a_bomb_is_refused_by_pillows_check() -> None:
    bmp = bytearray(_saved("BMP"))
    bmp[18:22] = (30_000).to_bytes(4, "little")  # BITMAPINFOHEADER width
    bmp[22:26] = (30_000).to_bytes(4, "little")  # and height
    with pytest.raises(DecompressionBombError) as err:
        probe_image(bytes(bmp))
    assert err.value.reason.startswith(
        "refused by Pillow's decompression-bomb check: Image size (900000000 pixels) exceeds limit"
    ), err.value.reason


def test_a_format_outside_the_member_table_is_named() -> None:
    pcx = _saved("PCX")
    with pytest.raises(ImageDecodeError) as err:
        probe_image(pcx)
    assert err.value.reason == (
        "unexpected image format 'PCX' (expected one of BMP, GIF, JPEG, MPO, PNG, PPM, TIFF, WEBP)"
    )


def test_probe_video_without_a_video_stream_and_decoding_a_real_clip() -> None:
    with pytest.raises(VideoDecodeError) as err:
        probe_video(silence_wav(), "decode")
    assert err.value.reason == "no video stream in the file"
    facts = probe_video(MP4.read_bytes(), "decode")
    assert (facts["codec"], facts["width"], facts["height"], facts["frames"]) == (
        "h264",
        320,
        180,
        120,
    )
