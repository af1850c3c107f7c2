"""The fast path end to end: converter shards -> Loader with fused crops, detection targets,
video clips -> DevicePrefetcher. Real samples from ../shared/realdata."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from visiondata.loaders import Loader
from visiondata.loaders._decode.detection import DetectionTransform
from visiondata.loaders._decode.imageops import RandomResizedCrop
from visiondata.loaders._decode.video import ClipSampler
from visiondata.loaders._device import DevicePrefetcher
from visiondata.loaders.convert import convert
from visiondata.loaders.shards.manifest import read_manifest

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"


@pytest.fixture(scope="module")
def coco_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("coco") / "shards"
    convert("coco", REALDATA / "coco", out, samples_per_shard=3)
    return out


@pytest.fixture(scope="module")
def bccd_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bccd") / "shards"
    convert("voc", REALDATA / "voc_bccd" / "BCCD", out, split="train", samples_per_shard=4)
    return out


def _epoch(loader: Loader) -> list[dict[str, object]]:
    return list(loader)


def _crops(shards: Path, size: tuple[int, int], **options: object) -> Loader:
    """The COCO sample's images through the fused RandomResizedCrop."""
    return Loader(
        shards,
        split="val2017",
        fields=["jpg"],
        decode={"jpg": RandomResizedCrop(size)},
        **options,  # type: ignore[arg-type]
    )


def test_fused_crops_are_deterministic_per_seed_and_epoch_and_survive_resume(
    coco_shards: Path,
) -> None:
    def make() -> Loader:
        return _crops(coco_shards, (64, 64), batch_size=2, seed=3)

    a, b = _epoch(make()), _epoch(make())
    assert [x["__key__"] for x in a] == [x["__key__"] for x in b]
    assert all(torch.equal(x["jpg"], y["jpg"]) for x, y in zip(a, b, strict=True))
    assert a[0]["jpg"].shape == (2, 3, 64, 64) and a[0]["jpg"].dtype == torch.uint8
    other = make()
    other.set_epoch(1)
    c = _epoch(other)
    assert any(not torch.equal(x["jpg"], y["jpg"]) for x, y in zip(a, c, strict=True))
    # resume after the first batch: the rest is identical, crops included
    first = make()
    it = iter(first)
    next(it)
    state = first.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert [x["__key__"] for x in rest] == [x["__key__"] for x in a[1:]]
    assert all(torch.equal(x["jpg"], y["jpg"]) for x, y in zip(rest, a[1:], strict=True))


def test_coco_detection_batches(coco_shards: Path) -> None:
    loader = Loader(
        coco_shards,
        split="val2017",
        batch_size=4,
        shuffle=False,
        fields=["jpg", "json"],
        decode={"jpg": "bytes", "json": "json"},
        transform=DetectionTransform((128, 128), train=False),
    )
    batches = list(loader)
    assert sum(len(b["__key__"]) for b in batches) == 8
    batch = batches[0]
    assert batch["image"].shape == (4, 3, 128, 128)
    assert isinstance(batch["boxes"], list) and len(batch["boxes"]) == 4
    for boxes, labels in zip(batch["boxes"], batch["labels"], strict=True):
        assert boxes.dtype == torch.float32 and boxes.shape[1] == 4 and len(boxes) == len(labels)
        assert bool((boxes >= 0).all()) and bool((boxes <= 128).all())
        assert bool((boxes[:, 2] > boxes[:, 0]).all())
    assert sum(len(b) for x in batches for b in x["labels"]) > 0
    kps = [k for x in batches for k in x["keypoints"]]
    assert len(kps) == 8 and all(isinstance(k, torch.Tensor) for k in kps)
    assert any(len(k) for k in kps) and all(k.shape[1:] == (17, 3) for k in kps if len(k))


def test_voc_detection_batches_use_manifest_classes(bccd_shards: Path) -> None:
    classes = read_manifest(bccd_shards).classes
    assert classes is not None
    loader = Loader(
        bccd_shards,
        batch_size=4,
        seed=0,
        fields=["jpg", "json"],
        decode={"jpg": "bytes", "json": "json"},
        transform=DetectionTransform((96, 128), classes=classes),
    )
    labels = [int(v) for b in loader for t in b["labels"] for v in t]
    assert set(labels) <= set(range(len(classes))) and labels


def test_video_clips_from_tar_bytes(tmp_path: Path) -> None:
    src = tmp_path / "videos"
    for cls, name in [
        ("bunny_a", "bbb_t05-10s_320x180_h264.mp4"),
        ("bunny_b", "bbb_t20-25s_320x180_mpeg4.avi"),
    ]:
        (src / cls).mkdir(parents=True)
        shutil.copy(REALDATA / "video" / "derived" / name, src / cls / name)
    out = tmp_path / "shards"
    convert("video", src, out, split="train")
    fields = read_manifest(out).fields
    video_fields = [f for f in fields if f in ("mp4", "avi")]
    assert sorted(video_fields) == ["avi", "mp4"]
    loader = Loader(
        out,
        batch_size=1,
        seed=0,
        decode={f: ClipSampler(8, 2) for f in video_fields} | {"json": "json"},
    )
    clips = [b[f] for b in loader for f in video_fields if f in b and not isinstance(b[f], list)]
    assert len(clips) == 2 and all(
        c.shape == (1, 8, 3, 180, 320) and c.dtype == torch.uint8 for c in clips
    )


def test_prefetcher_over_the_loader_on_cpu(coco_shards: Path) -> None:
    loader = _crops(coco_shards, (32, 32), batch_size=4, seed=0, drop_last=True)
    batches = list(DevicePrefetcher(loader, device="cpu"))
    assert len(batches) == 2 and batches[0]["jpg"].dtype == torch.float32
    assert batches[0]["jpg"].shape == (4, 3, 32, 32)


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_are_the_same_whether_or_not_a_transform_sees_the_samples(
    coco_shards: Path, workers: int
) -> None:
    """Straight into a batch, the fused crop hands its pixels over in the layout they came
    out in and the batch's row copy makes them planar; through a transform of the user's,
    each sample's tensor is contiguous. The batches are identical, and contiguous."""
    seen: list[bool] = []

    def identity(sample: dict[str, object]) -> dict[str, object]:
        if not sample["jpg"].is_contiguous():  # type: ignore[attr-defined]
            raise ValueError("a transform was handed a strided tensor")  # fails the loader
        seen.append(True)
        return sample

    def make(**kw: object) -> Loader:
        return _crops(coco_shards, (72, 96), batch_size=3, seed=5, num_workers=workers, **kw)

    direct, through = list(make()), list(make(transform=identity, on_error="raise"))
    assert len(direct) == len(through) > 1
    for a, b in zip(direct, through, strict=True):
        assert a["__key__"] == b["__key__"]
        assert a["jpg"].is_contiguous() and a["jpg"].shape[1:] == (3, 72, 96)
        assert torch.equal(a["jpg"], b["jpg"])
    if workers == 0:  # the transform ran in this process
        assert seen and all(seen)
