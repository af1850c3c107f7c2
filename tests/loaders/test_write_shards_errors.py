"""``write_shards`` (Ray Dataset -> shards) on hostile records, without a Ray cluster: the
functions its Ray workers and driver run are given real pyarrow tables (the blocks Ray hands
them). Member values of every kind, a bad member name aborting the shard (no ``.partial``
left), a shard written to a URL, a missing shard, an OUT of another converter, bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from visiondata.loaders.convert import ConversionError, convert, write_shards
from visiondata.loaders.convert.dataset import (
    _SHARD_COLUMN,
    _merged,
    _split_info,
    _write_group,
)
from visiondata.loaders.convert.output import make_out
from visiondata.loaders.errors import SampleError

from .convert_fakes import image_bytes, make_imagefolder, read_shards


def _group(index: int, rows: list[dict[str, object]]) -> pa.Table:
    table = pa.Table.from_pylist(rows)
    return table.append_column(_SHARD_COLUMN, pa.array([index] * len(rows)))


def test_member_values_of_every_kind_are_written_as_documented(tmp_path: Path) -> None:
    jpg = image_bytes(0)
    rows = [
        {"__key__": "b", "jpg": jpg, "cls": 2, "flag": True, "meta": [1, 2], "txt": None},
        {"__key__": "a", "jpg": None, "cls": None, "flag": False, "meta": None, "txt": "é"},
    ]
    entry = _write_group(_group(3, rows), "__key__", "cls", str(tmp_path), "train")
    assert entry["index"] == [3]
    shard = json.loads(entry["shard"][0])
    assert (shard["name"], shard["keys"], shard["labels"]) == (
        "train-000003.tar",
        ["a", "b"],
        [None, 2],
    )
    assert json.loads(entry["counts"][0]) == {"2": 1}
    assert json.loads(entry["exts"][0]) == ["cls", "flag", "jpg", "meta", "txt"]
    import tarfile

    with tarfile.open(tmp_path / "train-000003.tar") as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    assert got == {
        "a.flag": b"0",
        "a.txt": "é".encode(),
        "b.cls": b"2",
        "b.flag": b"1",  # a bool is 1/0, not a label
        "b.jpg": jpg,
        "b.meta": b"[1,2]",  # lists as JSON
    }  # nulls leave the member out


def test_a_bad_member_name_aborts_the_shard_leaving_no_file(tmp_path: Path) -> None:
    rows = [{"__key__": "a", "JPG": b"x"}]
    with pytest.raises(SampleError) as err:
        _write_group(_group(0, rows), "__key__", "cls", str(tmp_path), "train")
    assert str(err.value) == "sample 'a': member extension 'JPG' is not lowercase [a-z0-9_.]"
    assert list(tmp_path.iterdir()) == []  # no train-000000.tar(.partial)


def test_a_shard_for_a_url_is_uploaded_whole(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/{tmp_path.parent.name}-{tmp_path.name}"
    try:
        rows = [{"__key__": "k", "txt": "hello"}]
        entry = _write_group(_group(1, rows), "__key__", "cls", f"memory:/{root}", "val")
        shard = json.loads(entry["shard"][0])
        assert fs.ls(root, detail=False) == [f"{root}/val-000001.tar"]
        assert fs.info(f"{root}/val-000001.tar")["size"] == shard["bytes"]
    finally:
        fs.rm(root, recursive=True)


def test_a_shard_missing_from_the_workers_results_is_named() -> None:
    info = '{"name": "train-000000.tar", "num_samples": 0, "bytes": 1024, "sha256": "%s", "keys": [], "offsets": []}'
    rows = [{"index": 0, "shard": info % ("0" * 64), "exts": "[]", "counts": "{}"}]
    with pytest.raises(ConversionError) as err:
        _split_info(rows, 3, None)
    assert str(err.value) == "shards [1, 2] were not written (expected 3)"


def test_labels_without_class_names_are_counted_by_index() -> None:
    info = '{"name": "train-00000%d.tar", "num_samples": 1, "bytes": 10240, "sha256": "%s", "keys": ["k%d"], "offsets": [0]}'
    rows = [
        {"index": i, "shard": info % (i, "0" * 64, i), "exts": '["cls"]', "counts": c}
        for i, c in enumerate(['{"10": 1}', '{"2": 3}'])
    ]
    split, exts = _split_info(rows, 2, None)
    assert split.class_counts == {"2": 3, "10": 1}  # by number, not as text
    assert split.num_samples == 2 and exts == {"cls"}


def test_an_out_of_another_converter_is_refused(tmp_path: Path) -> None:
    make_imagefolder(tmp_path / "src")
    out = tmp_path / "out"
    convert("imagefolder", tmp_path / "src", out)
    before = (out / "manifest.json").read_bytes()
    split, _ = _split_info([], 0, None)
    with pytest.raises(ConversionError) as err:
        _merged(make_out(out, None), "extra", split, set(), None, None, {}, {})
    assert str(err.value) == (
        f"{out} holds shards from the 'imagefolder' converter; cannot add a split written from "
        "a Ray Dataset to it (choose another OUT)"
    )
    assert (out / "manifest.json").read_bytes() == before
    assert sorted(read_shards(out, "train")) != []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"split": "train/x"},
            "split name 'train/x' is not valid (expected letters, digits, '_' and '-')",
        ),
        (
            {"shard_size": "1GB", "samples_per_shard": 5},
            "give either shard_size or samples_per_shard, not both",
        ),
        ({"samples_per_shard": 0}, "samples_per_shard must be >= 1, got 0"),
    ],
)
def test_bad_options_are_refused_before_the_dataset_is_read(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    rows = pa.Table.from_pylist([{"__key__": "a", "txt": "x"}])  # never read: refused first
    with pytest.raises(ConversionError) as err:
        write_shards(rows, tmp_path / "out", **options)  # type: ignore[arg-type]
    assert str(err.value) == message
    assert not (tmp_path / "out").exists()
