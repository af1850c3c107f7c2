"""Every Python block of the README runs, in order, against small real shard sets; where a
block is followed by a plain output block, what it prints must be exactly that. So the README
cannot drift from the code."""

from __future__ import annotations

import contextlib
import gc
import io
import multiprocessing
import os
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[A-Za-z]*)\s*$")


def blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, expected output or None)`` for every ```python block."""
    lines = text.splitlines()
    fences: list[tuple[int, int, str, str]] = []  # (start, end, lang, body)
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = len(m.group("indent")), m.group("lang")
        j = i + 1
        while not re.match(rf"^ {{{indent}}}```\s*$", lines[j]):
            j += 1
        body = textwrap.dedent("\n".join(lines[i + 1 : j]))
        fences.append((i, j, lang, body))
        i = j + 1
    out = []
    for k, (start, end, lang, body) in enumerate(fences):
        if lang != "python":
            continue
        expected = None
        if k + 1 < len(fences):
            nstart, _, nlang, nbody = fences[k + 1]
            if nlang == "" and all(not x.strip() for x in lines[end + 1 : nstart]):
                expected = nbody + "\n"
        out.append((start + 1, body, expected))
    return out


def _normalize(text: str) -> str:
    return re.sub(r"\(\d+\.\d s\)", "(N s)", text)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out as the README's examples assume: ``../shared/realdata``, COCO and
    BCCD converted as the README converts them, and an ``ImageNet/train`` of real photos."""
    from visiondata.loaders.convert import convert

    base = tmp_path_factory.mktemp("readme")
    (base / "shared").symlink_to(REALDATA.parent, target_is_directory=True)
    work = base / "work"
    work.mkdir()
    convert("coco", REALDATA / "coco", work / "coco-shards", card="coco-2017")
    for split in ("train", "val", "test"):
        convert(
            "voc",
            REALDATA / "voc_bccd" / "BCCD",
            work / "bccd-shards",
            split=split,
            samples_per_shard=4,
        )
    for i, photo in enumerate(sorted((REALDATA / "coco" / "val2017").glob("*.jpg"))):
        folder = work / "ImageNet" / "train" / ("n01" if i % 2 else "n02")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / photo.name).write_bytes(photo.read_bytes())
    return work


def test_blocks_are_found() -> None:
    found = blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(found) >= 10
    assert sum(expected is not None for _, _, expected in found) >= 6


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # 8 workers, 2 cores
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")  # Ray Data's own
def test_every_python_block_runs(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    gc.collect()
    # worker processes of other tests' loaders not yet freed are not the blocks'; each block
    # is checked to leave none of its own, so this set holds for every block
    earlier = set(multiprocessing.active_children())
    for line, code, expected in blocks((ROOT / "README.md").read_text(encoding="utf-8")):
        out = io.StringIO()
        namespace = {"__name__": "__readme__"}
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(code, f"README.md:{line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"README.md:{line}: {type(exc).__name__}: {exc}") from exc
        if expected is not None:
            assert _normalize(out.getvalue()) == _normalize(expected), f"README.md:{line}"
        # the block's loaders (some held in Lightning's reference cycles) go, and with them
        # their persistent worker processes, which would otherwise hold inherited descriptors
        namespace.clear()
        gc.collect()
        left = [p for p in multiprocessing.active_children() if p not in earlier]
        assert left == [], f"README.md:{line}: workers outlive it"
    assert os.path.exists("imagenet-shards/manifest.json")  # made by the README's convert()
