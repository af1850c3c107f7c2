"""The loader's per-field decoders (SampleDecoder) on member bytes they must refuse or
convert: label masks by PIL mode, pickle only when opted in, decode= options that are not
decoders. Each refusal names the shard, the key and the field."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from PIL import Image
from visiondata.loaders._decode.fields import SampleDecoder
from visiondata.loaders.errors import DecodeError, LoaderOptionError, PickleRefusedError
from visiondata.loaders.shards.checks import check_member


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_an_rgb_mask_is_refused_by_field_and_the_other_fields_are_not_lost() -> None:
    decode = SampleDecoder()
    rgb = _png(Image.new("RGB", (4, 3), (1, 2, 3)))
    with pytest.raises(DecodeError) as err:
        decode("train-000000.tar", "k1", {"seg.png": rgb, "cls": b"2"})
    assert (err.value.shard, err.value.key) == ("train-000000.tar", "k1")
    assert err.value.reason == (
        "field 'seg.png': a label mask must be single-channel (mode L, P, I, I;16, 1), got mode RGB"
    )
    good = decode(
        "train-000000.tar", "k2", {"seg.png": _png(Image.new("L", (4, 3), 7)), "cls": b"2"}
    )
    assert good["cls"] == 2 and good["seg.png"].shape == (3, 4) and int(good["seg.png"][0, 0]) == 7


@pytest.mark.parametrize("deep", [False, True])
def test_verify_refuses_the_mask_the_loader_refuses(deep: bool) -> None:
    with pytest.raises(DecodeError) as err:
        check_member("seg.png", _png(Image.new("RGB", (4, 3), (1, 2, 3))), deep=deep)
    assert err.value.reason == (
        "a label mask must be single-channel (mode L, P, I, I;16, 1), got mode RGB"
    )


@pytest.mark.parametrize("mode", ["L", "P", "I;16", "1", "RGB", "RGBA", "LA"])
def test_verify_and_the_loader_agree_on_every_mask_mode(mode: str) -> None:
    data = _png(Image.new(mode, (4, 3)))
    try:
        SampleDecoder()("s.tar", "k", {"seg.png": data})
    except DecodeError:
        loader_refuses = True
    else:
        loader_refuses = False
    try:
        check_member("seg.png", data, deep=True)
    except DecodeError:
        verify_refuses = True
    else:
        verify_refuses = False
    assert verify_refuses == loader_refuses == (mode in ("RGB", "RGBA", "LA"))


def test_a_16_bit_mask_keeps_its_labels_above_255() -> None:
    arr = np.array([[0, 300], [65535, 7]], dtype=np.uint16)
    out = SampleDecoder()("s.tar", "k", {"seg.png": _png(Image.fromarray(arr))})
    assert str(out["seg.png"].dtype) == "torch.int32"
    assert out["seg.png"].tolist() == [[0, 300], [65535, 7]]


def test_a_1_bit_mask_becomes_0_and_1() -> None:
    img = Image.new("1", (3, 2), 0)
    img.putpixel((1, 0), 1)
    out = SampleDecoder()("s.tar", "k", {"seg.png": _png(img)})
    assert str(out["seg.png"].dtype) == "torch.uint8"
    assert out["seg.png"].tolist() == [[0, 1, 0], [0, 0, 0]]


def test_pickle_is_decoded_only_for_the_field_named() -> None:
    data = pickle.dumps({"boxes": [1, 2]})
    with pytest.raises(PickleRefusedError) as err:
        SampleDecoder()("s.tar", "k", {"pkl": data})
    assert err.value.reason == (
        "field 'pkl' needs 'pickle' (runs code from the file); refused unless allow_pickle "
        "names 'pkl'"
    )
    assert SampleDecoder(allow_pickle=["pkl"])("s.tar", "k", {"pkl": data})["pkl"] == {
        "boxes": [1, 2]
    }


@pytest.mark.parametrize("bad", [3, None, b"image"])
def test_a_decode_option_that_is_neither_name_nor_function_is_refused(bad: object) -> None:
    with pytest.raises(LoaderOptionError) as err:
        SampleDecoder(decode={"jpg": bad})  # type: ignore[dict-item]
    assert str(err.value) == "decode['jpg'] must be a decoder name or a function"


def test_a_torch_file_is_decoded_only_for_the_field_named() -> None:
    import torch

    buf = io.BytesIO()
    torch.save(torch.arange(3), buf)
    with pytest.raises(PickleRefusedError) as err:
        SampleDecoder()("s.tar", "k", {"pt": buf.getvalue()})
    assert err.value.reason.startswith("field 'pt' needs 'torch' (runs code from the file)")
    out = SampleDecoder(allow_pickle=["pt"])("s.tar", "k", {"pt": buf.getvalue()})
    assert out["pt"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("mode", ["L", "P", "I;16", "1", "RGB", "RGBA", "LA"])
def test_the_cropped_mask_follows_the_same_rule_and_labels(mode: str) -> None:
    """``crop_mask`` (the fused crop of an image and its mask) refuses what the whole-mask
    decoder refuses, and a bilevel mask comes out as labels 0 and 1 there too."""
    from visiondata.loaders._decode.cropbox import CropBox
    from visiondata.loaders._decode.imageops import crop_mask

    img = Image.new(mode, (4, 4))
    if mode in ("L", "P", "1"):
        img.putpixel((0, 0), 1)
    data = _png(img)
    box = CropBox(0, 0, 4, 4, flip=False)
    if mode in ("RGB", "RGBA", "LA"):
        with pytest.raises(DecodeError, match=f"single-channel .* got mode {mode}$"):
            crop_mask(data, box, (4, 4), (4, 4))
        return
    out = crop_mask(data, box, (4, 4), (4, 4))
    whole = SampleDecoder()("s.tar", "k", {"seg.png": data})["seg.png"].numpy()
    assert out.tolist() == whole.tolist()
