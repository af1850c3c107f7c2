"""The Loader: API, options, real shards, sources, collation, mixing, balance, load(card)."""

from __future__ import annotations

import collections
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
import visiondata.loaders as vl
from visiondata.loaders import Loader, LoaderOptionError, World
from visiondata.loaders.shards.manifest import ConverterInfo, Manifest, SplitInfo, write_manifest
from visiondata.loaders.shards.writer import ShardWriter

from .loader_fakes import REALDATA, all_keys, make_shards, png_bytes

ONE = World(0, 1)
WDS = REALDATA / "webdataset"


def test_public_api_is_closed_and_lazy() -> None:
    assert vl.__all__ == sorted(vl.__all__)
    for name in vl.__all__:
        assert getattr(vl, name) is not None
    with pytest.raises(AttributeError):
        _ = vl.NotAThing  # type: ignore[attr-defined]
    code = (
        "import sys, visiondata.loaders as vl; "
        "heavy = [m for m in ('torch', 'numpy', 'fsspec', 'PIL') if m in sys.modules]; "
        "print(heavy); vl.Loader; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shufle": True}, r"unknown option\(s\) 'shufle' \(did you mean 'shuffle'\?\).*Valid"),
        ({"on_error": "ignore"}, r"on_error='ignore' is not valid\. Valid values: 'skip'.*'raise'"),
        ({"remainder": "pad"}, r"remainder='pad'.*'drop'.*'wrap'"),
        ({"balance": "classes"}, r"balance='classes'.*'none'.*'class'"),
        ({"verify": "yes"}, r"verify='yes'.*'auto'.*'never'"),
        ({"decode": "fast"}, r"decode='fast'.*\['auto', 'none'\]"),
        ({"decode": {"jpg": "jpeg2"}}, r"decode\['jpg'\]='jpeg2' is not a decoder.*'image'"),
        ({"shuffle": "yes"}, r"shuffle='yes'.*True or False"),
        ({"num_workers": -1}, r"num_workers=-1.*>= 0"),
        ({"max_error_rate": 2}, r"max_error_rate=2 is not a fraction"),
    ],
)
def test_options_are_checked_when_built(options: dict[str, object], message: str) -> None:
    with pytest.raises(LoaderOptionError, match=message):
        Loader(WDS / "bccd-000000.tar", batch_size=2, world=ONE, **options)  # type: ignore[arg-type]
    with pytest.raises(LoaderOptionError, match="batch_size=0"):
        Loader(WDS / "bccd-000000.tar", batch_size=0, world=ONE)


def test_fields_are_checked_against_the_manifest(tmp_path: Path) -> None:
    root = make_shards(tmp_path, [3])
    with pytest.raises(LoaderOptionError, match=r"fields \['jpg'\] are not in .*\['cls', 'txt'\]"):
        Loader(root, batch_size=2, world=ONE, fields=["cls", "jpg"])


def test_real_webdataset_shards_by_brace_pattern() -> None:
    loader = Loader(str(WDS / "bccd-{000000..000001}.tar"), batch_size=4, world=ONE, seed=1)
    assert len(loader) == 4
    batches = list(loader)
    keys = [k for b in batches for k in b["__key__"]]
    assert sorted(keys) == [f"BloodImage_{i:05d}" for i in (*range(12), 14, 15, 16, 17)]
    b = batches[0]
    assert isinstance(b["jpg"], torch.Tensor) and b["jpg"].shape == (4, 3, 480, 640)
    assert b["jpg"].dtype == torch.uint8
    assert b["xml"][0].startswith(b"<annotation")  # unknown extension: bytes


def test_real_gzip_shard_with_png_and_cls() -> None:
    loader = Loader(str(WDS / "sample.tgz"), batch_size=30, world=ONE, shuffle=False)
    batches = list(loader)
    assert [len(b["__key__"]) for b in batches] == [30, 30, 30]
    assert batches[0]["png"].shape == (30, 3, 28, 28)
    assert batches[0]["cls"].dtype == torch.int64
    with tarfile.open(WDS / "sample.tgz") as tf:  # the same labels as the stdlib reads
        expected = {
            m.name.split(".")[0]: int(tf.extractfile(m).read())  # type: ignore[union-attr]
            for m in tf.getmembers()
            if m.name.endswith(".cls")
        }
    got = {k: int(c) for b in batches for k, c in zip(b["__key__"], b["cls"], strict=True)}
    assert got == expected


