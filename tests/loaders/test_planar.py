"""The compiled planar copy (loaders/_decode/_planar.c): the same bytes as torch's copy, on
every shape and flip, refusing what it cannot copy; and the same batches without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visiondata.loaders._decode import collate, imageops, planar  # noqa: E402
from visiondata.loaders._decode.cropbox import CropBox  # noqa: E402

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
COCO = sorted((REALDATA / "coco" / "val2017").glob("*.jpg"))


def test_the_planar_copy_is_built() -> None:
    # setup.py builds it wherever a C compiler is (.ci/run installs gcc); this suite tests it
    assert planar.PLANAR_COPY, (
        "visiondata.loaders._decode._planar is not built: install gcc, then pip install -e ."
    )


def _cl(h: int, w: int, c: int, seed: int) -> torch.Tensor:
    """A (c, h, w) uint8 tensor whose bytes are (h, w, c): what the decoder hands on."""
    g = np.random.default_rng(seed)
    return torch.from_numpy(g.integers(0, 256, (h, w, c), dtype=np.uint8)).permute(2, 0, 1)


# widths around the vector lengths, odd ones, one past the 4,096-pixel mirror scratch
@pytest.mark.parametrize("c", [1, 3, 4])
@pytest.mark.parametrize(("h", "w"), [(1, 1), (2, 31), (224, 224), (7, 33), (3, 4097)])
@pytest.mark.parametrize("flip", [False, True])
def test_into_planar_matches_torch(h: int, w: int, c: int, flip: bool) -> None:
    v = _cl(h, w, c, seed=h * 31 + w + c)
    assert planar._channels_last(v)
    dst = torch.full((c, h, w), 7, dtype=torch.uint8)
    planar.into_planar(dst, v, flip)
    assert torch.equal(dst, v.flip(2) if flip else v)
    out = planar.planar(v, flip)
    assert out.is_contiguous() and torch.equal(out, dst)


def test_other_layouts_and_dtypes_go_through_torch() -> None:
    v = _cl(5, 6, 3, seed=1).contiguous()  # planar already
    assert not planar._channels_last(v)
    assert not planar._channels_last(_cl(5, 6, 3, seed=1).float())
    dst = torch.empty(3, 5, 6, dtype=torch.uint8)
    planar.into_planar(dst, v, True)
    assert torch.equal(dst, v.flip(2))
    wide = torch.from_numpy(np.zeros((4, 9, 3), dtype=np.uint8)).permute(2, 0, 1)[:, :, 2:7]
    assert not planar._channels_last(wide)  # a cut-out: rows further apart than its width
    assert torch.equal(planar.planar(wide, False), wide.contiguous())


def test_the_extension_refuses_wrong_sizes_and_overlap() -> None:
    ext = planar._planar
    assert ext is not None
    src, dst = bytes(12), bytearray(12)
    ext.planar(src, dst, 2, 2, 3, False)
    with pytest.raises(ValueError, match=r"a \(2, 2, 3\) image is 12 bytes; got 12 in and 11"):
        ext.planar(src, bytearray(11), 2, 2, 3, False)
    with pytest.raises(ValueError, match="got 11 in"):
        ext.planar(bytes(11), dst, 2, 2, 3, False)
    with pytest.raises(ValueError, match="no image has shape"):
        ext.planar(src, dst, -2, -2, 3, False)
    with pytest.raises(ValueError, match="no image has shape"):
        ext.planar(src, dst, 2**40, 2**40, 3, False)  # h * w * c overflows
    with pytest.raises(TypeError):
        ext.planar(src, bytes(12), 2, 2, 3, False)  # read-only destination
    both = np.zeros(24, dtype=np.uint8)
    with pytest.raises(ValueError, match="overlap"):
        ext.planar(both[:12], both[6:18], 2, 2, 3, False)


def test_batches_are_the_same_bytes_without_the_extension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real JPEGs through the fused crop into a batch, flipped and not: with the compiled copy
    and with torch's, byte for byte."""
    assert COCO, f"no COCO images under {REALDATA}"
    crop = imageops.RandomResizedCrop((160, 192), flip_p=0.5)

    def batch() -> tuple[torch.Tensor, list[torch.Tensor]]:
        import random

        stacker = collate.Stacker(len(COCO))
        alone = []
        for i, path in enumerate(COCO):
            data = path.read_bytes()
            stacker.add({"__key__": str(i), "jpg": crop.strided(data, random.Random(i))})
            alone.append(crop(data, random.Random(i)))
        return stacker.finish()["jpg"], alone

    fast, fast_alone = batch()
    monkeypatch.setattr(planar, "_planar", None)
    slow, slow_alone = batch()
    assert torch.equal(fast, slow)
    assert all(torch.equal(a, b) for a, b in zip(fast_alone, slow_alone, strict=True))
    assert all(torch.equal(fast[i], a) for i, a in enumerate(fast_alone))


def test_a_mirrored_crop_is_the_mirror_of_the_unmirrored_one() -> None:
    arr = np.random.default_rng(3).integers(0, 256, (375, 500, 3), dtype=np.uint8)
    plain = imageops.resize_crop(arr, CropBox(10, 20, 300, 290, False), (224, 224))
    mirrored = imageops.resize_crop(arr, CropBox(10, 20, 300, 290, True), (224, 224))
    assert mirrored.is_contiguous() and torch.equal(mirrored, plain.flip(2))
