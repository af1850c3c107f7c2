"""Video clips from bytes that are not a clip: bad clip parameters, a container with no video
stream, frame-folder samples with a broken or oversized frame, and containers that carry a
duration but no frame count. Inputs are the real clips in shared/realdata, re-encoded or cut
here in memory (never copied into the repository)."""

from __future__ import annotations

import io
import os
import random
import tempfile

import av
import numpy as np
import pytest
from visiondata.loaders._decode.video import (
    ClipSampler,
    VideoDecodeError,
    clip_indices,
    decode_clip,
    decode_frame_folder,
)
from visiondata.loaders.errors import DecompressionBombError
from visiondata.loaders.shards.members import MAX_PIXELS

from .crafted import png_bomb, silence_wav
from .loader_fakes import REALDATA

MP4 = REALDATA / "video" / "derived" / "bbb_t05-10s_320x180_h264.mp4"
FRAMES = sorted((REALDATA / "video" / "derived" / "frames_bbb_10s").glob("img_*.jpg"))


def _frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _reencode(fmt: str, codec: str, n: int = 48) -> bytes:
    """The first ``n`` frames of the real clip, encoded with ``codec`` into a ``fmt`` container."""
    out = io.BytesIO()
    with av.open(io.BytesIO(MP4.read_bytes())) as src, av.open(out, "w", format=fmt) as dst:
        stream = dst.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= n:
                break
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out.getvalue()


@pytest.mark.parametrize(("num_frames", "stride"), [(0, 1), (4, 0), (-1, 2)])
def test_clip_parameters_that_select_nothing_are_refused(num_frames: int, stride: int) -> None:
    with pytest.raises(ValueError) as err:
        clip_indices(100, num_frames, stride, 0, random.Random(0))
    assert str(err.value) == (
        f"num_frames and stride must be positive, got {num_frames} and {stride}"
    )


@pytest.mark.parametrize("start", [-1, "middle", 2.5])
def test_a_start_that_is_no_position_is_refused(start: object) -> None:
    with pytest.raises(ValueError) as err:
        clip_indices(100, 4, 1, start, random.Random(0))  # type: ignore[arg-type]
    assert str(err.value) == (
        f"start must be 'random', 'center' or a frame index >= 0, got {start!r}"
    )


def test_a_video_of_no_frames_is_a_decode_error() -> None:
    with pytest.raises(VideoDecodeError) as err:
        clip_indices(0, 4, 1, "center", random.Random(0))
    assert err.value.reason == "the video has no frames"


def test_a_container_without_a_video_stream_is_named() -> None:
    wav = silence_wav()
    with av.open(io.BytesIO(wav)) as c:  # the file is readable: it is the stream that is missing
        assert len(c.streams.audio) == 1 and not c.streams.video
    with pytest.raises(VideoDecodeError) as err:
        decode_clip(wav, 4)
    assert err.value.reason == "the container has no video stream"


def test_a_frame_larger_than_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(DecompressionBombError) as err:
        ClipSampler(4, 1, 0, max_pixels=320 * 180 - 1).array(MP4.read_bytes())
    assert err.value.reason == (
        "video frame is 320x180 = 57,600 pixels, above the limit of 57,599 (max_pixels; a "
        "decompression bomb?)"
    )


def test_a_stream_with_a_duration_and_no_frame_count_is_clipped_from_its_packets() -> None:
    ts = _reencode("mpegts", "mpeg2video")
    with av.open(io.BytesIO(ts)) as c:  # MPEG-TS: no frame count, a duration on the stream
        stream = c.streams.video[0]
        assert not stream.frames and stream.duration is not None
    frames = _frames(ts)
    assert len(frames) == 48
    clip = decode_clip(ts, num_frames=4, stride=3, start=0)
    assert np.array_equal(clip, np.stack(frames[0:12:3]))


