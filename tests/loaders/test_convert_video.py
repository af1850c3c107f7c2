"""Video conversion on the real clips (webm, mp4, avi) and the real frame folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from visiondata.loaders.convert import ConversionError, convert

from .convert_fakes import (
    WDS_LEAKS,
    manifest,
    read_shards,
    read_with_webdataset,
    realdata,
    tree_bytes,
)


@pytest.fixture(scope="module")
def video_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video") / "out"
    convert("video", realdata("video"), out, samples_per_shard=2)
    return out


def test_clips_and_frames_are_copied_unchanged(video_out: Path) -> None:
    root = realdata("video")
    m = manifest(video_out)
    assert m["classes"] == ["derived", "original"]
    samples = read_shards(video_out, "train")
    assert sorted(samples) == [
        "derived/bbb_t05-10s_320x180_h264",
        "derived/bbb_t20-25s_320x180_mpeg4",
        "derived/frames_bbb_10s",
        "original/big_buck_bunny_0_30",
        "original/big_buck_bunny_432_433",
    ]
    for name in ("bbb_t05-10s_320x180_h264.mp4", "bbb_t20-25s_320x180_mpeg4.avi"):
        stem, ext = name.rsplit(".", 1)
        s = samples[f"derived/{stem}"]
        assert s[ext] == (root / "derived" / name).read_bytes()
        assert s["cls"] == b"0"
        meta = json.loads(s["json"])
        assert (meta["width"], meta["height"], meta["fps"]) == (320, 180, 24.0)
    assert (
        samples["original/big_buck_bunny_0_30"]["webm"]
        == (root / "original" / "big_buck_bunny_0_30.webm").read_bytes()
    )
    frames = samples["derived/frames_bbb_10s"]
    names = sorted(p.name for p in (root / "derived" / "frames_bbb_10s").iterdir())
    assert json.loads(frames["json"])["frames"] == names
    for i, name in enumerate(names, 1):
        assert frames[f"{i:05d}.jpg"] == (root / "derived" / "frames_bbb_10s" / name).read_bytes()
    assert "<n>.jpg" in m["fields"]
    assert m["splits"]["train"]["class_counts"] == {"0": 3, "1": 2}


@WDS_LEAKS
def test_plain_webdataset_reads_video(video_out: Path) -> None:
    got = read_with_webdataset(video_out, "train")
    ours = read_shards(video_out, "train")
    assert (
        got["derived/bbb_t05-10s_320x180_h264"]["mp4"]
        == ours["derived/bbb_t05-10s_320x180_h264"]["mp4"]
    )
    assert got["derived/frames_bbb_10s"]["00016.jpg"] == ours["derived/frames_bbb_10s"]["00016.jpg"]


def test_rerun_is_byte_identical(video_out: Path, tmp_path: Path) -> None:
    convert("video", realdata("video"), tmp_path / "again", samples_per_shard=2)
    assert tree_bytes(tmp_path / "again") == tree_bytes(video_out)


def _clips(tmp_path: Path) -> Path:
    src = tmp_path / "clips"
    (src / "walk").mkdir(parents=True)
    (src / "walk" / "a.mp4").write_bytes(
        realdata("video", "derived", "bbb_t05-10s_320x180_h264.mp4").read_bytes()
    )
    return src


def test_bad_video_items(tmp_path: Path) -> None:
    src = _clips(tmp_path)
    real = realdata("video", "derived", "bbb_t05-10s_320x180_h264.mp4").read_bytes()
    (src / "walk" / "broken.mp4").write_bytes(real[:2000])  # a real clip cut short: no moov
    (src / "walk" / "notes.txt").write_text("x")
    (src / "walk" / "frames").mkdir()
    (src / "walk" / "frames" / "img_00001.jpg").write_bytes(b"nope")
    os.symlink(
        realdata("video", "derived", "bbb_t20-25s_320x180_mpeg4.avi"), src / "walk" / "outside.avi"
    )
    with pytest.raises(ConversionError) as info:
        convert("video", src, tmp_path / "out")
    assert "walk/notes.txt: unexpected file type '.txt'" in str(info.value)
    assert "walk/outside.avi: symlink resolves to" in str(info.value)
    result = convert("video", src, tmp_path / "out", on_error="skip")
    reasons = {s.item: s.reason for s in result.skipped}
    assert "corrupt or unreadable video" in reasons["walk/broken.mp4"]
    assert "corrupt or unreadable image" in reasons["walk/frames/img_00001.jpg"]
    assert set(reasons) == {
        "walk/broken.mp4",
        "walk/notes.txt",
        "walk/outside.avi",
        "walk/frames/img_00001.jpg",
    }
    assert result.split_info.num_samples == 1
