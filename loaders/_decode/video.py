"""Video clips straight from the bytes in a tar: T frames at stride S, uint8 (T, H, W, 3).

PyAV reads the container from memory (no temporary files), seeks to the keyframe before the
clip and decodes only until the clip's last frame, so a 16-frame clip from a long video does
not decode the whole video. Where a demuxer's seek lands past the clip (MPEG-PS/TS), it seeks
earlier, down to decoding from the start: a frame is never taken for another. Frame-folder
samples (a list of encoded frames) are supported too.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import DecompressionBombError, VideoDecodeError
from ..shards.media import check_pixels, load_image
from ..shards.members import MAX_PIXELS

__all__ = ["ClipSampler", "VideoDecodeError", "clip_indices", "decode_clip", "decode_frame_folder"]

Start = Literal["random", "center"] | int


def clip_indices(
    total: int, num_frames: int, stride: int, start: Start, rng: random.Random
) -> list[int]:
    """The frame indices of a clip: ``num_frames`` frames ``stride`` apart, starting at a random
    or centred position (or at index ``start``). Videos shorter than the clip repeat their last
    frame. Pure function."""
    if num_frames <= 0 or stride <= 0:
        raise ValueError(f"num_frames and stride must be positive, got {num_frames} and {stride}")
    if total <= 0:
        raise VideoDecodeError("the video has no frames")
    span = (num_frames - 1) * stride + 1
    room = max(total - span, 0)
    if start == "random":
        first = rng.randint(0, room)
    elif start == "center":
        first = room // 2
    elif isinstance(start, int) and start >= 0:
        first = min(start, room)
    else:
        raise ValueError(f"start must be 'random', 'center' or a frame index >= 0, got {start!r}")
    return [min(first + i * stride, total - 1) for i in range(num_frames)]


def _open(data: bytes) -> Any:
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except Exception as exc:
        raise VideoDecodeError(f"not a readable video container: {exc}") from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError("the container has no video stream")
    return container


def _frame_count(container: Any, stream: Any) -> tuple[int, float, float]:
    """(number of frames, frames per second, start time in seconds). The count is the
    container's own when it has one (mp4, avi); otherwise (MPEG-PS/TS, Matroska/WebM) the
    packets are counted by demuxing once, without decoding: a duration times the rate is only
    an estimate (an .mpg of 48 frames says 41), and clip positions must not move with it."""
    fps = float(stream.average_rate or stream.guessed_rate or 0)
    if fps <= 0:
        raise VideoDecodeError("the video stream has no frame rate")
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    if stream.frames:
        return int(stream.frames), fps, start
    return sum(1 for packet in container.demux(stream) if packet.size), fps, start


def _decode_targets(
    data: bytes, targets: list[int], fps: float, t0: float
) -> dict[int, np.ndarray]:
    """The frames at ``targets`` (sorted indices, by timestamp), decoded forward from a
    keyframe at or before the first. Some demuxers (MPEG-PS/TS) seek imprecisely, landing on a
    later keyframe: then the seek is retried earlier and earlier, down to decoding from the
    start, so a frame is never taken for another. Indices the stream does not reach are left
    out."""
    back = 0.0  # seconds sought before the first target
    while True:
        container = _open(data)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            seek = t0 + targets[0] / fps - back
            from_start = seek <= t0
            if not from_start:
                container.seek(
                    int(seek / stream.time_base), stream=stream, backward=True, any_frame=False
                )
            got: dict[int, np.ndarray] = {}
            landed: int | None = None  # the index of the first frame decoded after the seek
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                index = round((float(frame.pts * stream.time_base) - t0) * fps)
                if landed is None:
                    landed = index
                    if index > targets[0] and not from_start:
                        break  # past the target: seek earlier
                if index > targets[-1]:
                    break
                if index in targets:
                    got[index] = frame.to_ndarray(format="rgb24")
                    if len(got) == len(targets):
                        break
        finally:
            container.close()
        if from_start or (landed is not None and landed <= targets[0]):
            return got
        back = max(2 * back, 1.0)


def decode_clip(
    data: bytes,
    num_frames: int = 16,
    stride: int = 1,
    start: Start = "random",
    rng: random.Random | None = None,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Decode a clip from mp4 / avi / webm / ... bytes into a uint8 array (T, H, W, 3).
    Frames larger than ``max_pixels`` are refused from the stream header, before decoding.
    Every frame returned is the one asked for: a frame the stream does not deliver is a
    :class:`VideoDecodeError` naming it, never filled with another."""
    rng = rng or random.Random()
    container = _open(data)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        check_pixels(ctx.width, ctx.height, max_pixels, "video frame")
        total, fps, t0 = _frame_count(container, stream)
    except (VideoDecodeError, DecompressionBombError):
        raise
    except Exception as exc:
        raise VideoDecodeError(f"corrupt video data: {exc}") from None
    finally:
        container.close()
    wanted = clip_indices(total, num_frames, stride, start, rng)
    targets = sorted(set(wanted))
    try:
        got = _decode_targets(data, targets, fps, t0)
    except VideoDecodeError:
        raise
    except Exception as exc:
        raise VideoDecodeError(f"corrupt video data: {exc}") from None
    missing = [i for i in targets if i not in got]
    if missing:
        raise VideoDecodeError(
            f"frame {missing[0]} of {total} was not decoded ({len(missing)} of the clip's "
            f"{len(targets)} frames missing; the stream ends or skips before it)"
        )
    return np.stack([got[i] for i in wanted])


def decode_frame_folder(
    frames: Sequence[bytes],
    num_frames: int = 16,
    stride: int = 1,
    start: Start = "random",
    rng: random.Random | None = None,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """A clip from a frame-folder sample (encoded frames in order): uint8 (T, H, W, 3)."""
    wanted = clip_indices(len(frames), num_frames, stride, start, rng or random.Random())
    decoded: dict[int, np.ndarray] = {}
    for i in sorted(set(wanted)):
        try:
            img = load_image(frames[i], max_pixels)
            decoded[i] = np.asarray(img.convert("RGB"))
        except DecompressionBombError:
            raise
        except Exception as exc:
            raise VideoDecodeError(f"frame {i} is not a readable image: {exc}") from None
    return np.stack([decoded[i] for i in wanted])


@dataclass(frozen=True)
class ClipSampler:
    """The loader's decoder for a video field: ``decode={"mp4": ClipSampler(16, 2)}`` gives
    uint8 (T, C, H, W) tensors. Also takes a list of encoded frames (frame-folder samples)."""

    num_frames: int = 16
    stride: int = 1
    start: Start = "random"
    #: refuse frames above this many pixels; ``None``: the loader's ``max_pixels``
    max_pixels: int | None = None
    #: the loader passes a per-sample ``random.Random`` (seeded by seed, epoch and key)
    takes_rng = True

    def array(self, data: bytes | Sequence[bytes], rng: random.Random | None = None) -> np.ndarray:
        """The clip as a uint8 (T, H, W, 3) array."""
        limit = self.max_pixels if self.max_pixels is not None else MAX_PIXELS
        if isinstance(data, bytes | bytearray | memoryview):
            return decode_clip(bytes(data), self.num_frames, self.stride, self.start, rng, limit)
        return decode_frame_folder(data, self.num_frames, self.stride, self.start, rng, limit)

    def __call__(self, data: bytes | Sequence[bytes], rng: random.Random | None = None) -> Any:
        import torch

        return torch.from_numpy(self.array(data, rng)).permute(0, 3, 1, 2)
