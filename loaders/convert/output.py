"""OUT as an fsspec URL (``s3://bucket/set``, or anything fsspec writes to): what a conversion
needs from an object store, and why each piece is sound there.

- **Shards**: each is written by the one shard writer into a node-local temporary folder
  (the same bytes as into a local OUT), then uploaded whole to ``OUT/<name>`` and its size
  checked. A finished S3 PUT (or multipart upload) is atomic: a reader sees the whole shard or
  none of it, so no ``.partial`` names are needed. A task needs one shard of free temporary
  space (``TMPDIR``) on its node.
- **Journal**: S3 cannot append, so each finished shard is one small object
  ``OUT/.{split}.journal/{index:06d}.json`` (the same fields as a line of the local journal,
  plus the uploaded object's ETag). A rerun keeps a journalled shard whose fingerprint, size
  and ETag still match: the server gives a rewritten object a new ETag, so the shard is not
  downloaded to be hashed again (it is hashed when the file system reports no ETag).
- **Manifest**: one PUT of the same bytes :func:`~..shards.manifest.write_manifest` writes,
  after every shard is in place; the journal is removed after it.
- **Lock**: ``flock`` does not exist on an object store. ``OUT/.{split}.lock`` is created with
  a conditional write (``If-None-Match: *``: AWS S3 documents it for PutObject, moto honours it
  in the tests, other S3 servers are not checked), so a second
  run into the same split stops at once naming the holder, and the lock is read back to check
  it is ours. A run killed without cleaning up leaves its lock behind: a rerun on the same host
  takes it over when the holding process is gone; from another host the message names the
  object to delete. A server that ignores ``If-None-Match`` cannot exclude concurrent runs:
  do not start two conversions of one split into it at once.

Every call is bounded (the S3 client's connect/read timeouts and a few attempts), and a
failure is one :class:`~visiondata.loaders.errors.ConversionError` line naming OUT and the
cause: unreachable endpoint, missing bucket, no credentials, access denied.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConversionError, OutputLockedError

__all__ = [
    "Out",
    "RemoteOut",
    "is_remote",
    "make_out",
    "out_locked",
    "prepare",
    "put_manifest",
    "read_existing",
    "remote_locked",
    "remove_stale",
]

T = TypeVar("T")


def is_remote(out: str | os.PathLike[str]) -> bool:
    text = os.fspath(out)
    return "://" in text and not text.startswith("file://")


def _cause(exc: BaseException) -> str:
    name = type(exc).__name__
    text = (str(exc).strip().splitlines() or [""])[0]
    if name == "NoCredentialsError":
        return (
            "no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or a profile, "
            "or pass --storage-option key=... --storage-option secret=...)"
        )
    if isinstance(exc, FileNotFoundError) and "bucket" in text.lower():
        return "the bucket does not exist (create it first)"
    if isinstance(exc, FileNotFoundError):  # on a write: no bucket, or no S3 server there
        return f"not found ({text or name}); does the bucket exist, and is the endpoint S3?"
    if isinstance(exc, PermissionError):
        return f"access denied ({text})" if text else "access denied"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionError"):
        return f"cannot reach the endpoint ({text})"
    return f"{name}: {text}" if text else name


class RemoteOut:
    """OUT at an fsspec URL; picklable (the URL and storage options travel to Ray workers, each
    process opens its own file system)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.storage_options = dict(storage_options or {})

    def __str__(self) -> str:
        return self.url

    def __truediv__(self, name: str) -> str:  # OUT / "manifest.json", as with a Path
        return f"{self.url}/{name}"

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "storage_options": self.storage_options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.url = state["url"]
        self.storage_options = state["storage_options"]

    def _fs(self) -> tuple[Any, str]:
        from ..shards.remote import RemoteOptions, url_to_fs

        opts = RemoteOptions(storage_options=self.storage_options).fs_options(self.url)
        if self.url.split("://", 1)[0].lower() in ("s3", "s3a"):
            config = dict(opts.get("config_kwargs") or {})
            config.setdefault("retries", {"max_attempts": 3, "mode": "standard"})
            opts["config_kwargs"] = config
        return url_to_fs(self.url, opts)  # fsspec caches the instance per options

    def call(self, what: str, fn: Callable[[Any, str], T]) -> T:
        """``fn(fs, root)``; any failure but a missing object becomes one line naming OUT."""
        try:
            fs, root = self._fs()
            return fn(fs, root)
        except (FileNotFoundError, FileExistsError):
            raise
        except ConversionError:
            raise
        except Exception as exc:
            raise ConversionError(f"OUT {self.url}: cannot {what}: {_cause(exc)}") from None

    def _call_missing_ok(self, what: str, fn: Callable[[Any, str], T]) -> T | None:
        try:
            return self.call(what, fn)
        except FileNotFoundError as exc:
            if "bucket" in str(exc).lower():
                raise ConversionError(f"OUT {self.url}: cannot {what}: {_cause(exc)}") from None
            return None

    # -- objects --------------------------------------------------------------------------
    def cat(self, name: str) -> bytes | None:
        """The object's bytes, or ``None`` when there is none."""
        return self._call_missing_ok(f"read {name}", lambda fs, r: fs.cat_file(f"{r}/{name}"))

    def pipe(self, name: str, data: bytes) -> None:
        self._write(name, data, create=False)

    def _write(self, name: str, data: bytes, create: bool) -> None:
        try:
            self.call(
                f"write {name}",
                lambda fs, r: fs.pipe_file(
                    f"{r}/{name}", data, **({"mode": "create"} if create else {})
                ),
            )
        except FileNotFoundError as exc:  # writing: the bucket (or folder) is missing
            raise ConversionError(f"OUT {self.url}: cannot write {name}: {_cause(exc)}") from None

    def rm(self, name: str, recursive: bool = False) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.call(f"delete {name}", lambda fs, r: fs.rm(f"{r}/{name}", recursive=recursive))

    def info(self, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._call_missing_ok(
            f"look up {name}", lambda fs, r: fs.info(f"{r}/{name}")
        )
        return found

    def names(self, under: str = "") -> list[str]:
        """File names directly in OUT (or in ``OUT/under``)."""
        where = f"{self.url}/{under}".rstrip("/")

        def ls(fs: Any, r: str) -> list[str]:
            fs.invalidate_cache()
            base = f"{r}/{under}".rstrip("/")
            return [p.rsplit("/", 1)[-1] for p in fs.ls(base, detail=False)]

        return sorted(self._call_missing_ok(f"list {where}", ls) or [])

    def upload(self, local: Path, name: str, size: int) -> str | None:
        """Put the finished local file at ``OUT/name``; check the object's size; its ETag."""
        self.call(f"upload {name}", lambda fs, r: fs.put_file(str(local), f"{r}/{name}"))
        found = self.info(name)
        if found is None or int(found.get("size", -1)) != size:
            got = None if found is None else found.get("size")
            raise ConversionError(
                f"OUT {self.url}: uploaded {name} has {got} bytes, expected {size}; run again"
            )
        return etag_of(found)

    def sha256(self, name: str) -> str | None:
        def digest(fs: Any, r: str) -> str:
            h = hashlib.sha256()
            with fs.open(f"{r}/{name}", "rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
            return h.hexdigest()

        return self._call_missing_ok(f"read {name}", digest)


def etag_of(info: dict[str, Any]) -> str | None:
    tag = info.get("ETag") or info.get("etag")
    return None if tag is None else str(tag)


# -- the lock object ----------------------------------------------------------------------


def _stale(holder: dict[str, Any]) -> bool:
    """A lock left by a process on this host that no longer runs."""
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder.get("pid", -1)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False


def _holder(out: RemoteOut, name: str) -> dict[str, Any] | None:
    """Who holds the lock object: ``None`` when there is none; ``{}`` for one that is not a
    lock of ours (not JSON, not an object), held by someone we cannot name."""
    raw = out.cat(name)
    if raw is None:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


#: between two looks at a lock held by another run
_BACKOFF = 0.2
#: how long a lock that keeps vanishing between our write and our read is tried again
_RELEASE_GRACE = 5.0


def _acquire(out: RemoteOut, name: str, what: str, deadline: float) -> str:
    token = uuid.uuid4().hex
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "token": token}
    vanished = 0
    while True:
        with contextlib.suppress(FileExistsError):  # held: see by whom below
            out._write(name, json.dumps(mine).encode(), create=True)
        holder = _holder(out, name)
        if holder is not None and holder.get("token") == token:
            return token
        # held by another run (or a server that ignored If-None-Match let another run's
        # write win over ours: then that run holds it, not this one)
        if holder is None and time.monotonic() < deadline + _RELEASE_GRACE:
            # released between our write and our read: try again, at once the first time,
            # then backing off (a store that keeps saying "exists", then "missing")
            if vanished:
                time.sleep(_BACKOFF)
            vanished += 1
            continue
        holder = holder or {}  # unreadable: another process, never stale (it names no pid)
        if _stale(holder):
            out.rm(name)
            continue
        if time.monotonic() >= deadline:
            who = (
                f"process {holder.get('pid')} on {holder.get('host')}"
                if holder
                else "another process"
            )
            raise OutputLockedError(
                f"{out.url}: {what} is being written by {who} (lock object {out / name}); "
                "wait for it to finish, or stop it; if no run is going (a killed run leaves "
                "it behind), delete that object, then run again"
            )
        time.sleep(_BACKOFF)


@contextlib.contextmanager
def remote_locked(out: RemoteOut, name: str, what: str, wait: float = 0.0) -> Iterator[str]:
    """Hold the lock object ``OUT/.{name}.lock`` for the ``with`` block (see the module)."""
    obj = f".{name}.lock"
    _acquire(out, obj, what, time.monotonic() + wait)
    try:
        yield out / obj
    finally:
        out.rm(obj)


# -- one OUT, local or at a URL -----------------------------------------------------------

#: a local folder, or a URL fsspec writes to
Out = Path | RemoteOut


def make_out(out: str | os.PathLike[str], storage_options: dict[str, Any] | None) -> Out:
    """``out`` as a local folder or, when it is a URL, a :class:`RemoteOut`."""
    if is_remote(out):
        return RemoteOut(os.fspath(out), storage_options)
    if storage_options:
        raise ConversionError(
            f"storage options are for OUT at a URL (s3://...); {os.fspath(out)!r} is a folder"
        )
    return Path(os.fspath(out).removeprefix("file://"))


def prepare(out: Out) -> None:
    """Create a local OUT (an object store has no folders to create)."""
    if not isinstance(out, RemoteOut):
        out.mkdir(parents=True, exist_ok=True)


def read_existing(out: Out) -> Any:
    """OUT's manifest, or ``None`` when it has none."""
    from ..shards.manifest import MANIFEST_NAME, parse_manifest, read_manifest

    if not isinstance(out, RemoteOut):
        return read_manifest(out) if (out / MANIFEST_NAME).exists() else None
    data = out.cat(MANIFEST_NAME)
    if data is None:
        return None
    return parse_manifest(data.decode("utf-8", "replace"), out / MANIFEST_NAME)


def put_manifest(manifest: Any, out: Out) -> None:
    """Write the manifest: rename-atomic in a folder, one PUT at a URL (same bytes)."""
    from ..shards.manifest import MANIFEST_NAME, manifest_bytes, write_manifest

    if isinstance(out, RemoteOut):
        out.pipe(MANIFEST_NAME, manifest_bytes(manifest))
    else:
        write_manifest(manifest, out)


def out_locked(out: Out, name: str, what: str, wait: float = 0.0) -> Any:
    """The lock of ``name`` in OUT: ``flock`` on a local folder, a lock object at a URL."""
    from .lock import locked

    if isinstance(out, RemoteOut):
        return remote_locked(out, name, what, wait)
    return locked(out, name, what, wait)


def remove_stale(out: Out, split: str, keep: set[str]) -> None:
    """Delete shards of ``split`` that an earlier, larger plan left and this one does not use."""
    pattern = re.compile(rf"^{re.escape(split)}-\d{{6}}\.tar(\.partial)?$")
    names = out.names() if isinstance(out, RemoteOut) else [p.name for p in out.iterdir()]
    for name in names:
        if pattern.match(name) and name not in keep:
            if isinstance(out, RemoteOut):
                out.rm(name)
            else:
                (out / name).unlink()
