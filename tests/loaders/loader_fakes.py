"""Shards for the loader tests, built in code with the project's ShardWriter."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from visiondata.loaders.shards.manifest import ConverterInfo, Manifest, SplitInfo, write_manifest
from visiondata.loaders.shards.writer import ShardWriter

REALDATA = Path(__file__).parents[2].parent / "shared" / "realdata"

Members = Callable[[int, str], dict[str, bytes]]


def png_bytes(value: int, size: tuple[int, int] = (8, 6), mode: str = "RGB") -> bytes:
    from PIL import Image

    img = Image.new(mode, size, color=(value % 256, 7, 9) if mode == "RGB" else value % 256)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def small_members(i: int, key: str) -> dict[str, bytes]:
    return {"cls": str(i % 5).encode(), "txt": key.encode()}


def make_shards(
    root: Path,
    sizes: Sequence[int],
    *,
    split: str = "train",
    members: Members = small_members,
    prefix: str = "s",
    labels: bool = True,
    card: str | None = None,
) -> Path:
    """Shards with ``sizes[i]`` samples each and a manifest; keys ``{prefix}{global:06d}``."""
    root.mkdir(parents=True, exist_ok=True)
    infos = []
    n = 0
    counts: dict[str, int] = {}
    for si, size in enumerate(sizes):
        with ShardWriter(root / f"{split}-{si:06d}.tar") as w:
            for _ in range(size):
                key = f"{prefix}{n:06d}"
                label = n % 5 if labels else None
                w.write(key, members(n, key), label=label)
                if label is not None:
                    counts[str(label)] = counts.get(str(label), 0) + 1
                n += 1
            infos.append(w.close())
    manifest = Manifest(
        card=card,
        converter=ConverterInfo(name="test", version="0"),
        fields={ext: "test field" for ext in members(0, f"{prefix}000000")},
        splits={
            split: SplitInfo(num_samples=n, shards=infos, class_counts=counts if labels else None)
        },
    )
    write_manifest(manifest, root)
    return root


def all_keys(root: Path, split: str = "train") -> list[str]:
    data = json.loads((root / "manifest.json").read_text())
    return [k for s in data["splits"][split]["shards"] for k in s["keys"]]
