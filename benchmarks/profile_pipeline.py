"""Where the default visiondata pipeline of bench_peers.py spends its time: a py-spy profile.

    python benchmarks/profile_pipeline.py --shards DIR [--config PxT] [--rate 100] [--out raw.txt]

Runs ``bench_peers.py --run visiondata`` (``visiondata:PxT`` with ``--config``) under
``py-spy record --subprocesses`` (the main process and its DataLoader workers, every thread,
idle ones left out, and samples whose innermost frame is a wait too) and sorts each sample into one category by its Python stack: decode (the
region decoder or simplejpeg, inside ``imageops._decode_region``), resize (``resize_crop``),
and the rest named by the first loader stage it is in (collate, reading, pipeline, IPC), or by
what the main process was doing. Prints the share of each category and of decode + resize,
over the whole run (both epochs, start-up included) and over the worker processes alone.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent

#: first match wins, searched from the innermost frame outwards
CATEGORIES = [
    ("decode", ("_decode_region", "_jpeg_window", "decode_jpeg")),
    ("resize", ("resize_crop",)),
    ("collate", ("collate",)),
    ("read shards", ("reader.py", "tarstream", "members.py", "remote.py")),
    ("thread pool", ("threads.py", "concurrent/futures", "notify")),
    ("pipeline", ("pipeline.py", "batches.py", "fields.py", "imageops.py", "cropbox.py")),
    ("IPC", ("multiprocessing", "queues.py", "reduction", "connection.py")),
    ("import / start-up", ("<frozen importlib",)),
]
#: an innermost frame that is a wait: py-spy's idle filter lets some of these through
WAITS = (
    "wait (threading.py",
    "get (queue.py",
    "select (selectors.py",
    "poll (",
    "accept (",
    "_recv (",
    "_recv_bytes (",
    "sleep (",
    "acquire (",
    "_worker (concurrent/futures/thread.py",
)  # fmt: skip (a pool thread waiting for work)


def category(stack: str) -> str:
    frames = stack.split(";")
    if any(w in frames[-1] for w in WAITS):
        return "waiting"
    for frame in reversed(frames):
        for name, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return name
    return "other"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shards", type=Path, required=True)
    ap.add_argument("--config", help="PxT: num_workers x threads_per_worker")
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--out", type=Path, help="keep py-spy's raw (collapsed) stacks here")
    args = ap.parse_args()
    name = "visiondata" + (f":{args.config}" if args.config else "")
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.out or Path(tmp) / "raw.txt"
        cmd = [
            "py-spy", "record", "--subprocesses", "--format", "raw", "--rate", str(args.rate),
            "--output", str(raw), "--nonblocking", "--threads", "--",
            sys.executable, str(HERE / "bench_peers.py"), "--run", name,
            "--shards", str(args.shards),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        lines = raw.read_text().splitlines()
    total: collections.Counter[str] = collections.Counter()
    workers: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        cat = category(stack)
        total[cat] += int(count)
        if "_worker_loop" in stack or "visiondata-decode" in stack:
            workers[cat] += int(count)
    for label, counts in (("whole run", total), ("worker processes", workers)):
        waiting = counts.pop("waiting", 0)
        n = sum(counts.values())
        if not n:
            print(f"{label}: no samples")
            continue
        work = counts["decode"] + counts["resize"]
        print(
            f"{label}: {n} busy samples ({waiting} waiting left out), decode + resize {work / n:.1%}"
        )
        for cat, c in counts.most_common():
            print(f"  {cat:<18} {c / n:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
