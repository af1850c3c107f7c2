"""The fast path against the plain alternatives, each pair in one run (issue 7's floors).

    python benchmarks/bench_fastpath.py [--count 3000] [--batches 40] [--device cpu|cuda]

1. Images: an ImageNet-like set (JPEGs with a shorter side of 300-500 px made from real photos
   that ship with scikit-image / scikit-learn) written by the converter, then `visiondata bench
   --compare webdataset` (batch 64, 2 workers, RandomResizedCrop 224 + flip, uint8 out).
   Floors: >= 1.5x the throughput, peak RSS and PSS no higher, first batch within 2 s.
2. Video: 16-frame clips (stride 2) from the real mp4/webm samples in ../shared/realdata:
   seeking clip decoder vs decoding the whole video with PyAV and slicing.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from photos import make_imagefolder
from visiondata.loaders._bench import render, run_bench
from visiondata.loaders._decode.video import decode_clip
from visiondata.loaders.convert import convert

VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "video"


def images(count: int, batches: int, device: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "imagefolder", Path(tmp) / "shards"
        make_imagefolder(src, count)
        convert("imagefolder", src, out, split="train", shard_size="50MB")
        results = run_bench(
            str(out),
            batch_size=64,
            workers=2,
            crop=224,
            device=device,
            batches=batches + 1,
            compare="webdataset",
        )
    print(render(results))
    ours, base = results
    ok = (
        ours.samples_per_s >= 1.5 * base.samples_per_s
        and ours.peak_rss_mb <= base.peak_rss_mb
        and ours.peak_pss_mb <= base.peak_pss_mb
        and ours.first_batch_s <= 2
    )
    print(
        f"floors (>= 1.5x throughput, peak RSS and PSS <= baseline, first batch <= 2 s): {'met' if ok else 'MISSED'}"
    )
    return ok


def whole_then_slice(data: bytes, t: int, s: int) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    first = random.Random(0).randint(0, max(len(frames) - ((t - 1) * s + 1), 0))
    return np.stack([frames[min(first + i * s, len(frames) - 1)] for i in range(t)])


def video(repeat: int = 5) -> None:
    for path in [
        VIDEO / "derived" / "bbb_t05-10s_320x180_h264.mp4",
        VIDEO / "original" / "big_buck_bunny_0_30.webm",
    ]:
        data = path.read_bytes()
        timings = {}
        for name, fn in [
            ("clip decoder", lambda d=data: decode_clip(d, 16, 2, "random", random.Random(0))),
            ("whole video + slice", lambda d=data: whole_then_slice(d, 16, 2)),
        ]:
            best = min(_time(fn) for _ in range(repeat))
            timings[name] = best
        ratio = timings["whole video + slice"] / timings["clip decoder"]
        print(
            f"{path.name}: 16-frame clips/s: clip decoder {1 / timings['clip decoder']:.1f}, whole video + slice {1 / timings['whole video + slice']:.1f}  ratio {ratio:.1f}x"
        )


def _time(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()
    ok = images(args.count, args.batches, args.device)
    video()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
