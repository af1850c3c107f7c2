"""Hostile folder layouts for ``imagefolder`` and ``cityscapes``: FIFOs, symlinks out of SRC
(files and whole folders), symlink loops, paths too long to list, stray and mis-named files,
broken masks and polygons. Each bad entry is reported by name with its reason; the good
samples around it are still converted."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, ItemError, convert
from visiondata.loaders.convert.base import Options
from visiondata.loaders.convert.cityscapes import CityscapesConverter

from .convert_fakes import (
    IMAGEFOLDER,
    image_bytes,
    make_cityscapes,
    make_imagefolder,
    manifest,
    read_shards,
)

ALL_KEYS = sorted(
    f"{c}/{n.rsplit('.', 1)[0].replace('.', '_')}" for c, ns in IMAGEFOLDER.items() for n in ns
)


def _skips(result: object) -> dict[str, str]:
    return {s.item: s.reason for s in result.skipped}  # type: ignore[attr-defined]


def _outside(src: Path, target: Path) -> str:
    return f"symlink resolves to {target.resolve()}, outside SRC {src.resolve()}"


# -- imagefolder -----------------------------------------------------------------------


@pytest.mark.parametrize("extra", ["nothing", "files-and-hidden-folders"])
def test_no_class_folders_is_one_error_naming_src(tmp_path: Path, extra: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    if extra != "nothing":
        (src / "a.jpg").write_bytes(image_bytes(1))
        (src / ".thumbnails").mkdir()
    with pytest.raises(ConversionError) as info:
        convert("imagefolder", src, tmp_path / "out")
    assert str(info.value) == f"{src}: no class folders found (expected SRC/class/image files)"
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_fifo_among_the_images_is_reported_not_read(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_imagefolder(src)
    os.mkfifo(src / "dog" / "pipe.jpg")  # reading it would block forever
    with pytest.raises(ConversionError) as info:
        convert("imagefolder", src, tmp_path / "raise")
    assert info.value.problems == [("dog/pipe.jpg", "not a regular file")]
    assert str(info.value).endswith("\n  dog/pipe.jpg: not a regular file")
    result = convert("imagefolder", src, tmp_path / "out", on_error="skip")
    assert _skips(result) == {"dog/pipe.jpg": "not a regular file"}
    assert sorted(read_shards(tmp_path / "out", "train")) == ALL_KEYS


def test_class_folder_symlinked_out_of_src_is_refused_one_inside_is_followed(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    make_imagefolder(src)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.jpg").write_bytes(image_bytes(50))
    os.symlink(elsewhere, src / "bird")
    os.symlink(src / "fish", src / "goldfish")  # stays inside SRC: a class of its own
    result = convert("imagefolder", src, tmp_path / "out", on_error="skip")
    assert _skips(result) == {"bird": _outside(src, elsewhere)}
    got = read_shards(tmp_path / "out", "train")
    goldfish = sorted(f"goldfish/{n.removesuffix('.jpg')}" for n in IMAGEFOLDER["fish"])
    assert sorted(got) == sorted(ALL_KEYS + goldfish)
    assert all(not k.startswith("bird/") for k in got)
    assert got["goldfish/f01"]["jpg"] == (src / "fish" / "f01.jpg").read_bytes()


def test_a_symlink_whose_target_name_is_too_long_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_imagefolder(src)
    os.symlink("x" * 300 + ".jpg", src / "cat" / "long.jpg")  # a name no file system holds
    result = convert("imagefolder", src, tmp_path / "out", on_error="skip")
    assert _skips(result) == {"cat/long.jpg": "cannot stat: File name too long"}
    assert sorted(read_shards(tmp_path / "out", "train")) == ALL_KEYS


def test_a_folder_nested_past_path_max_is_reported(tmp_path: Path) -> None:
    """A tree deeper than PATH_MAX (4096 bytes) cannot be listed by path: the folder that
    cannot be listed is named, the images above it are converted."""
    src = tmp_path / "src"
    make_imagefolder(src)
    name = "d" * 200
    path = src.resolve() / "dog"
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    unlistable = None
    try:
        while unlistable is None:
            os.mkdir(name, dir_fd=fd)
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
            path = path / name
            if len(os.fsencode(path)) >= 4096:
                unlistable = path.relative_to(src.resolve()).as_posix()
        with open(os.open("deep.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(image_bytes(60))
    finally:
        os.close(fd)
    result = convert("imagefolder", src, tmp_path / "out", on_error="skip")
    assert _skips(result) == {unlistable: "cannot list directory: File name too long"}
    assert sorted(read_shards(tmp_path / "out", "train")) == ALL_KEYS


def test_a_symlink_loop_is_reported_not_a_crash(tmp_path: Path) -> None:
    """``cat/loop.jpg -> loop.jpg``: the loop is one bad item, not a RuntimeError out of
    ``Path.resolve`` that ends the whole conversion."""
    src = tmp_path / "src"
    make_imagefolder(src)
    os.symlink("loop.jpg", src / "cat" / "loop.jpg")
    result = convert("imagefolder", src, tmp_path / "out", on_error="skip")
    assert _skips(result) == {"cat/loop.jpg": "symlink loop (Too many levels of symbolic links)"}
    assert sorted(read_shards(tmp_path / "out", "train")) == ALL_KEYS


def test_a_dangling_symlink_is_named_as_one(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_imagefolder(src)
    os.symlink("gone.jpg", src / "cat" / "link.jpg")
    result = convert("imagefolder", src, tmp_path / "out", on_error="skip")
    assert _skips(result) == {
        "cat/link.jpg": "dangling symbolic link to 'gone.jpg' (expected a file)"
    }
    assert sorted(read_shards(tmp_path / "out", "train")) == ALL_KEYS


def test_a_refused_class_folder_takes_no_class_index(tmp_path: Path) -> None:
    """``bird -> /elsewhere`` sorts first, but it is refused: ``cat`` keeps index 0."""
    src = tmp_path / "src"
    make_imagefolder(src)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", src / "bird")
    result = convert("imagefolder", src, tmp_path / "out", on_error="skip")
    assert _skips(result) == {"bird": _outside(src, tmp_path / "elsewhere")}
    assert manifest(tmp_path / "out")["classes"] == ["cat", "dog", "fish"]
    got = read_shards(tmp_path / "out", "train")
    assert got["cat/c01"]["cls"] == b"0"
    assert got["fish/f01"]["cls"] == b"2"


# -- cityscapes ------------------------------------------------------------------------

TRAIN_KEYS = ["aachen_000000_000019", "aachen_000001_000019", "bremen_000000_000019"]


@pytest.fixture
def cs(tmp_path: Path) -> Path:
    make_cityscapes(tmp_path / "cs")
    return tmp_path / "cs"


def test_missing_split_folder(cs: Path, tmp_path: Path) -> None:
    with pytest.raises(ConversionError) as info:
        convert("cityscapes", cs, tmp_path / "out", split="test")
    assert str(info.value) == f"{cs.resolve() / 'leftImg8bit' / 'test'}: no such split folder"


def test_city_folder_symlinked_out_of_src_is_refused(cs: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(cs / "leftImg8bit" / "val" / "frankfurt", elsewhere)
    os.symlink(elsewhere, cs / "leftImg8bit" / "train" / "frankfurt")
    result = convert("cityscapes", cs, tmp_path / "out", split="train", on_error="skip")
    assert _skips(result) == {"leftImg8bit/train/frankfurt": _outside(cs, elsewhere)}
    assert list(read_shards(tmp_path / "out", "train")) == TRAIN_KEYS


def test_gtfine_file_symlinked_out_of_src_is_refused(cs: Path, tmp_path: Path) -> None:
    gt = cs / "gtFine" / "train" / "bremen"
    color = gt / "bremen_000000_000019_gtFine_color.png"
    outside = tmp_path / "color.png"
    shutil.move(color, outside)
    os.symlink(outside, color)
    inside = gt / "bremen_000000_000019_gtFine_labelIds.png"  # a link that stays inside: kept
    shutil.move(inside, cs / "labelIds.png")
    os.symlink(cs / "labelIds.png", inside)
    result = convert("cityscapes", cs, tmp_path / "out", split="train", on_error="skip")
    assert _skips(result) == {
        "gtFine/train/bremen/bremen_000000_000019_gtFine_color.png": _outside(cs, outside),
        "leftImg8bit/train/bremen/bremen_000000_000019_leftImg8bit.png": (
            "gtFine file(s) missing: bremen_000000_000019_gtFine_color.png"
        ),
    }
    assert list(read_shards(tmp_path / "out", "train")) == TRAIN_KEYS[:2]


def test_stray_and_misplaced_gtfine_files_are_named(cs: Path, tmp_path: Path) -> None:
    gt = cs / "gtFine" / "train"
    (gt / "aachen" / "notes.txt").write_text("x")
    shutil.copy(  # bremen's file in aachen's folder
        gt / "bremen" / "bremen_000000_000019_gtFine_color.png",
        gt / "aachen" / "bremen_000000_000019_gtFine_color.png",
    )
    (gt / "aachen" / "aachen_000000_000019_gtFine_labelTrainIds.png").write_bytes(
        image_bytes(3, "PNG")
    )  # made by cityscapesscripts, not part of the download: ignored
    result = convert("cityscapes", cs, tmp_path / "out", split="train", on_error="skip")
    expected = "unexpected file type (expected {city}_{seq}_{frame}_gtFine_*.png/json)"
    assert _skips(result) == {
        "gtFine/train/aachen/bremen_000000_000019_gtFine_color.png": expected,
        "gtFine/train/aachen/notes.txt": expected,
    }
    got = read_shards(tmp_path / "out", "train")
    assert list(got) == TRAIN_KEYS
    assert set(got["aachen_000000_000019"]) == {
        "png",
        "labelids.png",
        "instanceids.png",
        "color.png",
        "polygons.json",
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "{not json",
            "malformed polygons JSON (Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1))",
        ),
        ("[1, 2]", "malformed polygons JSON ('list' object has no attribute 'get')"),
        ('{"objects": ["car"]}', "malformed polygons JSON ('str' object has no attribute 'get')"),
    ],
)
def test_malformed_polygons_are_reported_in_the_scan(
    cs: Path, tmp_path: Path, text: str, reason: str
) -> None:
    poly = cs / "gtFine" / "train" / "aachen" / "aachen_000001_000019_gtFine_polygons.json"
    poly.write_text(text)
    with pytest.raises(ConversionError, match="malformed polygons JSON"):
        convert("cityscapes", cs, tmp_path / "raise", split="train")
    result = convert("cityscapes", cs, tmp_path / "out", split="train", on_error="skip")
    assert _skips(result) == {poly.relative_to(cs).as_posix(): reason}
    assert list(read_shards(tmp_path / "out", "train")) == [TRAIN_KEYS[0], TRAIN_KEYS[2]]


@pytest.mark.parametrize("objects", ["5", "null"])
def test_polygons_whose_objects_are_not_a_list_are_reported(
    cs: Path, tmp_path: Path, objects: str
) -> None:
    """``{"objects": 5}`` is as malformed as ``[1, 2]``: one reported item, not a TypeError
    out of the scan."""
    poly = cs / "gtFine" / "train" / "aachen" / "aachen_000001_000019_gtFine_polygons.json"
    poly.write_text(f'{{"imgHeight": 32, "imgWidth": 64, "objects": {objects}}}')
    result = convert("cityscapes", cs, tmp_path / "out", split="train", on_error="skip")
    skips = _skips(result)
    kind = "a number" if objects == "5" else "null"
    reason = f"malformed polygons JSON ('objects' is {kind}, expected a list)"
    assert skips == {poly.relative_to(cs).as_posix(): reason}
    assert list(read_shards(tmp_path / "out", "train")) == [TRAIN_KEYS[0], TRAIN_KEYS[2]]


@pytest.mark.parametrize(
    ("name", "member_reason"),
    [
        ("leftImg8bit/train/aachen/aachen_000001_000019_leftImg8bit.png", "leftImg8bit image"),
        ("gtFine/train/aachen/aachen_000001_000019_gtFine_instanceIds.png", "gtFine mask"),
    ],
)
def test_a_jpeg_where_a_png_belongs_is_refused(
    cs: Path, tmp_path: Path, name: str, member_reason: str
) -> None:
    (cs / name).write_bytes(image_bytes(7, "JPEG"))
    with pytest.raises(ItemError) as info:
        convert("cityscapes", cs, tmp_path / "raise", split="train")
    assert str(info.value) == f"{name}: {member_reason} is jpg, expected png"
    result = convert("cityscapes", cs, tmp_path / "out", split="train", on_error="skip")
    assert _skips(result) == {name: f"{member_reason} is jpg, expected png"}
    assert list(read_shards(tmp_path / "out", "train")) == [TRAIN_KEYS[0], TRAIN_KEYS[2]]


def test_an_image_name_that_is_a_folder_is_reported(cs: Path, tmp_path: Path) -> None:
    """Without gtFine (the test split's layout) the images alone are converted; a folder
    named like an image is an item naming itself as a directory."""
    shutil.rmtree(cs / "gtFine")
    folder = "leftImg8bit/train/aachen/aachen_000002_000019_leftImg8bit.png"
    (cs / folder).mkdir()
    result = convert("cityscapes", cs, tmp_path / "out", split="train", on_error="skip")
    assert _skips(result) == {folder: "is a directory, expected a file"}
    got = read_shards(tmp_path / "out", "train")
    assert list(got) == TRAIN_KEYS
    assert set(got[TRAIN_KEYS[0]]) == {"png"}


def test_polygons_broken_after_the_scan_fail_the_load(cs: Path) -> None:
    """The scan reads polygons for the class counts; a file rewritten before its worker
    loads it is caught there too, naming the file."""
    conv = CityscapesConverter(cs, Options("train"))
    items = list(conv.scan(lambda item, reason: pytest.fail(f"{item}: {reason}")))
    assert [i.key for i in items] == TRAIN_KEYS
    rel = "gtFine/train/bremen/bremen_000000_000019_gtFine_polygons.json"
    (cs / rel).write_text('{"objects": [')
    assert set(conv.load(items[0])) == {
        "png",
        "labelids.png",
        "instanceids.png",
        "color.png",
        "polygons.json",
    }
    with pytest.raises(ItemError) as info:
        conv.load(items[2])
    assert (info.value.item, info.value.reason) == (
        rel,
        "malformed polygons JSON (Expecting value: line 1 column 14 (char 13))",
    )
