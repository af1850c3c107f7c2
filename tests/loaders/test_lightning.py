"""Lightning: the Loader in a LightningDataModule, its state in Lightning's checkpoints, and a
resume from a checkpoint (mid-epoch and at an epoch's end) that trains on exactly the batches
an uninterrupted run does. The README's own example runs in tests/test_readme.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from visiondata.loaders import CenterCrop, Loader
from visiondata.loaders.convert import convert

from .convert_fakes import realdata

L = pytest.importorskip("lightning", reason="lightning is in the dev extra")


class Shards(L.LightningDataModule):  # type: ignore[misc]
    def __init__(self, root: Path, workers: int) -> None:
        super().__init__()
        self.root, self.workers = root, workers

    def train_dataloader(self) -> Loader:
        return Loader(
            self.root,
            batch_size=3,
            num_workers=self.workers,
            fields=["jpg", "cls"],
            decode={"jpg": CenterCrop((32, 32)), "cls": "cls"},
        )


class Model(L.LightningModule):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2))
        self.seen: list[str] = []

    def training_step(self, batch: dict[str, Any], index: int) -> torch.Tensor:
        self.seen += batch["__key__"]
        x = batch["jpg"].float() / 255
        return nn.functional.cross_entropy(self.net(x), batch["cls"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _trainer(steps: int, root: Path) -> Any:
    return L.Trainer(
        accelerator="cpu",
        max_steps=steps,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=root,
    )


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("photos")
    for i, photo in enumerate(sorted(realdata("coco", "val2017").glob("*.jpg"))):
        (src / "ab"[i % 2]).mkdir(exist_ok=True)
        (src / "ab"[i % 2] / photo.name).write_bytes(photo.read_bytes())
    out = src.parent / "shards"
    convert("imagefolder", src, out, samples_per_shard=3)
    return out  # 8 real photos, 3 batches an epoch


@pytest.mark.parametrize(("stop", "workers"), [(2, 0), (3, 2), (4, 0)])
def test_resume_from_a_lightning_checkpoint(
    shards: Path, tmp_path: Path, stop: int, workers: int
) -> None:
    whole = Model()
    _trainer(7, tmp_path).fit(whole, Shards(shards, workers))  # two epochs and one batch
    first = Model()
    stopped = _trainer(stop, tmp_path)
    stopped.fit(first, Shards(shards, workers))
    ckpt = tmp_path / "stop.ckpt"
    stopped.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=False)["loops"]["fit_loop"]["state_dict"]
    assert saved["combined_loader"][0]["batches"] == (stop - 1) % 3 + 1  # the Loader's state
    rest = Model()
    _trainer(7, tmp_path).fit(rest, Shards(shards, workers), ckpt_path=ckpt)
    assert first.seen + rest.seen == whole.seen
    assert len(whole.seen) == 8 + 8 + 3
