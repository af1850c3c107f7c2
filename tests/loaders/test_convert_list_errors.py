"""Hostile ``list`` sources: a folder or an unknown file type as SRC, CSV headers without
``path``, JSONL lines that are not objects, rows without a path or with an invalid key,
paths running through a file, corrupt videos, and what ``verify="none"`` lets through. Each
bad row is named as ``FILE:LINE (path)``; the rows around it are still converted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, ItemError, convert

from .convert_fakes import make_list_tree, manifest, read_shards, realdata


def _skips(result: object) -> dict[str, str]:
    return {s.item: s.reason for s in result.skipped}  # type: ignore[attr-defined]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_list_tree(tmp_path / "data", 3)


def _jsonl(path: Path, *lines: object) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


def test_src_must_be_a_list_file(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConversionError) as info:
        convert("list", root, tmp_path / "out")
    assert str(info.value) == f"{root}: the list format takes a .csv or .jsonl file as SRC"
    (root / "list.txt").write_text("imgs/0.jpg\n")
    with pytest.raises(ConversionError) as info:
        convert("list", root / "list.txt", tmp_path / "out")
    assert str(info.value) == "list.txt: unexpected list file type '.txt' (expected .csv or .jsonl)"
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize(
    ("text", "have"),
    [("file,label\nimgs/0.jpg,a\n", "['file', 'label']"), ("", "None")],
)
def test_csv_without_a_path_column(root: Path, tmp_path: Path, text: str, have: str) -> None:
    (root / "list.csv").write_text(text)
    with pytest.raises(ConversionError) as info:
        convert("list", root / "list.csv", tmp_path / "out")
    assert str(info.value) == f"list.csv: the CSV header has no 'path' column (have: {have})"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{'path': 'imgs/1.jpg'}", "list.jsonl:3: not valid JSON (Expecting property name "),
        ('["imgs/1.jpg", 1]', "list.jsonl:3: expected a JSON object per line"),
        ('"imgs/1.jpg"', "list.jsonl:3: expected a JSON object per line"),
    ],
)
def test_a_jsonl_line_that_is_not_an_object_names_its_line(
    root: Path, tmp_path: Path, bad: str, message: str
) -> None:
    _jsonl(root / "list.jsonl", {"path": "imgs/0.jpg"}, "", bad, {"path": "imgs/2.jpg"})
    with pytest.raises(ConversionError) as info:
        convert("list", root / "list.jsonl", tmp_path / "out")
    assert str(info.value).startswith(message)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_blank_lines_are_skipped_and_lines_keep_their_numbers(root: Path, tmp_path: Path) -> None:
    _jsonl(
        root / "list.jsonl",
        "",
        {"path": "imgs/0.jpg"},
        "   ",
        {"path": "imgs/9.jpg"},
        "",
        {"path": "imgs/2.jpg"},
    )
    result = convert("list", root / "list.jsonl", tmp_path / "out", on_error="skip")
    assert _skips(result) == {"list.jsonl:4 (imgs/9.jpg)": "names a missing file"}
    assert list(read_shards(tmp_path / "out", "train")) == ["imgs/0", "imgs/2"]


def test_rows_without_a_usable_path(root: Path, tmp_path: Path) -> None:
    _jsonl(
        root / "list.jsonl",
        {"path": "imgs/0.jpg"},
        {"label": 1},
        {"path": ""},
        {"path": 5},
        {"path": ["imgs/1.jpg"]},
        {"path": "imgs/2.jpg"},
    )
    with pytest.raises(ConversionError) as info:
        convert("list", root / "list.jsonl", tmp_path / "raise")
    reported = [(f"list.jsonl:{n}", "row has no path") for n in (2, 3, 4, 5)]
    assert info.value.problems == reported
    result = convert("list", root / "list.jsonl", tmp_path / "out", on_error="skip")
    assert _skips(result) == dict(reported)
    assert list(read_shards(tmp_path / "out", "train")) == ["imgs/0", "imgs/2"]
    (root / "list.csv").write_text("path,label\nimgs/0.jpg,1\n,2\nimgs/1.jpg,3\n")
    result = convert("list", root / "list.csv", tmp_path / "csv", on_error="skip")
    assert _skips(result) == {"list.csv:3": "row has no path"}
    got = read_shards(tmp_path / "csv", "train")
    assert {k: s["cls"] for k, s in got.items()} == {"imgs/0": b"1", "imgs/1": b"3"}


@pytest.mark.parametrize("key", ["a.b", "x y", "/abs", "a//b", "../up"])
def test_a_given_key_that_is_not_valid(root: Path, tmp_path: Path, key: str) -> None:
    _jsonl(
        root / "list.jsonl",
        {"path": "imgs/0.jpg", "key": "first"},
        {"path": "imgs/1.jpg", "key": key},
        {"path": "imgs/2.jpg"},
    )
    result = convert("list", root / "list.jsonl", tmp_path / "out", on_error="skip")
    assert _skips(result) == {
        "list.jsonl:2 (imgs/1.jpg)": f"sample key {key!r} is not valid (expected letters, "
        "digits, '_', '-' and '/'-separated parts; no dots)"
    }
    assert list(read_shards(tmp_path / "out", "train")) == ["first", "imgs/2"]


def test_a_folder_named_like_an_image_is_an_unexpected_file_type(
    root: Path, tmp_path: Path
) -> None:
    (root / "album.jpg").mkdir()
    (root / "list.csv").write_text("path\nimgs/0.jpg\nalbum.jpg\n")
    result = convert("list", root / "list.csv", tmp_path / "out", on_error="skip")
    assert _skips(result) == {
        "list.csv:3 (album.jpg)": "unexpected file type '.jpg' (expected an image or a video file)"
    }
    assert list(read_shards(tmp_path / "out", "train")) == ["imgs/0"]


@pytest.mark.parametrize(
    ("rel", "reason"),
    [
        pytest.param("imgs/0.jpg/x.jpg", "Not a directory", id="through-a-file"),
        pytest.param("imgs/" + "x" * 300 + ".jpg", "File name too long", id="name-too-long"),
    ],
)
def test_a_path_that_cannot_be_stat_is_reported_not_a_crash(
    root: Path, tmp_path: Path, rel: str, reason: str
) -> None:
    """``stat`` raising something other than FileNotFoundError is still one bad row."""
    (root / "list.csv").write_text(f"path\nimgs/1.jpg\n{rel}\nimgs/2.jpg\n")
    result = convert("list", root / "list.csv", tmp_path / "out", on_error="skip")
    assert _skips(result) == {f"list.csv:3 ({rel})": f"cannot stat: {reason}"}
    assert list(read_shards(tmp_path / "out", "train")) == ["imgs/1", "imgs/2"]


def test_a_corrupt_video_is_named_the_good_one_kept(root: Path, tmp_path: Path) -> None:
    video = realdata("video", "derived", "bbb_t05-10s_320x180_h264.mp4").read_bytes()
    (root / "good.mp4").write_bytes(video)
    (root / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)  # header only
    (root / "list.csv").write_text("path,label\ngood.mp4,0\nbad.mp4,1\nimgs/0.jpg,2\n")
    with pytest.raises(ItemError) as info:
        convert("list", root / "list.csv", tmp_path / "raise")
    assert info.value.item == "list.csv:3 (bad.mp4)"
    assert info.value.reason.startswith("corrupt or unreadable video (")
    result = convert("list", root / "list.csv", tmp_path / "out", on_error="skip")
    assert list(_skips(result)) == ["list.csv:3 (bad.mp4)"]
    got = read_shards(tmp_path / "out", "train")
    assert list(got) == ["good", "imgs/0"]
    assert got["good"] == {"mp4": video, "cls": b"0"}


def test_verify_none_copies_bytes_without_looking(root: Path, tmp_path: Path) -> None:
    """``verify="none"`` is the documented escape hatch: a broken image and a broken video
    are stored byte for byte under their source extension, nothing is skipped."""
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "clip.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI ")
    (root / "list.csv").write_text("path\nbroken.jpg\nclip.avi\nimgs/0.jpg\n")
    with pytest.raises(ItemError) as info:
        convert("list", root / "list.csv", tmp_path / "checked")
    assert info.value.item == "list.csv:2 (broken.jpg)"
    result = convert("list", root / "list.csv", tmp_path / "out", verify="none")
    assert result.skipped == []
    got = read_shards(tmp_path / "out", "train")
    assert got == {
        "broken": {"jpg": b"\xff\xd8\xff\xe0 truncated"},
        "clip": {"avi": b"RIFF\x00\x00\x00\x00AVI "},
        "imgs/0": {"jpg": (root / "imgs" / "0.jpg").read_bytes()},
    }
    assert manifest(tmp_path / "out")["splits"]["train"]["num_samples"] == 3
