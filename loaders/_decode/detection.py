"""Detection and segmentation samples: one crop for the image, its boxes, keypoints and mask.

:class:`DetectionTransform` is a sample transform for :class:`~visiondata.loaders.Loader`
(``decode={"jpg": "bytes", "json": "json", ...}``). It decodes the image with the fused
crop, maps the annotations (COCO records or VOC objects as the converters write them) through
the same crop and flip, and returns

- ``image``: uint8 (3, H, W);
- ``boxes``: float32 (N, 4) in output pixels, x0 y0 x1 y1; ``labels``: int64 (N,);
  ``keypoints``: float32 (N, K, 3) (x, y, visibility; 0 outside the crop) when present.
  These are :class:`~visiondata.loaders._decode.collate.Ragged`: a batch holds **a list with one
  tensor per sample** (no padding; N differs between samples);
- ``mask``: int64 (H, W) class labels aligned with the image, when a mask field is given.
  Masks stack into (B, H, W).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..shards.members import MAX_PIXELS, image_field
from .collate import Ragged
from .cropbox import CropBox
from .imageops import CenterCrop, RandomResizedCrop, crop_boxes, crop_mask, to_chw_tensor

__all__ = ["DetectionTransform", "annotations_of"]


def annotations_of(
    ann: dict[str, Any], classes: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Boxes (x0 y0 x1 y1), labels and keypoints from a converter's ``json`` member.

    COCO: ``annotations`` records (``bbox`` x y w h, ``category_id`` kept as the label) and
    ``keypoints`` records. VOC: ``objects`` with ``bbox`` {xmin, ymin, xmax, ymax}; labels are
    indices into ``classes`` (the manifest's class names)."""
    boxes: list[list[float]] = []
    labels: list[int] = []
    keypoints: list[np.ndarray] = []
    if "annotations" in ann or "keypoints" in ann:
        for rec in ann.get("annotations") or []:
            x, y, w, h = rec["bbox"]
            boxes.append([x, y, x + w, y + h])
            labels.append(int(rec["category_id"]))
        for rec in ann.get("keypoints") or []:
            keypoints.append(np.asarray(rec["keypoints"], dtype=np.float32).reshape(-1, 3))
    elif "objects" in ann:
        for obj in ann["objects"]:
            b = obj["bbox"]
            boxes.append([float(b["xmin"]), float(b["ymin"]), float(b["xmax"]), float(b["ymax"])])
            name = obj["name"]
            if classes is None:
                raise ValueError("VOC objects need the class names (pass classes=manifest.classes)")
            if name not in classes:
                raise ValueError(f"object class {name!r} is not among the manifest's classes")
            labels.append(classes.index(name))
    else:
        raise ValueError("annotation JSON has neither COCO 'annotations' nor VOC 'objects'")
    out: dict[str, np.ndarray] = {
        "boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        "labels": np.asarray(labels, dtype=np.int64),
    }
    if "keypoints" in ann:  # persons may have none: (0, 0, 3)
        out["keypoints"] = np.stack(keypoints) if keypoints else np.zeros((0, 0, 3), np.float32)
    return out


def _crop_keypoints(kp: np.ndarray, box: CropBox, size: tuple[int, int]) -> np.ndarray:
    out = kp.astype(np.float32).copy()
    out_h, out_w = size
    sx, sy = out_w / box.width, out_h / box.height
    out[..., 0] = (kp[..., 0] - box.left) * sx
    out[..., 1] = (kp[..., 1] - box.top) * sy
    if box.flip:
        out[..., 0] = out_w - out[..., 0]
    outside = (
        (out[..., 0] < 0) | (out[..., 0] >= out_w) | (out[..., 1] < 0) | (out[..., 1] >= out_h)
    )
    out[..., 2] = np.where(outside | (kp[..., 2] == 0), 0, kp[..., 2])
    out[..., :2] = np.where(out[..., 2:3] == 0, 0, out[..., :2])
    return out


@dataclass
class DetectionTransform:
    """Fused decode + crop of the image with its boxes, keypoints and mask (see module doc)."""

    size: tuple[int, int]
    train: bool = True
    classes: Sequence[str] | None = None
    ann_field: str = "json"
    mask_field: str | None = None
    scale: tuple[float, float] = (0.08, 1.0)
    min_box_size: float = 1.0
    #: refuse images and masks above this many pixels; ``None``: the loader's ``max_pixels``
    max_pixels: int | None = None
    takes_rng = True

    def __post_init__(self) -> None:
        self._crop = (
            RandomResizedCrop(self.size, scale=self.scale, max_pixels=self.max_pixels)
            if self.train
            else CenterCrop(self.size, max_pixels=self.max_pixels)
        )

    def __call__(self, sample: dict[str, Any], rng: random.Random | None = None) -> dict[str, Any]:
        field = image_field(sample)
        if field is None:
            raise ValueError(
                "sample has no image field (an extension the member table calls an image)"
            )
        data = sample[field]
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"field {field!r} must be left as bytes: decode={{{field!r}: 'bytes'}}")
        arr, box, src = self._crop.apply(bytes(data), rng or random.Random())
        ann = sample[self.ann_field]
        found = annotations_of(ann, self.classes)
        boxes, keep = crop_boxes(found["boxes"], box, self.size, self.min_box_size)
        out: dict[str, Any] = {
            "__key__": sample["__key__"],
            "image": to_chw_tensor(arr),
            "boxes": Ragged(_tensor(boxes)),
            "labels": Ragged(_tensor(found["labels"][keep])),
        }
        if "keypoints" in found:
            out["keypoints"] = Ragged(_tensor(_crop_keypoints(found["keypoints"], box, self.size)))
        if self.mask_field is not None:
            limit = self.max_pixels if self.max_pixels is not None else MAX_PIXELS
            mask = crop_mask(bytes(sample[self.mask_field]), box, src, self.size, limit)
            out["mask"] = _tensor(mask.astype(np.int64))
        return out


def _tensor(arr: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(arr))
