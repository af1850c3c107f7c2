"""``convert()`` refusing bad options and mismatched OUTs before it writes anything, and its
failure paths while writing: every refusal is one message naming the option or OUT and what
was expected, and OUT is left as it was (no shard, no manifest, no partial file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, ItemError, convert
from visiondata.loaders.convert.run import get_converter

from .convert_fakes import folder_hashes, image_bytes, make_imagefolder, manifest, read_shards


@pytest.fixture
def src(tmp_path: Path) -> Path:
    make_imagefolder(tmp_path / "src")
    return tmp_path / "src"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shard_size": "0MB"}, "shard size must be positive, got '0MB'"),
        ({"shard_size": 0}, "shard size must be positive, got 0"),
        (
            {"verify": "full"},
            "verify='full' is not valid (expected one of: header, decode, none)",
        ),
        ({"workers": 0}, "workers must be an integer >= 1, got 0"),
        ({"workers": 2.5}, "workers must be an integer >= 1, got 2.5"),
        ({"max_size": 0}, "max_size must be >= 1 pixel, got 0"),
        ({"samples_per_shard": 0}, "samples_per_shard must be >= 1, got 0"),
        (
            {"storage_options": {"key": "k"}},
            "storage options are for OUT at a URL (s3://...); '{out}' is a folder",
        ),
    ],
)
def test_a_bad_option_is_refused_before_out_is_made(
    src: Path, tmp_path: Path, options: dict[str, object], message: str
) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConversionError) as err:
        convert("imagefolder", src, out, **options)  # type: ignore[arg-type]
    assert str(err.value) == message.format(out=out)
    assert not out.exists()


def test_an_unknown_format_names_the_formats() -> None:
    with pytest.raises(ConversionError) as err:
        get_converter("tfrecord")
    assert str(err.value) == (
        "unknown format 'tfrecord' (expected one of: imagefolder, coco, voc, cityscapes, video, "
        "hf, list)"
    )


def test_a_missing_src_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConversionError) as err:
        convert("imagefolder", tmp_path / "nowhere", tmp_path / "out")
    assert str(err.value) == f"SRC {tmp_path / 'nowhere'} does not exist"
    assert not (tmp_path / "out").exists()


def test_out_from_another_converter_is_refused_and_kept(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert("imagefolder", src, out, samples_per_shard=5)
    before = folder_hashes(out)
    clips = tmp_path / "clips" / "walk"
    clips.mkdir(parents=True)
    (clips / "frames").mkdir()
    (clips / "frames" / "img_00001.jpg").write_bytes(image_bytes(1))
    with pytest.raises(ConversionError) as err:
        convert("video", tmp_path / "clips", out, split="validation")
    assert str(err.value) == (
        f"{out} holds shards from the 'imagefolder' converter; cannot add a 'video' split to it "
        "(choose another OUT)"
    )
    assert folder_hashes(out) == before


def test_out_of_another_card_is_refused_and_kept(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert("imagefolder", src, out, card="caltech-101")
    before = folder_hashes(out)
    with pytest.raises(ConversionError) as err:
        convert("imagefolder", src, out, split="validation", card="caltech-256")
    assert str(err.value) == f"{out} belongs to card 'caltech-101', not 'caltech-256'"
    assert folder_hashes(out) == before
    assert list(manifest(out)["splits"]) == ["train"]


def test_the_progress_bar_counts_every_sample_and_skipped_item(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (src / "dog" / "d04.jpg").write_bytes(image_bytes(50)[:100])  # a real JPEG cut short
    result = convert(
        "imagefolder", src, tmp_path / "out", samples_per_shard=4, on_error="skip", progress=True
    )
    err = capsys.readouterr().err
    assert "imagefolder train" in err and "13/13" in err  # 12 written + 1 skipped
    assert [s.item for s in result.skipped] == ["dog/d04.jpg"]
    assert result.split_info.num_samples == 12
    assert "dog/d04" not in read_shards(tmp_path / "out", "train")


def test_parallel_workers_write_the_same_bytes_with_a_progress_bar(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    convert("imagefolder", src, tmp_path / "one", samples_per_shard=3)
    result = convert(
        "imagefolder", src, tmp_path / "two", samples_per_shard=3, workers=2, progress=True
    )
    assert result.written_shards == 4
    assert folder_hashes(tmp_path / "two") == folder_hashes(tmp_path / "one")
    assert "12/12" in capsys.readouterr().err


def test_a_bad_item_with_parallel_workers_stops_the_run_naming_it(
    src: Path, tmp_path: Path
) -> None:
    (src / "cat" / "c01.jpg").write_bytes(b"GIF89a not really")  # in the first shard
    out = tmp_path / "out"
    with pytest.raises(ItemError) as err:
        convert("imagefolder", src, out, samples_per_shard=1, workers=2)
    assert str(err.value).startswith("cat/c01.jpg: ")
    names = os.listdir(out)
    assert "manifest.json" not in names
    assert not [n for n in names if n.endswith(".partial")]
    # whatever finished before the stop is journalled, so a fixed rerun keeps it
    (src / "cat" / "c01.jpg").write_bytes(image_bytes(0))
    result = convert("imagefolder", src, out, samples_per_shard=1, workers=2)
    assert result.written_shards + result.kept_shards == 12
    assert result.split_info.num_samples == 12


def test_a_name_too_long_for_a_tar_is_skipped_and_recorded(src: Path, tmp_path: Path) -> None:
    long_name = "x" * 110 + ".jpg"
    (src / "cat" / long_name).write_bytes(image_bytes(99))
    result = convert("imagefolder", src, tmp_path / "out", on_error="skip")
    assert [s.item for s in result.skipped] == [f"cat/{long_name}"]
    reason = (
        f"its sample key 'cat/{'x' * 110}' cannot be written: member name 'cat/{'x' * 110}.cls' "
        "is too long for a USTAR tar (at most 100 bytes after the last '/' and 155 before it)"
    )
    assert result.skipped[0].reason == reason
    assert result.split_info.num_samples == 12  # its neighbours are all written
    assert len(read_shards(tmp_path / "out", "train")) == 12
    assert not any("x" * 110 in key for key in read_shards(tmp_path / "out", "train"))
    with pytest.raises(ItemError) as err:  # on_error="raise": the item, named by its file
        convert("imagefolder", src, tmp_path / "out2")
    assert str(err.value) == f"cat/{long_name}: {reason}"
    assert os.listdir(tmp_path / "out2") == []  # no shard, no partial, no lock
