"""The one tar reader agrees with the standard library on well-formed tars, and reports
breaks precisely (tarfile is used here only as an independent reader to check ours against)."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest
from visiondata.loaders.shards.tar import (
    BadHeader,
    TarReader,
    Truncated,
    read_sample,
    scan_samples,
    walk_samples,
)

from .loader_fakes import REALDATA


def stdlib_samples(data: bytes) -> list[tuple[str, dict[str, bytes]]]:
    out: list[tuple[str, dict[str, bytes]]] = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            if not m.isfile():
                continue
            base = m.name.rsplit("/", 1)
            stem, _, ext = base[-1].partition(".")
            key = (base[0] + "/" if len(base) == 2 else "") + stem
            if not out or out[-1][0] != key:
                out.append((key, {}))
            out[-1][1][ext] = tf.extractfile(m).read()  # type: ignore[union-attr]
    return out


def ours(data: bytes) -> list[tuple[str, dict[str, Any], str | None]]:
    """Index the tar, then read every sample it found: (key, members, problem)."""
    records = list(scan_samples(TarReader(io.BytesIO(data), size=len(data))))
    keys = [r.key for r in records]
    offsets = [r.offset for r in records]
    tar = TarReader(io.BytesIO(data), size=len(data))
    return [
        (keys[i], members, None if problem is None else problem.reason)
        for i, members, problem in walk_samples(tar, keys, offsets)
    ]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_formats_and_long_names(fmt: int) -> None:
    buf = io.BytesIO()
    long_dir = "d" * 120 if fmt != tarfile.USTAR_FORMAT else "dir"
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for i in range(3):
            for ext, data in (("jpg", bytes([i]) * (700 + i)), ("seg.png", b"x" * i)):
                info = tarfile.TarInfo(f"{long_dir}/k{i}.{ext}")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    got = ours(data)
    assert [(k, m) for k, m, _ in got] == stdlib_samples(data)
    assert [k for k, _, _ in got] == [f"{long_dir}/k{i}" for i in range(3)]
    assert all(p is None for _, _, p in got)


def test_a_directory_member_is_reported_not_dropped() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("somedir")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
        info = tarfile.TarInfo("k0.jpg")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    got = ours(buf.getvalue())
    assert [k for k, _, _ in got] == ["bad-name-at-byte-0", "k0"]
    assert got[0][2] is not None and "is a directory, not a regular file" in got[0][2]
    assert got[1][1] == {"jpg": b"abc"} and got[1][2] is None


def test_real_shard_and_truncation_points() -> None:
    data = (REALDATA / "webdataset" / "bccd-000001.tar").read_bytes()
    whole = [(k, m) for k, m, _ in ours(data)]
    assert whole == stdlib_samples(data) and len(whole) == 8
    records = list(scan_samples(TarReader(io.BytesIO(data))))
    for cut in (100, 512, 513, 30_000, 120_000, len(data) - 20_000):
        tar = TarReader(io.BytesIO(data[:cut]))
        got = []
        with pytest.raises(Truncated) as err:
            for i, r in enumerate(records):
                end = records[i + 1].offset if i + 1 < len(records) else None
                members, problem = read_sample(tar, r.key, end)
                assert problem is None
                got.append((r.key, members))
        assert err.value.pos == cut
        assert got == whole[: len(got)]  # complete samples only, in order
    corrupt = bytearray(data)
    corrupt[5] ^= 0xFF
    with pytest.raises(BadHeader, match="checksum"):
        TarReader(io.BytesIO(bytes(corrupt))).next()
