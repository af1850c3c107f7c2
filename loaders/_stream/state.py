"""The resume state: a handful of numbers, versioned, the same on every rank. The order is
recomputed from them (see :mod:`.elastic`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import StateError
from .elastic import Segment

__all__ = ["STATE_VERSION", "LoaderState"]

STATE_VERSION = 2
#: the keys of a segment in ``earlier`` (and of the current one, at the top level)
_SEGMENT_KEYS = ("world_size", "num_workers", "batch_size", "batches")
_KEYS = ("version", "epoch", "seed", "fingerprint", *_SEGMENT_KEYS, "earlier")
#: version 1 states were taken per rank; ``rank`` is ignored (the position is the same on every
#: rank), and ``num_workers`` was written as 1 for 0, which lays out the same.
_KEYS_V1 = ("version", "epoch", "seed", "fingerprint", *_SEGMENT_KEYS, "rank")


#: bounds of what a state may claim (a state is the user's own file, but a wrong one must fail
#: in one line, not by laying out a billion ranks)
_HIGH = {"world_size": 1 << 20, "num_workers": 1 << 12, "batch_size": 1 << 31}
MAX_SEGMENTS = 64


def _int(data: Mapping[str, Any], key: str, low: int, where: str = "") -> int:
    value = data[key]
    high = _HIGH.get(key, 1 << 62)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise StateError(f"state{where}: {key}={value!r} is not an integer in {low}..{high}")
    return value


@dataclass(frozen=True)
class LoaderState:
    """``batches`` batches per rank of ``epoch`` delivered by the world in ``current``, after
    the ``earlier`` segments of the epoch (delivered by other worlds).

    ``seed`` and ``fingerprint`` (a hash of the shard list, sample counts and the options the
    order depends on) pin the data: a state for other data fails instead of silently repeating
    or skipping samples. The world, worker count and batch size may differ (elastic resume).
    """

    epoch: int
    seed: int
    fingerprint: str
    current: Segment
    earlier: tuple[Segment, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        c = self.current
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "seed": self.seed,
            "fingerprint": self.fingerprint,
            "world_size": c.world_size,
            "num_workers": c.num_workers,
            "batch_size": c.batch_size,
            "batches": c.batches,
            "earlier": [{k: getattr(s, k) for k in _SEGMENT_KEYS} for s in self.earlier],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoaderState:
        if not isinstance(data, Mapping):
            raise StateError(f"state must be a dict from state_dict(), got {type(data).__name__}")
        version = data.get("version")
        if type(version) is not int or version not in (1, STATE_VERSION):  # not True, not 2.0
            raise StateError(
                f"state version {version!r} is not supported (expected 1 or {STATE_VERSION})"
            )
        keys = _KEYS if version == STATE_VERSION else _KEYS_V1
        missing = sorted(set(keys) - set(data))
        extra = sorted(set(data) - set(keys))
        if missing or extra:
            raise StateError(f"state keys: missing {missing}, unexpected {extra}")
        if not isinstance(data["fingerprint"], str):
            raise StateError(f"state: fingerprint={data['fingerprint']!r} is not a string")
        earlier = data.get("earlier", [])
        if not isinstance(earlier, list) or len(earlier) > MAX_SEGMENTS:
            raise StateError(
                f"state: earlier is not a list of at most {MAX_SEGMENTS} segments "
                f"(got {type(earlier).__name__} of {len(earlier) if isinstance(earlier, list) else '-'})"
            )
        return cls(
            epoch=_int(data, "epoch", 0),
            seed=_int(data, "seed", 0),
            fingerprint=data["fingerprint"],
            current=_segment(data, ""),
            earlier=tuple(_segment(s, f".earlier[{i}]") for i, s in enumerate(earlier)),
        )

    def check_compatible(self, seed: int, fingerprint: str) -> None:
        """Raise listing every field where this loader's data and order differ."""
        diffs = [
            f"{name}: state has {mine!r}, loader has {theirs!r}"
            for name, mine, theirs in (
                ("seed", self.seed, seed),
                ("fingerprint", self.fingerprint, fingerprint),
            )
            if mine != theirs
        ]
        if diffs:
            raise StateError(
                "state does not fit this loader (other data or order options): " + "; ".join(diffs)
            )


def _segment(data: Any, where: str) -> Segment:
    if not isinstance(data, Mapping) or (where and sorted(data) != sorted(_SEGMENT_KEYS)):
        raise StateError(f"state{where}: expected a dict with keys {list(_SEGMENT_KEYS)}")
    return Segment(
        world_size=_int(data, "world_size", 1, where),
        num_workers=_int(data, "num_workers", 0, where),
        batch_size=_int(data, "batch_size", 1, where),
        batches=_int(data, "batches", 0, where),
    )
