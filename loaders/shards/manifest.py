"""The shard-set manifest: the contract between converters (which write it) and loaders
(which read it to count, partition and seek without opening tars).

``OUT/manifest.json`` is written last and atomically. One manifest describes a whole
dataset: converting another split into the same directory adds that split. No torch here.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ManifestError

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "VERSION",
    "ConverterInfo",
    "Manifest",
    "ManifestError",
    "ShardInfo",
    "SkippedItem",
    "SplitInfo",
    "read_manifest",
    "write_manifest",
]

FORMAT = "visiondata.manifest"
VERSION = 1
MANIFEST_NAME = "manifest.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShardInfo(_Model):
    """One tar shard: its file name (relative to the manifest), size, checksum and index."""

    name: str = Field(description="file name relative to the manifest's directory")
    num_samples: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    keys: list[str] = Field(description="sample keys in tar order")
    offsets: list[int] = Field(description="byte offset of each sample's first tar header")
    labels: list[int | None] | None = Field(
        default=None, description="class index of each sample, where the dataset has one"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ShardInfo:
        n = self.num_samples
        if len(self.keys) != n or len(self.offsets) != n:
            raise ValueError(
                f"shard {self.name}: num_samples is {n} but {len(self.keys)} keys and "
                f"{len(self.offsets)} offsets are listed"
            )
        if self.labels is not None and len(self.labels) != n:
            raise ValueError(f"shard {self.name}: {len(self.labels)} labels for {n} samples")
        if any(b <= a for a, b in zip(self.offsets, self.offsets[1:], strict=False)):
            raise ValueError(f"shard {self.name}: offsets are not strictly increasing")
        return self


class SkippedItem(_Model):
    """An input item a converter skipped under ``--on-error skip``, with the reason."""

    item: str
    reason: str


class SplitInfo(_Model):
    num_samples: int = Field(ge=0)
    shards: list[ShardInfo]
    class_counts: dict[str, int] | None = Field(
        default=None, description="class index (as a string) -> number of samples"
    )
    skipped: list[SkippedItem] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sum(self) -> SplitInfo:
        total = sum(s.num_samples for s in self.shards)
        if total != self.num_samples:
            raise ValueError(f"num_samples is {self.num_samples} but the shards hold {total}")
        return self


class ConverterInfo(_Model):
    name: str
    version: str
    options: dict[str, Any] = Field(default_factory=dict)


class Manifest(_Model):
    format: str = FORMAT
    version: int = VERSION
    card: str | None = Field(default=None, description="id of the dataset card, if known")
    converter: ConverterInfo
    fields: dict[str, str] = Field(description="member extension -> meaning")
    classes: list[str] | None = Field(default=None, description="class names by index")
    splits: dict[str, SplitInfo] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _format(self) -> Manifest:
        if self.format != FORMAT:
            raise ValueError(f"format is {self.format!r}, expected {FORMAT!r}")
        if self.version != VERSION:
            raise ValueError(
                f"manifest version {self.version} is not supported (expected {VERSION})"
            )
        return self

    def split(self, name: str) -> SplitInfo:
        if name not in self.splits:
            raise ManifestError(
                f"split {name!r} is not in the manifest (have: {', '.join(self.splits) or 'none'})"
            )
        return self.splits[name]


_CLAIMS_FORMAT = re.compile(r'"format"\s*:\s*"' + re.escape(FORMAT) + '"')


def parse_manifest(text: str, where: str) -> Manifest:
    """Parse manifest JSON; errors name ``where`` (a path or URL).

    A file that does not even claim to be a manifest gets a message that echoes none of its
    bytes (a hostile manifest URL must not turn the loader into a reader of other files)."""
    try:
        return Manifest.model_validate_json(text)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        if first["type"] == "json_invalid":
            raise ManifestError(f"{where}: is not a manifest (not valid JSON)") from None
        if not first["loc"] or not _CLAIMS_FORMAT.search(text):
            raise ManifestError(
                f'{where}: is not a manifest (expected a JSON object with "format": "{FORMAT}")'
            ) from None
        loc = ".".join(str(p) for p in first["loc"])
        raise ManifestError(f"{where}: invalid manifest at {loc}: {first['msg']}") from None


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read a local manifest file, or ``manifest.json`` in a folder (the loaders read remote
    ones through fsspec)."""
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST_NAME
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{p}: no such manifest") from None
    except OSError as exc:
        raise ManifestError(f"{p}: cannot read manifest: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{p}: is not a manifest (not UTF-8 text)") from None
    return parse_manifest(text, str(p))


def write_manifest(manifest: Manifest, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``OUT/manifest.json`` atomically (temp file + rename) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = manifest.model_dump(mode="json")
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        target = out / MANIFEST_NAME
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
