"""The resume state: a handful of numbers, versioned. The order is recomputed from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import StateError

__all__ = ["STATE_VERSION", "LoaderState"]

STATE_VERSION = 1


@dataclass(frozen=True)
class LoaderState:
    """Where a rank is: ``batches`` batches of ``epoch`` delivered.

    The rest pins what the order depends on (``fingerprint`` hashes the shard list, sample
    counts and order-relevant options), so loading a state into a loader that would produce
    another order fails instead of silently repeating or skipping samples.
    """

    epoch: int
    batches: int
    seed: int
    rank: int
    world_size: int
    num_workers: int
    batch_size: int
    fingerprint: str
    version: int = STATE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoaderState:
        if not isinstance(data, Mapping):
            raise StateError(f"state must be a dict from state_dict(), got {type(data).__name__}")
        if data.get("version") != STATE_VERSION:
            raise StateError(
                f"state version {data.get('version')!r} is not supported (expected {STATE_VERSION})"
            )
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data))
        extra = sorted(set(data) - names)
        if missing or extra:
            raise StateError(f"state keys: missing {missing}, unexpected {extra}")
        return cls(**{k: data[k] for k in names})

    def check_compatible(self, other: LoaderState) -> None:
        """Raise listing every order-relevant field where ``other`` (this loader) differs."""
        diffs = [
            f"{name}: state has {getattr(self, name)!r}, loader has {getattr(other, name)!r}"
            for name in ("seed", "rank", "world_size", "num_workers", "batch_size", "fingerprint")
            if getattr(self, name) != getattr(other, name)
        ]
        if diffs:
            raise StateError("state does not fit this loader: " + "; ".join(diffs))
