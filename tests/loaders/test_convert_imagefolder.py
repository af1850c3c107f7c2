"""ImageFolder conversion on a fake tree built in code: bytes, labels, counts, round trips,
determinism, resume, merging splits and every bad-input case."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, ItemError, convert
from visiondata.loaders.shards.manifest import read_manifest

from .convert_fakes import (
    IMAGEFOLDER,
    WDS_LEAKS,
    image_bytes,
    make_imagefolder,
    manifest,
    read_shards,
    read_with_datasets,
    read_with_webdataset,
    tree_bytes,
)

CLASSES = sorted(IMAGEFOLDER)


def _key(rel: str) -> str:
    stem = rel.rsplit(".", 1)[0]
    return stem.replace(".", "_")


def test_every_sample_equals_the_source(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    files = make_imagefolder(src)
    result = convert("imagefolder", src, out, samples_per_shard=4)
    samples = read_shards(out, "train")
    assert len(samples) == len(files) == result.split_info.num_samples
    for rel, data in files.items():
        s = samples[_key(rel)]
        ext = "png" if rel.endswith(".png") else "jpg"
        assert s[ext] == data
        assert int(s["cls"]) == CLASSES.index(rel.split("/")[0])
        assert set(s) == {ext, "cls"}
    m = read_manifest(out)
    assert m.classes == CLASSES
    info = m.splits["train"]
    assert info.class_counts == {str(i): len(IMAGEFOLDER[c]) for i, c in enumerate(CLASSES)}
    assert [len(s.keys) for s in info.shards] == [4, 4, 4]
    labels = [lab for s in info.shards for lab in (s.labels or [])]
    assert labels == [CLASSES.index(k.split("/")[0]) for s in info.shards for k in s.keys]
    assert set(m.fields) == {"jpg", "png", "cls"}
    assert not (out / ".train.journal.jsonl").exists()


@WDS_LEAKS
def test_plain_webdataset_reads_the_shards(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    files = make_imagefolder(src)
    convert("imagefolder", src, out, samples_per_shard=5)
    got = read_with_webdataset(out, "train")
    assert len(got) == len(files)
    for rel, data in files.items():
        s = got[_key(rel)]
        assert s["png" if rel.endswith(".png") else "jpg"] == data
        assert int(s["cls"]) == CLASSES.index(rel.split("/")[0])


def test_datasets_webdataset_reads_the_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    files = make_imagefolder(src, {"a": ["1.jpg", "2.jpg", "3.jpg"], "b": ["4.jpg", "5.jpg"]})
    convert("imagefolder", src, out, samples_per_shard=2)
    ds = read_with_datasets(out, "train", tmp_path / "hf-cache", monkeypatch)
    import datasets

    ds = ds.cast_column("jpg", datasets.Image(decode=False))
    assert len(ds) == 5
    for row in ds:
        rel = next(r for r in files if _key(r) == row["__key__"])
        assert row["jpg"]["bytes"] == files[rel]
        assert row["cls"] == ["a", "b"].index(rel.split("/")[0])


def test_reruns_and_worker_counts_give_identical_bytes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_imagefolder(src)
    convert("imagefolder", src, tmp_path / "one", samples_per_shard=3)
    convert("imagefolder", src, tmp_path / "again", samples_per_shard=3)
    convert("imagefolder", src, tmp_path / "two", samples_per_shard=3, workers=2)
    one = tree_bytes(tmp_path / "one")
    assert len(one) == 5  # 4 shards + manifest
    assert one == tree_bytes(tmp_path / "again") == tree_bytes(tmp_path / "two")


def test_shard_size_in_bytes(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_imagefolder(src)
    result = convert("imagefolder", src, out, shard_size="30kB")
    shards = result.split_info.shards
    assert len(shards) > 1
    assert all(s.bytes <= 30_000 for s in shards)
    assert sum(s.num_samples for s in shards) == 12


def test_resume_keeps_finished_shards(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    files = make_imagefolder(src)
    bad = src / "fish" / "f05.jpg"  # last item: the run dies in the last shard
    bad.write_bytes(b"not an image")
    with pytest.raises(ItemError, match=r"fish/f05.jpg: corrupt or unreadable image"):
        convert("imagefolder", src, out, samples_per_shard=3)
    assert not (out / "manifest.json").exists()
    assert (out / ".train.journal.jsonl").exists()
    assert sorted(p.name for p in out.glob("*.tar")) == [f"train-00000{i}.tar" for i in range(3)]
    bad.write_bytes(files["fish/f05.jpg"])
    (out / "train-000001.tar").write_bytes(b"tampered")  # checksum no longer matches: rewritten
    result = convert("imagefolder", src, out, samples_per_shard=3)
    assert (result.kept_shards, result.written_shards) == (2, 2)
    convert("imagefolder", src, tmp_path / "fresh", samples_per_shard=3)
    assert tree_bytes(out) == tree_bytes(tmp_path / "fresh")


def test_changed_source_is_not_kept(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_imagefolder(src)
    (src / "fish" / "f05.jpg").write_bytes(b"broken")
    with pytest.raises(ItemError):
        convert("imagefolder", src, out, samples_per_shard=3)
    (src / "cat" / "c01.jpg").write_bytes(image_bytes(999))  # shard 0's input changed
    (src / "fish" / "f05.jpg").write_bytes(image_bytes(998))
    result = convert("imagefolder", src, out, samples_per_shard=3)
    assert result.kept_shards == 2  # shards 1 and 2 only
    assert read_shards(out, "train")["cat/c01"]["jpg"] == image_bytes(999)


def test_a_second_split_joins_the_manifest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_imagefolder(tmp_path / "train")
    make_imagefolder(tmp_path / "val", {"dog": ["v1.jpg"], "fish": ["v2.jpg"]})
    convert("imagefolder", tmp_path / "train", out)
    before = manifest(out)["splits"]["train"]
    convert("imagefolder", tmp_path / "val", out, split="val")
    m = manifest(out)
    assert m["splits"]["train"] == before
    assert m["classes"] == CLASSES
    assert m["splits"]["validation"]["class_counts"] == {"0": 0, "1": 1, "2": 1}
    assert m["splits"]["validation"]["source_split"] == "val"
    assert (
        read_shards(out, "validation")["fish/v2"]["cls"] == b"2"
    )  # index from the existing classes
    make_imagefolder(tmp_path / "other", {"bird": ["b.jpg"]})
    with pytest.raises(ConversionError, match="differ from the 3 classes already in"):
        convert("imagefolder", tmp_path / "other", out, split="test")


def test_max_size_reencodes_a_smaller_copy(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_imagefolder(src, {"a": ["big.jpg"]})
    (src / "a" / "big.jpg").write_bytes(image_bytes(1, "JPEG", (800, 600)))
    convert("imagefolder", src, tmp_path / "out", max_size=100)
    from io import BytesIO

    from PIL import Image

    data = read_shards(tmp_path / "out", "train")["a/big"]["jpg"]
    assert Image.open(BytesIO(data)).size == (100, 75)
    assert "re-encoded" in manifest(tmp_path / "out")["fields"]["jpg"]


# -- bad input -------------------------------------------------------------------------


def _bad_tree(tmp_path: Path, case: str) -> tuple[Path, str, str]:
    """A fake tree with one fault; returns (SRC, item named, reason fragment)."""
    src = tmp_path / "src"
    make_imagefolder(src)
    if case == "corrupt":
        (src / "dog" / "d01.jpg").write_bytes(b"\xff\xd8 garbage")
        return src, "dog/d01.jpg", "corrupt or unreadable image"
    if case == "unexpected-type":
        (src / "dog" / "notes.txt").write_text("hello")
        return src, "dog/notes.txt", "unexpected file type '.txt'"
    if case == "duplicate-key":
        (src / "dog" / "d_03.jpg").write_bytes(image_bytes(7))
        return (
            src,
            "dog/d_03.jpg",
            "duplicate sample key 'dog/d_03' (already made from dog/d.03.jpg)",
        )
    if case == "symlink-escape":
        outside = tmp_path / "outside.jpg"
        outside.write_bytes(image_bytes(3))
        os.symlink(outside, src / "dog" / "link.jpg")
        return src, "dog/link.jpg", "symlink resolves to "
    if case == "symlinked-dir-escape":
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "x.jpg").write_bytes(image_bytes(4))
        os.symlink(tmp_path / "elsewhere", src / "dog" / "sub")
        return src, "dog/sub", "symlink resolves to "
    if case == "stray-top-file":
        (src / "README.txt").write_text("x")
        return src, "README.txt", "unexpected file at the top of SRC"
    raise AssertionError(case)


BAD = [
    "corrupt",
    "unexpected-type",
    "duplicate-key",
    "symlink-escape",
    "symlinked-dir-escape",
    "stray-top-file",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_raises_naming_the_file(tmp_path: Path, case: str) -> None:
    src, item, reason = _bad_tree(tmp_path, case)
    with pytest.raises(ConversionError) as info:
        convert("imagefolder", src, tmp_path / "out")
    assert f"{item}: {reason}" in str(info.value)
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("case", BAD)
def test_bad_input_skipped_and_recorded(tmp_path: Path, case: str) -> None:
    src, item, reason = _bad_tree(tmp_path, case)
    result = convert("imagefolder", src, tmp_path / "out", on_error="skip")
    skipped = manifest(tmp_path / "out")["splits"]["train"]["skipped"]
    assert [s["item"] for s in skipped] == [item]
    assert reason in skipped[0]["reason"]
    assert f"{item}: {reason}" in result.summary()
    expected = 12 if case not in ("corrupt",) else 11
    assert result.split_info.num_samples == expected


def test_options_are_checked_where_given(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_imagefolder(src)
    with pytest.raises(
        ConversionError, match=r"on_error='ignore' is not valid \(expected one of: raise, skip\)"
    ):
        convert("imagefolder", src, tmp_path / "o", on_error="ignore")
    with pytest.raises(ConversionError, match="unknown format 'imgfolder'"):
        convert("imgfolder", src, tmp_path / "o")
    with pytest.raises(ConversionError, match="not a size"):
        convert("imagefolder", src, tmp_path / "o", shard_size="lots")
    with pytest.raises(ConversionError, match="not both"):
        convert("imagefolder", src, tmp_path / "o", shard_size="1GB", samples_per_shard=3)
    with pytest.raises(ConversionError, match="split name 'a/b'"):
        convert("imagefolder", src, tmp_path / "o", split="a/b")
    assert not (tmp_path / "o").exists()


def test_sample_generator_is_deterministic(tmp_path: Path) -> None:
    from visiondata.loaders.convert.base import Options
    from visiondata.loaders.convert.imagefolder import ImageFolderConverter

    make_imagefolder(tmp_path)
    keys = [
        [s.key for s in ImageFolderConverter(tmp_path, Options("train")).samples()]
        for _ in range(2)
    ]
    assert keys[0] == keys[1]
    assert len(set(keys[0])) == 12
    assert keys[0][:4] == ["cat/c01", "cat/c02", "cat/c03", "cat/c04"]


def test_parallel_run_stops_on_a_bad_item_and_resumes(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    files = make_imagefolder(src)
    (src / "fish" / "f05.jpg").write_bytes(b"junk")
    with pytest.raises(ItemError, match=r"fish/f05.jpg: corrupt or unreadable image"):
        convert("imagefolder", src, out, samples_per_shard=2, workers=2)
    assert not (out / "manifest.json").exists()
    (src / "fish" / "f05.jpg").write_bytes(files["fish/f05.jpg"])
    result = convert("imagefolder", src, out, samples_per_shard=2, workers=2)
    assert result.kept_shards >= 1
    assert result.kept_shards + result.written_shards == 6
    assert len(read_shards(out, "train")) == 12


def test_skip_runs_are_byte_identical_too(tmp_path: Path) -> None:
    src, _, _ = _bad_tree(tmp_path, "corrupt")
    (src / "cat" / "junk.bin").write_bytes(b"x")
    convert("imagefolder", src, tmp_path / "a", on_error="skip")
    convert("imagefolder", src, tmp_path / "b", on_error="skip")
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    reasons = [s["reason"] for s in manifest(tmp_path / "a")["splits"]["train"]["skipped"]]
    assert "corrupt or unreadable image (not a recognised image format)" in reasons
    assert not any("0x" in r for r in reasons)


def test_hidden_files_and_folders_are_ignored(tmp_path: Path) -> None:
    """.DS_Store, ._ resource forks, a hidden class folder: the same shards as without them;
    a stray file at the top is an error naming it (above), hidden ones are not."""
    make_imagefolder(tmp_path / "plain")
    make_imagefolder(tmp_path / "noisy")
    noisy = tmp_path / "noisy"
    (noisy / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (noisy / "dog" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (noisy / "dog" / "._d01.jpg").write_bytes(b"\0\5\26\7")
    (noisy / ".thumbnails").mkdir()
    (noisy / ".thumbnails" / "x.jpg").write_bytes(image_bytes(9))
    convert("imagefolder", tmp_path / "plain", tmp_path / "a")
    convert("imagefolder", noisy, tmp_path / "b")
    a, b = read_manifest(tmp_path / "a"), read_manifest(tmp_path / "b")
    assert a.classes == b.classes == CLASSES
    assert [s.keys for s in a.splits["train"].shards] == [s.keys for s in b.splits["train"].shards]
    assert [s.sha256 for s in a.splits["train"].shards] == [
        s.sha256 for s in b.splits["train"].shards
    ]
