"""``video`` frame folders that are not clean: a symlinked frame pointing outside SRC, a stray
file or folder among the frames, an empty frame folder, hidden files. Each bad folder is one
item named with the reason; the good clip and the good frame folder are still written with
their bytes unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, convert
from visiondata.loaders.convert.base import Options
from visiondata.loaders.convert.video import VideoConverter

from .convert_fakes import manifest, read_shards, realdata

FRAMES = realdata("video", "derived", "frames_bbb_10s")


def _tree(root: Path) -> dict[str, bytes]:
    walk = root / "walk"
    walk.mkdir(parents=True)
    clip = realdata("video", "derived", "bbb_t05-10s_320x180_h264.mp4").read_bytes()
    (walk / "a.mp4").write_bytes(clip)
    (walk / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # hidden: ignored
    frames = {n: (FRAMES / n).read_bytes() for n in ("img_00001.jpg", "img_00002.jpg")}
    for name, files in {
        "good": frames,
        "linked": {"img_00001.jpg": frames["img_00001.jpg"]},
        "stray": dict(frames),
        "nested": {"img_00001.jpg": frames["img_00001.jpg"]},
    }.items():
        (walk / name).mkdir()
        for n, data in files.items():
            (walk / name / n).write_bytes(data)
    (walk / "good" / ".thumbs").write_bytes(b"hidden: ignored")
    os.symlink(FRAMES / "img_00003.jpg", walk / "linked" / "img_00002.jpg")  # outside SRC
    (walk / "stray" / "notes.txt").write_text("not a frame")
    (walk / "nested" / "more").mkdir()
    (walk / "empty").mkdir()
    (walk / "hidden_only").mkdir()
    (walk / "hidden_only" / ".keep").write_text("")
    return {"clip": clip, **frames}


def test_bad_frame_folders_are_named_and_the_good_samples_written(tmp_path: Path) -> None:
    src = tmp_path / "src"
    data = _tree(src)
    outside = (FRAMES / "img_00003.jpg").resolve()
    expected = {
        "walk/linked/img_00002.jpg": f"symlink resolves to {outside}, outside SRC {src}",
        "walk/stray/notes.txt": "unexpected file type in a frame folder (expected image frames only)",
        "walk/nested/more": "unexpected file type in a frame folder (expected image frames only)",
        "walk/empty": "empty frame folder",
        "walk/hidden_only": "empty frame folder",
    }
    with pytest.raises(ConversionError) as err:
        convert("video", src, tmp_path / "out")
    lines = str(err.value).splitlines()
    assert (
        lines[0]
        == f"5 bad item(s) in {src} (to skip and record them: --on-error skip, or on_error='skip'):"
    )
    assert sorted(lines[1:]) == sorted(f"  {i}: {r}" for i, r in expected.items())
    assert not (tmp_path / "out").exists()

    result = convert("video", src, tmp_path / "out", on_error="skip")
    assert {s.item: s.reason for s in result.skipped} == expected
    samples = read_shards(tmp_path / "out", "train")
    assert sorted(samples) == ["walk/a", "walk/good"]
    assert samples["walk/a"]["mp4"] == data["clip"]
    good = samples["walk/good"]
    assert (good["00001.jpg"], good["00002.jpg"]) == (data["img_00001.jpg"], data["img_00002.jpg"])
    assert json.loads(good["json"])["frames"] == ["img_00001.jpg", "img_00002.jpg"]
    assert len(manifest(tmp_path / "out")["splits"]["train"]["skipped"]) == 5


def test_scan_without_chosen_classes_takes_the_class_folders(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    (src / "run").mkdir()
    conv = VideoConverter(src, Options(split="train", verify="header", max_size=None))
    problems: list[tuple[str, str]] = []
    keys = [item.key for item in conv.scan(lambda i, r: problems.append((i, r)))]
    assert conv.classes == ["run", "walk"]
    assert keys == ["walk/a", "walk/good"]
    assert len(problems) == 5