#: MPEG-PS and MPEG-TS seeks land on a later keyframe than asked (H.264 in TS on none at all):
#: the clip must still be the frames asked for, as full decoding gives them
@pytest.mark.parametrize(
    ("fmt", "codec", "start"),
    [
        ("mpeg", "mpeg2video", 5),
        ("mpeg", "mpeg2video", 13),
        ("mpegts", "mpeg2video", 5),
        ("mpegts", "libx264", 0),
    ],
)
def test_a_clip_from_mpeg_ps_or_ts_equals_full_decoding(fmt: str, codec: str, start: int) -> None:
    data = _reencode(fmt, codec)
    frames = _frames(data)
    assert len(frames) == 48  # the file itself decodes whole
    clip = decode_clip(data, num_frames=4, stride=3, start=start)
    assert np.array_equal(clip, np.stack(frames[start : start + 12 : 3]))


def test_the_frames_of_an_mpeg_ps_are_counted_not_estimated_from_its_duration() -> None:
    mpg = _reencode("mpeg", "mpeg2video")
    with av.open(io.BytesIO(mpg)) as c:  # the duration says 41 frames; the file has 48
        stream = c.streams.video[0]
        assert not stream.frames
        assert round(float(stream.duration * stream.time_base) * 24) == 41
    frames = _frames(mpg)
    clip = decode_clip(mpg, num_frames=4, stride=3, start="center")  # centred in 48: 19..28
    assert np.array_equal(clip, np.stack(frames[19:31:3]))


def _faststart(data: bytes) -> bytes:
    """The clip remuxed with its index (moov) before its frames, as streaming sites serve mp4."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "clip.mp4")
        with (
            av.open(io.BytesIO(data)) as src,
            av.open(path, "w", format="mp4", options={"movflags": "faststart"}) as dst,
        ):
            stream = src.streams.video[0]
            out = dst.add_stream_from_template(stream)
            for packet in src.demux(stream):
                if packet.dts is not None:
                    packet.stream = out
                    dst.mux(packet)
        with open(path, "rb") as f:
            return f.read()


def test_a_frame_the_stream_does_not_deliver_is_named_not_filled() -> None:
    """A real clip cut short after its index: the header still counts 120 frames, the stream
    ends before them. A clip past the cut is an error naming the first missing frame; one
    before it is the frames a full decode gives."""
    whole = _faststart(MP4.read_bytes())
    cut = whole[: len(whole) * 97 // 100]
    with av.open(io.BytesIO(cut)) as c:
        assert c.streams.video[0].frames == 120
    with pytest.raises(VideoDecodeError) as err:
        decode_clip(cut, num_frames=4, stride=1, start=116)
    assert err.value.reason == (
        "frame 116 of 120 was not decoded (4 of the clip's 4 frames missing; the stream ends or "
        "skips before it)"
    )
    clip = decode_clip(cut, num_frames=4, stride=2, start=10)
    assert np.array_equal(clip, np.stack(_frames(whole)[10:18:2]))


def test_a_truncated_frame_in_a_frame_folder_is_named_by_index() -> None:
    frames = [p.read_bytes() for p in FRAMES[:6]]
    frames[2] = frames[2][: len(frames[2]) // 2]
    # a clip that does not touch frame 2 still decodes
    assert decode_frame_folder(frames, num_frames=2, stride=3, start=0).shape == (2, 180, 320, 3)
    with pytest.raises(VideoDecodeError) as err:
        decode_frame_folder(frames, num_frames=3, stride=1, start=1)
    assert err.value.reason.startswith(
        "frame 2 is not a readable image: corrupt JPEG data (OSError: image file is truncated"
    ), err.value.reason


def test_a_frame_whose_header_is_not_an_image_is_named_by_index() -> None:
    frames = [p.read_bytes() for p in FRAMES[:4]]
    frames[1] = b"\x00" + frames[1][1:]  # byte 0 of the JPEG SOI marker (0xFF) zeroed
    with pytest.raises(VideoDecodeError) as err:
        decode_frame_folder(frames, num_frames=4, stride=1, start=0)
    assert err.value.reason == (
        "frame 1 is not a readable image: not a readable image (not a recognised image format)"
    )


def test_a_decompression_bomb_frame_keeps_its_own_error() -> None:
    frames = [FRAMES[0].read_bytes(), png_bomb(30_000, 30_000)]
    with pytest.raises(DecompressionBombError) as err:
        ClipSampler(num_frames=2, stride=1, start=0).array(frames)
    assert err.value.reason == (
        f"image is 30000x30000 = 900,000,000 pixels, above the limit of {MAX_PIXELS:,} "
        "(max_pixels; a decompression bomb?)"
    )
