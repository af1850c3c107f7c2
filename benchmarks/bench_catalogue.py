"""Cold and warm times of ``visiondata cards list`` and ``cards query``, as whole commands.

Each figure is the wall-clock time of the command run as a subprocess (interpreter start,
imports, reading the catalogue, output), median of ``--repeat`` runs; *warm CPU* is the
user + system time the warm run's process used (what a busy machine cannot inflate). *cold*: the catalogue
cache is empty, so every card is parsed and validated (and the cache written); *warm*: the
cache from the previous run is used. Two catalogues: the shipped cards alone, and the shipped
cards plus ``--cards`` (default 500) generated ones, made by copying the shipped cards under
new ids (``<id>-copy-NNN``) into a temporary folder named in ``VISIONDATA_CARDS_PATH``.

    python benchmarks/bench_catalogue.py [--cards 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "cards list": ["cards", "list"],
    "cards query": ["cards", "query", "SELECT count(*) AS figures FROM figures"],
}


def generate(folder: Path, n: int) -> int:
    """Copy shipped cards under new ids into ``folder`` until it holds ``n``; how many."""
    shipped = sorted((REPO / "cards").glob("*.yaml"))
    made = 0
    while made < n:
        for path in shipped:
            if made == n:
                break
            text = path.read_text(encoding="utf-8")
            new_id = f"{path.stem}-copy-{made:03d}"
            text = re.sub(r"^id: .*$", f"id: {new_id}", text, count=1, flags=re.M)
            text = re.sub(r"^aliases: \[.*\]$", "aliases: []", text, count=1, flags=re.M)
            (folder / f"{new_id}.yaml").write_text(text, encoding="utf-8")
            made += 1
    return made


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of the command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "visiondata.registry.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{out.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def measure(extra: Path | None, repeat: int) -> dict[str, tuple[float, float, float]]:
    """``{command: (cold, warm, warm CPU)}`` seconds for the catalogue with ``extra`` cards."""
    results = {}
    for name, argv in COMMANDS.items():
        colds, warms, cpus = [], [], []
        for _ in range(repeat):
            cache = Path(tempfile.mkdtemp(prefix="vd-cache-"))
            env = {**os.environ, "VISIONDATA_CACHE_DIR": str(cache)}
            env.pop("VISIONDATA_NO_CACHE", None)
            env.pop("VISIONDATA_CARDS_PATH", None)
            if extra is not None:
                env["VISIONDATA_CARDS_PATH"] = str(extra)
            colds.append(run(argv, env)[0])
            run(argv, env)  # the first query after a cold start also writes the DuckDB copy
            wall, cpu = run(argv, env)
            warms.append(wall)
            cpus.append(cpu)
            shutil.rmtree(cache)
        results[name] = (
            statistics.median(colds),
            statistics.median(warms),
            statistics.median(cpus),
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=500, help="generated cards (default 500)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (default 5)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    shipped = len(list((REPO / "cards").glob("*.yaml")))
    with tempfile.TemporaryDirectory(prefix="vd-cards-") as tmp:
        generated = generate(Path(tmp), args.cards)
        rows = [
            (f"shipped ({shipped} cards)", measure(None, args.repeat)),
            (
                f"+{generated} generated ({shipped + generated} cards)",
                measure(Path(tmp), args.repeat),
            ),
        ]
    print(
        f"median of {args.repeat} runs, seconds, whole command as a subprocess ({os.cpu_count()} cores)"
    )
    print(f"load average (1 min) at the start {load:.2f}, at the end {os.getloadavg()[0]:.2f}")
    print(f"{'catalogue':<32} {'command':<12} {'cold':>7} {'warm':>7} {'warm CPU':>9}")
    for label, results in rows:
        for name, (cold, warm, cpu) in results.items():
            print(f"{label:<32} {name:<12} {cold:7.3f} {warm:7.3f} {cpu:9.3f}")


if __name__ == "__main__":
    main()
