"""A small on-disk cache of JSON sections, for the parsed catalogue.

One cache file holds a header line and its sections::

    {"format": 1, "key": "<sha256 of the key>", "sections": {"index": [offset, length, sha256], ...}}
    <section bytes><section bytes>...

A reader checks the key (the caller's description of what the data was made from, e.g. every
card file's path, size and mtime) and each section's sha256 before parsing it, and reads only
the sections it needs. Anything unexpected (a missing or truncated file, another format, a
checksum that does not match, JSON that does not parse) reads as "no cache": the caller
rebuilds. Writers write a temporary file in the same folder and ``os.replace`` it, so readers
see the old file or the new one, never a mix, and concurrent writers cannot corrupt it. No
pickle: the sections are JSON, and what is built from them is validated by the caller.

Location: ``VISIONDATA_CACHE_DIR`` if set, else the platform's user cache folder
(``platformdirs`` when installed, else ``$XDG_CACHE_HOME`` or ``~/.cache``) + ``visiondata``.
``VISIONDATA_NO_CACHE=1`` turns caching off.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .files import write_atomic

__all__ = ["CACHE_DIR_VAR", "FORMAT", "NO_CACHE_VAR", "SectionCache", "cache_dir", "key_digest"]

CACHE_DIR_VAR = "VISIONDATA_CACHE_DIR"
NO_CACHE_VAR = "VISIONDATA_NO_CACHE"
FORMAT = 1
_KEEP = 16  # cache files kept per folder (one per set of card folders); the oldest go


def cache_dir() -> Path | None:
    """The folder for visiondata's cache files, or None when caching is off."""
    if os.environ.get(NO_CACHE_VAR, "") not in ("", "0"):
        return None
    explicit = os.environ.get(CACHE_DIR_VAR)
    if explicit:
        return Path(explicit)
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("visiondata", appauthor=False))
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "visiondata"


def key_digest(key: Any) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


class SectionCache:
    """The cache file ``name`` (in :func:`cache_dir`) for data made from ``key``."""

    def __init__(self, name: str, key: Any) -> None:
        folder = cache_dir()
        self.path = None if folder is None else folder / f"{name}.json"
        self.key = key_digest(key)
        self._header: dict[str, Any] | None = None

    def _read_header(self) -> dict[str, Any] | None:
        if self.path is None:
            return None
        try:
            with self.path.open("rb") as f:
                header = json.loads(f.readline())
        except (OSError, ValueError):
            return None
        if (
            not isinstance(header, dict)
            or header.get("format") != FORMAT
            or header.get("key") != self.key
            or not isinstance(header.get("sections"), dict)
        ):
            return None
        return header

    def fresh(self) -> bool:
        """Whether the file exists and was made from this key."""
        if self._header is None:
            self._header = self._read_header()
        return self._header is not None

    def read(self, section: str) -> Any:
        """The section's data, or None when the file is missing, stale or corrupt."""
        data = self.read_bytes(section)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def read_bytes(self, section: str) -> bytes | None:
        """The section's JSON text, checked against its sha256; None as for :meth:`read`."""
        if not self.fresh() or self.path is None or self._header is None:
            return None
        entry = self._header["sections"].get(section)
        try:
            offset, length, digest = entry
            with self.path.open("rb") as f:
                f.readline()
                f.seek(f.tell() + int(offset))
                data = f.read(int(length))
        except (OSError, TypeError, ValueError):
            return None
        if len(data) != length or hashlib.sha256(data).hexdigest() != digest:
            return None
        return data

    def _companion_prefix(self, tag: str) -> str:
        assert self.path is not None
        return f"{self.path.stem}-{self.key[:16]}-{tag}-"

    def companion(self, tag: str, suffix: str) -> Path | None:
        """A file kept beside the cache for the same key (``write_companion``), whose name
        carries its sha256; it is returned only when its bytes still match that sha256."""
        if self.path is None:
            return None
        prefix = self._companion_prefix(tag)
        for path in self.path.parent.glob(f"{prefix}*{suffix}"):
            digest = path.name[len(prefix) : -len(suffix)]
            try:
                ok = hashlib.sha256(path.read_bytes()).hexdigest() == digest
            except OSError:
                continue
            if ok:
                return path
            path.unlink(missing_ok=True)
        return None

    def write_companion(self, tag: str, suffix: str, write: Any) -> None:
        """``write(path)`` a companion file to a temporary path, then rename it into place
        under its sha256; companions of this cache made for other keys are removed."""
        if self.path is None:
            return
        folder = self.path.parent
        tmp = folder / f".{self.path.stem}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write(tmp)
            digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
            final = folder / f"{self._companion_prefix(tag)}{digest}{suffix}"
            os.replace(tmp, final)
        except Exception:  # best effort: the caller has its data already
            return
        finally:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
        for old in folder.glob(f"{self.path.stem}-*{suffix}"):
            if old != final:
                old.unlink(missing_ok=True)

    def write(self, sections: Mapping[str, Any]) -> None:
        """Replace the file with ``sections`` (best effort: an unwritable cache is skipped)."""
        if self.path is None:
            return
        blobs = {
            name: json.dumps(data, separators=(",", ":")).encode()
            for name, data in sections.items()
        }
        table, offset = {}, 0
        for name, blob in blobs.items():
            table[name] = [offset, len(blob), hashlib.sha256(blob).hexdigest()]
            offset += len(blob)
        header = json.dumps({"format": FORMAT, "key": self.key, "sections": table}).encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # private, as the cache folder's other files (0o600)
            write_atomic(self.path, b"".join([header, b"\n", *blobs.values()]), mode=0o600)
        except OSError:  # a cache that cannot be written is only not cached
            return
        self._header = None
        _prune(self.path.parent)


def _prune(folder: Path) -> None:
    """Keep the newest :data:`_KEEP` cache files; one that cannot be stat-ed (a dangling
    link) counts as the oldest, so it goes first instead of stopping the pruning."""

    def age(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return float("-inf")

    try:
        files = sorted(folder.glob("catalogue-*.json"), key=age)
        for old in files[:-_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
