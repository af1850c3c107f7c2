"""The shard-set manifest: the contract between converters (which write it) and loaders
(which read it to count, partition and seek without opening tars).

``OUT/manifest.json`` is written last and atomically. One manifest describes a whole
dataset: converting another split into the same directory adds that split. No torch here.

Version 2 (written since visiondata 0.2; version 1 is still read) adds ``base``, the folder or
URL that shard names are relative to when the shards do not sit beside the manifest (what
``visiondata shards index --output`` writes for a set it cannot write into), and each split's
``source_split``, the name the source layout gives the split (``val2017``) where the manifest
uses the official one (``validation``). See :mod:`.sources` for how ``base`` is contained.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from visiondata.registry.files import write_atomic

from ..errors import ManifestError
from .splits import official_split, split_candidates

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "READ_VERSIONS",
    "VERSION",
    "ConverterInfo",
    "Manifest",
    "ManifestError",
    "ShardInfo",
    "SkippedItem",
    "SplitInfo",
    "library_version",
    "manifest_bytes",
    "read_manifest",
    "write_manifest",
]

FORMAT = "visiondata.manifest"
VERSION = 2
#: the versions this library reads
READ_VERSIONS = (1, 2)
MANIFEST_NAME = "manifest.json"


def library_version() -> str:
    """The installed visiondata's version (recorded by whoever writes a manifest)."""
    from importlib import metadata

    try:
        return metadata.version("visiondata")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShardInfo(_Model):
    """One tar shard: its file name (relative to the manifest), size, checksum and index."""

    name: str = Field(
        description="file name relative to the manifest's directory, or to its base if it has one"
    )
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
        # a sample starts at a tar header, and headers sit on 512-byte blocks: an offset
        # between two would have the reader start mid-block and lose its step with the tar
        off = next((o for o in self.offsets if o < 0 or o % 512), None)
        if off is not None:
            raise ValueError(
                f"shard {self.name}: offset {off} is not at a tar block boundary "
                "(a multiple of 512)"
            )
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
    source_split: str | None = Field(
        default=None,
        description="the split's name in the source layout (val2017) where it differs",
    )

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
    base: str | None = Field(
        default=None,
        description="folder or URL the shard names are relative to (default: the manifest's "
        "own folder); on another host or scheme than the manifest it needs the user's opt-in",
    )
    card: str | None = Field(default=None, description="id of the dataset card, if known")
    converter: ConverterInfo
    fields: dict[str, str] = Field(description="member extension -> meaning")
    classes: list[str] | None = Field(default=None, description="class names by index")
    splits: dict[str, SplitInfo] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _format(self) -> Manifest:
        if self.format != FORMAT:
            raise ValueError(f"format is {self.format!r}, expected {FORMAT!r}")
        if self.version not in READ_VERSIONS:
            raise ValueError(
                f"manifest version {self.version} is not supported (this visiondata reads "
                f"versions {', '.join(map(str, READ_VERSIONS))}; a newer one may need a newer "
                "visiondata)"
            )
        if self.version == 1 and (
            self.base is not None or any(s.source_split for s in self.splits.values())
        ):
            raise ValueError("base and source_split need manifest version 2")
        return self

    def split_name(self, name: str) -> str:
        """The key of the split ``name`` asks for: itself, else the split whose source name it
        is (``val2017``), else the one its official name or an alias names (``val`` ->
        ``validation``; a version 1 manifest's ``val2017`` for ``validation``)."""
        if name in self.splits:
            return name
        for key, info in self.splits.items():
            if info.source_split == name:
                return key
        for cand in split_candidates(name):
            if cand in self.splits:
                return cand
        official = official_split(name)
        found = [key for key in self.splits if official_split(key) == official]
        if len(found) == 1:
            return found[0]
        raise ManifestError(
            f"split {name!r} is not in the manifest (have: {', '.join(self.splits) or 'none'})"
        )

    def split(self, name: str) -> SplitInfo:
        return self.splits[self.split_name(name)]


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
        claims = _CLAIMS_FORMAT.search(text) is not None
        if claims and not first["loc"] and first["type"] == "value_error":  # whole-manifest rules
            msg = str(first["msg"]).removeprefix("Value error, ")
            raise ManifestError(f"{where}: invalid manifest: {msg}") from None
        if not first["loc"] or not claims:
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


def manifest_bytes(manifest: Manifest) -> bytes:
    """The bytes of ``manifest.json`` (the same wherever it is written: a folder or a URL)."""
    data = manifest.model_dump(mode="json")
    return (json.dumps(data, indent=1, sort_keys=False) + "\n").encode("utf-8")


def write_manifest(manifest: Manifest, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``OUT/manifest.json`` atomically (temp file + rename) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = write_atomic(out / MANIFEST_NAME, manifest_bytes(manifest))
    return target
