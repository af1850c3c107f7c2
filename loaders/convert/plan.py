"""Shard planning: cut the scanned items into consecutive shards, by estimated bytes or by
sample count. Pure: no I/O, so shard contents depend only on the items and the limits (not on
``workers``), and a task's fingerprint says whether a shard from an earlier run still fits."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .base import Item

__all__ = ["ShardTask", "plan_shards"]

_TAR_BLOCK = 512
_TAR_END = 10240  # tarfile pads the archive to 20 blocks


@dataclass(frozen=True)
class ShardTask:
    index: int
    name: str
    items: tuple[Item, ...]
    fingerprint: str


def _estimate(item: Item) -> int:
    # members: header block + data padded to blocks; assume 3 members per sample
    return item.size + 3 * 2 * _TAR_BLOCK


def plan_shards(
    items: list[Item], split: str, shard_size: int | None, samples_per_shard: int | None, salt: str
) -> list[ShardTask]:
    """Cut ``items`` into consecutive shards: at most ``samples_per_shard`` each, or as many
    as fit ``shard_size`` estimated bytes (at least one). Pure."""
    groups: list[list[Item]] = []
    cur: list[Item] = []
    cur_bytes = _TAR_END
    for item in items:
        est = _estimate(item)
        full = (
            len(cur) >= samples_per_shard
            if samples_per_shard is not None
            else shard_size is not None and cur_bytes + est > shard_size
        )
        if cur and full:
            groups.append(cur)
            cur, cur_bytes = [], _TAR_END
        cur.append(item)
        cur_bytes += est
    if cur:
        groups.append(cur)
    tasks = []
    for i, group in enumerate(groups):
        h = hashlib.sha256(salt.encode())
        for it in group:
            h.update(
                json.dumps([it.key, it.source, it.label, list(it.class_ids), it.stamp]).encode()
            )
        tasks.append(ShardTask(i, f"{split}-{i:06d}.tar", tuple(group), h.hexdigest()))
    return tasks
