"""``hf`` on datasets that are not tidy (real ``datasets`` objects saved to disk): an image
cell that is null, one with only a path, one with neither, a value JSON cannot hold, an
unlabelled row (-1), a missing split, data files of mixed kinds, ``datasets`` not installed.
Each bad row is one item naming the row and column; the good rows are still written."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, convert
from visiondata.loaders.errors import MissingExtraError

from .convert_fakes import image_bytes, manifest, read_shards


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _cell() -> object:
    import datasets

    return {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}


def _saved(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[bytes]]:
    import datasets

    images = [image_bytes(i, "PNG") for i in range(5)]
    (root / "files").mkdir(parents=True)
    (root / "files" / "side.png").write_bytes(images[1])
    monkeypatch.chdir(root)  # save_to_disk sizes path-only cells from the working folder
    features = datasets.Features(
        {
            "image": _cell(),  # made an Image column below (no file read at creation)
            "label": datasets.ClassLabel(names=["no", "yes"]),
            "blob": datasets.Value("binary"),
            "when": datasets.Value("timestamp[s]"),
        }
    )
    day = datetime.datetime(2024, 5, 1)
    ds = datasets.Dataset.from_dict(
        {
            "image": [
                {"bytes": images[0], "path": None},
                {"bytes": None, "path": "files/side.png"},  # only a path, inside SRC
                None,  # no image: the row has no image member
                {"bytes": images[3], "path": None},
                {"bytes": images[4], "path": None},
            ],
            "label": [0, 1, -1, 1, 0],  # -1: unlabelled
            "blob": [b"\x00\x01", b"", None, b"abc", b"z"],
            "when": [None, None, None, day, None],  # a datetime is not JSON-able
        },
        features=features,
    ).cast_column("image", datasets.Image())
    datasets.DatasetDict({"train": ds}).save_to_disk(str(root / "saved"))
    (root / "saved" / "files").mkdir()
    (root / "saved" / "files" / "side.png").write_bytes(images[1])  # the path, inside SRC
    return root / "saved", images


def test_untidy_rows_are_named_and_the_good_rows_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, images = _saved(tmp_path, monkeypatch)
    # dataset_dict.json with one split: that split is converted without --split
    result = convert("hf", src, tmp_path / "out", on_error="skip")
    assert [(s.item, s.reason) for s in result.skipped] == [
        ("row 3", "column value is not JSON-able (datetime is not JSON-able)")
    ]
    rows = read_shards(tmp_path / "out", "train")
    assert sorted(rows) == ["00000000", "00000001", "00000002", "00000004"]
    assert rows["00000000"]["image.png"] == images[0]
    assert rows["00000001"]["image.png"] == images[1]  # read from its path
    assert "image.png" not in rows["00000002"] and "cls" not in rows["00000002"]
    assert json.loads(rows["00000000"]["json"]) == {
        "blob": {
            "bytes": 2,
            "sha256": "b413f47d13ee2fe6c845b2ee141af81de858df4ec549a58b7970bb96645bc8d2",
        },
        "when": None,
    }
    assert manifest(tmp_path / "out")["splits"]["train"]["class_counts"] == {"0": 2, "1": 1}

    with pytest.raises(ConversionError) as err:  # on_error="raise": the same row, named
        convert("hf", src, tmp_path / "out2")
    assert str(err.value) == "row 3: column value is not JSON-able (datetime is not JSON-able)"
    assert not (tmp_path / "out2" / "manifest.json").exists()


def _image_parquet(path: Path, cells: list[dict[str, object]]) -> None:
    """A parquet file as ``datasets`` writes one, an Image column ``pic`` stored as given
    (``to_parquet`` would embed path-only cells, and fails on cells with neither)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"pic": pa.array(cells, type=struct)})
    meta = {"info": {"features": {"pic": {"_type": "Image"}}}}
    table = table.replace_schema_metadata({"huggingface": json.dumps(meta)})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def test_image_cells_with_a_path_or_with_nothing(tmp_path: Path) -> None:
    src = tmp_path / "files"
    good, side = image_bytes(0), image_bytes(1, "PNG")
    _image_parquet(
        src / "part-0.parquet",
        [
            {"bytes": good, "path": None},
            {"bytes": None, "path": "imgs/side.png"},  # a path inside SRC: read from there
            {"bytes": None, "path": None},  # neither
            {"bytes": None, "path": "../outside.png"},  # a path out of SRC
        ],
    )
    (src / "imgs").mkdir()
    (src / "imgs" / "side.png").write_bytes(side)
    (tmp_path / "outside.png").write_bytes(side)
    result = convert("hf", src, tmp_path / "out", on_error="skip")
    reasons = {s.item: s.reason for s in result.skipped}
    assert reasons["row 2"] == "image column 'pic' has neither bytes nor path"
    assert reasons["row 3"] == "path '../outside.png' contains '..' (escapes SRC)"
    assert set(reasons) == {"row 2", "row 3"}
    rows = read_shards(tmp_path / "out", "train")
    assert rows == {"00000000": {"pic.jpg": good}, "00000001": {"pic.png": side}}


def test_a_split_the_saved_dict_lacks_is_named(tmp_path: Path) -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"n": [1, 2]})
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(ConversionError) as err:
        convert("hf", tmp_path / "saved", tmp_path / "out", split="validation")
    assert str(err.value) == f"{tmp_path / 'saved'}: no split 'validation' (have: train, test)"
    assert not (tmp_path / "out").exists()


def test_data_files_of_two_kinds_are_refused(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.csv").write_text("n\n1\n")
    (tmp_path / "files" / "b.jsonl").write_text('{"n": 2}\n')
    with pytest.raises(ConversionError) as err:
        convert("hf", tmp_path / "files", tmp_path / "out")
    assert str(err.value) == (
        f"{tmp_path / 'files'}: expected a save_to_disk folder or data files of one kind "
        "(.parquet, .jsonl, .json, .csv), found ['a.csv', 'b.jsonl']"
    )
    assert not (tmp_path / "out").exists()


def test_datasets_not_installed_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.csv").write_text("n\n1\n")
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if it were not installed
    with pytest.raises(MissingExtraError) as err:
        convert("hf", tmp_path / "files", tmp_path / "out")
    assert "datasets" in str(err.value) and "hf" in str(err.value)
    assert not (tmp_path / "out").exists()
