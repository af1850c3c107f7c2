"""``visiondata shards verify`` and ``info``: check a shard set against its manifest, and
summarise it. No torch here.

``verify`` re-reads every shard: size, sha256, and the tar itself (sample keys and order,
each sample's byte offset, the sample count), and checks that every member is readable
(images open, JSON parses, ``cls`` is an integer). It returns every problem found, each
naming the shard (and sample) and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from pathlib import Path
from typing import Any

from ..convert.base import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, check_image, check_video
from ..errors import ItemError
from .manifest import MANIFEST_NAME, Manifest, ManifestError, ShardInfo, read_manifest

__all__ = ["info", "verify"]

_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_\-]+)-\d{6}\.tar(\.partial)?$")


def _split_name(member: str) -> tuple[str, str]:
    head, _, base = member.rpartition("/")
    key, _, ext = base.partition(".")
    return (f"{head}/{key}" if head else key), ext


def _check_member(ext: str, data: bytes, where: str, deep: bool) -> str | None:
    last = ext.rsplit(".", 1)[-1]
    try:
        if last == "json":
            json.loads(data)
        elif last == "cls":
            int(data.decode("ascii").strip())
        elif last in IMAGE_EXTENSIONS:
            check_image(data, where, "decode" if deep else "header")
        elif deep and last in VIDEO_EXTENSIONS:
            check_video(data, where, "header")
    except ItemError as exc:
        return exc.reason
    except (ValueError, UnicodeDecodeError) as exc:
        return f"unreadable {last} member ({exc})"
    return None


def verify_shard(path: Path, shard: ShardInfo, deep: bool = False) -> list[str]:
    """Problems with one shard (empty when it is sound)."""
    name = path.name
    try:
        size = path.stat().st_size
    except OSError:
        return [f"{name}: missing"]
    if size != shard.bytes:
        return [f"{name}: {size} bytes on disk, manifest says {shard.bytes}"]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if h.hexdigest() != shard.sha256:
        return [f"{name}: sha256 {h.hexdigest()} does not match the manifest's {shard.sha256}"]
    problems: list[str] = []
    keys: list[str] = []
    offsets: list[int] = []
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                if not member.isfile():
                    problems.append(f"{name}: member {member.name!r} is not a regular file")
                    continue
                key, ext = _split_name(member.name)
                if not keys or keys[-1] != key:
                    keys.append(key)
                    offsets.append(member.offset)
                fobj = tar.extractfile(member)
                data = fobj.read() if fobj is not None else b""
                reason = _check_member(ext, data, f"{name}:{member.name}", deep)
                if reason:
                    problems.append(f"{name}: sample {key!r} member {ext!r}: {reason}")
    except (tarfile.TarError, OSError) as exc:
        return [*problems, f"{name}: not a readable tar ({exc})"]
    if len(keys) != shard.num_samples:
        problems.append(f"{name}: holds {len(keys)} samples, manifest says {shard.num_samples}")
    if keys != shard.keys:
        diff = next(
            (i for i, (a, b) in enumerate(zip(keys, shard.keys, strict=False)) if a != b), None
        )
        problems.append(f"{name}: sample keys differ from the manifest (first at position {diff})")
    elif offsets != shard.offsets:
        problems.append(f"{name}: sample offsets differ from the manifest")
    return problems


def verify(out: str | Path, deep: bool = False) -> list[str]:
    """Every problem with the shard set in ``out`` (empty when it is sound). ``deep`` also
    decodes every image and opens every video."""
    out_path = Path(out)
    try:
        manifest = read_manifest(out_path)
    except ManifestError as exc:
        return [str(exc)]
    problems: list[str] = []
    listed = set()
    for split, info in manifest.splits.items():
        for shard in info.shards:
            listed.add(shard.name)
            problems += [
                f"split {split!r}: {p}" for p in verify_shard(out_path / shard.name, shard, deep)
            ]
        if info.class_counts is not None and manifest.classes is not None:
            bad = [
                k for k in info.class_counts if not k.isdigit() or int(k) >= len(manifest.classes)
            ]
            if bad:
                problems.append(f"split {split!r}: class_counts names unknown class indices {bad}")
    for p in sorted(out_path.iterdir()):
        if p.name.startswith(".") and p.name.endswith(".journal.jsonl"):
            problems.append(
                f"{p.name}: an interrupted conversion of split {p.name[1:-14]!r}; run it again to finish"
            )
        elif _SHARD.match(p.name) and p.name not in listed:
            problems.append(f"{p.name}: shard file is not in {MANIFEST_NAME}")
    return problems


def info(out: str | Path) -> dict[str, Any]:
    """A JSON-able summary of the shard set: counts, sizes, classes, skipped items."""
    manifest: Manifest = read_manifest(out)
    classes = manifest.classes
    splits = {}
    for name, s in manifest.splits.items():
        counts = None
        if s.class_counts is not None:
            counts = {
                (classes[int(k)] if classes and k.isdigit() and int(k) < len(classes) else k): v
                for k, v in s.class_counts.items()
            }
        splits[name] = {
            "samples": s.num_samples,
            "shards": len(s.shards),
            "bytes": sum(sh.bytes for sh in s.shards),
            "skipped": len(s.skipped),
            "class_counts": counts,
        }
    return {
        "card": manifest.card,
        "converter": {"name": manifest.converter.name, "version": manifest.converter.version},
        "fields": manifest.fields,
        "classes": classes,
        "splits": splits,
    }
