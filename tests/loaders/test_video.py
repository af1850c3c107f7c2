"""Clips decoded from the real mp4 / avi / webm bytes equal full decoding and slicing."""

from __future__ import annotations

import io
import itertools
import random
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from visiondata.loaders._decode.video import (
    ClipSampler,
    VideoDecodeError,
    clip_indices,
    decode_clip,
)

VIDEO = Path(__file__).resolve().parents[2].parent / "shared" / "realdata" / "video"
CLIPS = [
    VIDEO / "derived" / "bbb_t05-10s_320x180_h264.mp4",
    VIDEO / "derived" / "bbb_t20-25s_320x180_mpeg4.avi",
    VIDEO / "original" / "big_buck_bunny_432_433.webm",
]
FRAMES = sorted((VIDEO / "derived" / "frames_bbb_10s").glob("img_*.jpg"))


def _all_frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.mark.parametrize("path", CLIPS, ids=[p.suffix for p in CLIPS])
def test_clip_equals_full_decode_then_slice(path: Path) -> None:
    data = path.read_bytes()
    frames = _all_frames(data)
    for start in ("center", 0, 7):
        clip = decode_clip(data, num_frames=8, stride=2, start=start)
        idx = clip_indices(len(frames), 8, 2, start, random.Random(0))
        assert clip.shape == (8, *frames[0].shape) and clip.dtype == np.uint8
        assert np.array_equal(clip, np.stack([frames[i] for i in idx]))


def test_random_start_is_reproducible_with_a_seed() -> None:
    data = CLIPS[1].read_bytes()
    a = decode_clip(data, 4, 3, "random", random.Random(5))
    b = decode_clip(data, 4, 3, "random", random.Random(5))
    assert np.array_equal(a, b)


def test_short_video_repeats_its_last_frame() -> None:
    data = CLIPS[2].read_bytes()  # 24 frames
    clip = decode_clip(data, num_frames=16, stride=2, start="center")
    assert clip.shape[0] == 16
    assert np.array_equal(clip[-1], clip[-2])


def test_frame_folder_sample() -> None:
    sampler = ClipSampler(num_frames=4, stride=3, start=0)
    clip = sampler([p.read_bytes() for p in FRAMES])
    assert tuple(clip.shape) == (4, 3, 180, 320)
    assert sampler.array([p.read_bytes() for p in FRAMES]).shape == (4, 180, 320, 3)


def test_corrupt_video_is_refused() -> None:
    with pytest.raises(VideoDecodeError, match="not a readable video container"):
        decode_clip(b"\x00" * 1000, 4)


@given(
    total=st.integers(1, 500), t=st.integers(1, 32), s=st.integers(1, 8), seed=st.integers(0, 1000)
)
def test_clip_indices_are_in_range_and_strided(total: int, t: int, s: int, seed: int) -> None:
    idx = clip_indices(total, t, s, "random", random.Random(seed))
    assert len(idx) == t and all(0 <= i < total for i in idx)
    if (t - 1) * s + 1 <= total:
        assert all(b - a == s for a, b in itertools.pairwise(idx))