def test_real_coco_shard_images_of_different_sizes_stay_a_list() -> None:
    loader = Loader(
        str(WDS / "coco-val2017-ccby-000000.tar"), batch_size=8, world=ONE, fields=["jpg", "json"]
    )
    (batch,) = list(loader)
    assert isinstance(batch["jpg"], list) and len(batch["jpg"]) == 8
    for img, rec in zip(batch["jpg"], batch["json"], strict=True):
        assert img.shape == (3, rec["image"]["height"], rec["image"]["width"])


def test_set_epoch_len_and_every_sample_once(tmp_path: Path) -> None:
    root = make_shards(tmp_path, [7, 3, 12, 1, 9])
    loader = Loader(root, batch_size=5, world=ONE, buffer_size=6)
    assert len(loader) == 7
    e0 = [k for b in loader for k in b["__key__"]]
    loader.set_epoch(0)
    e0b = [k for b in Loader(root, batch_size=5, world=ONE, buffer_size=6) for k in b["__key__"]]
    loader.set_epoch(1)
    e1 = [k for b in loader for k in b["__key__"]]
    assert e0 == e0b and e0 != e1
    assert sorted(e0) == sorted(e1) == all_keys(root)


def test_mask_and_manifest_directory(tmp_path: Path) -> None:
    def seg(i: int, key: str) -> dict[str, bytes]:
        return {"jpg": png_bytes(i, (10, 6)), "seg.png": png_bytes(i, (10, 6), mode="L")}

    root = make_shards(tmp_path, [4], members=seg)
    (batch,) = list(Loader(root / "manifest.json", batch_size=4, world=ONE, shuffle=False))
    assert batch["seg.png"].shape == (4, 6, 10) and batch["seg.png"].dtype == torch.uint8
    assert batch["seg.png"][2].unique().tolist() == [2]
    assert batch["jpg"].shape == (4, 3, 6, 10)


def test_mixing_weights_give_exact_proportions(tmp_path: Path) -> None:
    gta = make_shards(tmp_path / "gta5", [40, 35, 25], prefix="g")
    city = make_shards(tmp_path / "cityscapes", [20, 20], prefix="c")
    for rank in range(2):
        loader = Loader([(gta, 3), (city, 1)], batch_size=8, world=World(rank, 2))
        keys = [k for b in loader for k in b["__key__"]]
        count = collections.Counter(k[0] for k in keys)
        # k = min(100 // 3, 40 // 1) = 33 -> 32 (a multiple of world_size): 96 + 32 samples
        assert count == {"g": 48, "c": 16}
        assert len(set(keys)) == len(keys)


def test_class_balanced_sampling(tmp_path: Path) -> None:
    root = tmp_path / "skewed"
    root.mkdir()
    with ShardWriter(root / "train-000000.tar") as w:
        for i in range(60):
            w.write(f"k{i:03d}", {"cls": str(int(i >= 50)).encode()}, label=int(i >= 50))
        info = w.close()
    write_manifest(
        Manifest(
            converter=ConverterInfo(name="t", version="0"),
            fields={"cls": "label"},
            splits={
                "train": SplitInfo(num_samples=60, shards=[info], class_counts={"0": 50, "1": 10})
            },
        ),
        root,
    )
    loader = Loader(root, batch_size=10, world=ONE, balance="class")
    labels = [int(x) for b in loader for x in b["cls"]]
    assert len(labels) == 60 and labels.count(1) == 30 and labels.count(0) == 30
    with pytest.raises(LoaderOptionError, match="needs per-sample labels"):
        Loader(make_shards(tmp_path / "nolabels", [5], labels=False), batch_size=2, balance="class")


def test_load_by_card(tmp_path: Path) -> None:
    import json

    ann = json.loads((REALDATA / "coco" / "annotations" / "instances_val2017.json").read_text())
    out = tmp_path / "coco"
    out.mkdir()
    with ShardWriter(out / "val-000000.tar") as w:
        for img in ann["images"]:
            data = (REALDATA / "coco" / "val2017" / img["file_name"]).read_bytes()
            w.write(f"{img['id']:012d}", {"jpg": data, "json": json.dumps({"image": img}).encode()})
        info = w.close()
    write_manifest(
        Manifest(
            card="coco-2017",
            converter=ConverterInfo(name="coco", version="0"),
            fields={"jpg": "image", "json": "records"},
            splits={"val": SplitInfo(num_samples=info.num_samples, shards=[info])},
        ),
        out,
    )
    loader = vl.load("coco-2017", "val", out, batch_size=4, world=ONE)
    batches = list(loader)
    assert sum(len(b["__key__"]) for b in batches) == 8
    assert set(batches[0]) == {"__key__", "jpg", "json"}
    with pytest.raises(vl.LoaderOptionError, match="written for card 'coco-2017'"):
        vl.load("imagenet-1k", "val", out, batch_size=4, world=ONE)
