"""``hf`` (a dataset saved with save_to_disk) and ``list`` (CSV / JSONL) conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, convert

from .convert_fakes import image_bytes, make_list_tree, manifest, read_shards, realdata


@pytest.fixture
def hf_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[bytes]]:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    images = [image_bytes(i, "PNG" if i % 2 else "JPEG") for i in range(6)]
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=["no", "yes"]),
            "caption": datasets.Value("string"),
        }
    )
    ds = datasets.Dataset.from_dict(
        {
            "image": [{"bytes": b, "path": None} for b in images],
            "label": [i % 2 for i in range(6)],
            "caption": [f"picture {i}" for i in range(6)],
        },
        features=features,
    )
    dd = datasets.DatasetDict({"train": ds.select(range(4)), "test": ds.select(range(4, 6))})
    dd.save_to_disk(str(tmp_path / "saved"))
    return tmp_path / "saved", images


def test_hf_saved_dataset(hf_dir: tuple[Path, list[bytes]], tmp_path: Path) -> None:
    src, images = hf_dir
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match="has: train, test"):
        convert("hf", src, out)
    convert("hf", src, out, split="train")
    convert("hf", src, out, split="test")
    m = manifest(out)
    assert m["classes"] == ["no", "yes"]
    assert m["splits"]["train"]["class_counts"] == {"0": 2, "1": 2}
    train, test = read_shards(out, "train"), read_shards(out, "test")
    assert list(train) == ["00000000", "00000001", "00000002", "00000003"]
    for i, s in enumerate([*train.values(), *test.values()]):
        ext = "png" if i % 2 else "jpg"
        assert s[f"image.{ext}"] == images[i]  # encoded bytes, unchanged
        assert s["cls"] == str(i % 2).encode()
        assert json.loads(s["json"]) == {"caption": f"picture {i}"}


def test_hf_parquet_data_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    images = [image_bytes(i) for i in range(3)]
    ds = datasets.Dataset.from_dict(
        {"img": [{"bytes": b, "path": None} for b in images], "n": [1, 2, 3]},
        features=datasets.Features({"img": datasets.Image(), "n": datasets.Value("int32")}),
    )
    (tmp_path / "files").mkdir()
    ds.to_parquet(str(tmp_path / "files" / "part-0.parquet"))
    convert("hf", tmp_path / "files", tmp_path / "out")
    got = read_shards(tmp_path / "out", "train")
    assert [s["img.jpg"] for s in got.values()] == images
    assert [json.loads(s["json"])["n"] for s in got.values()] == [1, 2, 3]


def _list_tree(tmp_path: Path) -> Path:
    return make_list_tree(tmp_path / "data", 4)


def test_csv_list_with_named_labels(tmp_path: Path) -> None:
    root = _list_tree(tmp_path)
    (root / "list.csv").write_text(
        "path,label,weather\nimgs/0.jpg,sun,dry\nimgs/1.jpg,rain,wet\nimgs/2.jpg,sun,dry\n"
    )
    convert("list", root / "list.csv", tmp_path / "out")
    m = manifest(tmp_path / "out")
    assert m["classes"] == ["rain", "sun"]
    got = read_shards(tmp_path / "out", "train")
    assert list(got) == ["imgs/0", "imgs/1", "imgs/2"]
    assert got["imgs/1"]["jpg"] == (root / "imgs" / "1.jpg").read_bytes()
    assert got["imgs/1"]["cls"] == b"0"
    assert json.loads(got["imgs/2"]["json"]) == {"weather": "dry"}


def test_jsonl_list_with_keys_and_videos(tmp_path: Path) -> None:
    root = _list_tree(tmp_path)
    video = realdata("video", "derived", "bbb_t20-25s_320x180_mpeg4.avi").read_bytes()
    (root / "clip.avi").write_bytes(video)
    rows = [
        {"path": "imgs/3.jpg", "label": 7, "key": "first"},
        {"path": "clip.avi", "label": 2, "key": "second"},
    ]
    (root / "list.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    convert("list", root / "list.jsonl", tmp_path / "out")
    got = read_shards(tmp_path / "out", "train")
    assert got["second"]["avi"] == video
    assert got["first"]["cls"] == b"7"
    assert manifest(tmp_path / "out")["classes"] is None


def test_bad_list_rows(tmp_path: Path) -> None:
    root = _list_tree(tmp_path)
    (tmp_path / "outside.jpg").write_bytes(image_bytes(9))
    (root / "notes.txt").write_text("x")
    (root / "list.csv").write_text(
        "path,label\nimgs/0.jpg,a\n../outside.jpg,a\n/etc/hostname,a\nimgs/9.jpg,b\nimgs/0.jpg,b\nnotes.txt,a\n"
    )
    with pytest.raises(ConversionError) as info:
        convert("list", root / "list.csv", tmp_path / "out")
    text = str(info.value)
    assert "list.csv:3 (../outside.jpg): path '../outside.jpg' contains '..' (escapes SRC)" in text
    assert "list.csv:4 (/etc/hostname): absolute path '/etc/hostname' is not allowed" in text
    assert "list.csv:5 (imgs/9.jpg): names a missing file" in text
    assert (
        "list.csv:6 (imgs/0.jpg): duplicate sample key 'imgs/0' (already made from list.csv:2 (imgs/0.jpg))"
        in text
    )
    assert "list.csv:7 (notes.txt): unexpected file type '.txt'" in text
    assert not (tmp_path / "out" / "manifest.json").exists()
    result = convert("list", root / "list.csv", tmp_path / "out", on_error="skip")
    assert result.split_info.num_samples == 1
    assert len(manifest(tmp_path / "out")["splits"]["train"]["skipped"]) == 5
