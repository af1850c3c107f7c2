"""The streaming tar reader agrees with the standard library, and reports breaks precisely."""

from __future__ import annotations

import io
import tarfile

import pytest
from visiondata.loaders.shards.tar import BadHeader, TarStream, Truncated, iter_samples

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


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_formats_and_long_names(fmt: int) -> None:
    buf = io.BytesIO()
    long_dir = "d" * 120 if fmt != tarfile.USTAR_FORMAT else "dir"
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        info = tarfile.TarInfo("somedir")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
        for i in range(3):
            for ext, data in (("jpg", bytes([i]) * (700 + i)), ("seg.png", b"x" * i)):
                info = tarfile.TarInfo(f"{long_dir}/k{i}.{ext}")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    ours = [(k, m) for k, m, _ in iter_samples(TarStream(io.BytesIO(data)))]
    assert ours == stdlib_samples(data)
    assert [k for k, _ in ours] == [f"{long_dir}/k{i}" for i in range(3)]


def test_real_shard_and_truncation_points() -> None:
    data = (REALDATA / "webdataset" / "bccd-000001.tar").read_bytes()
    whole = [(k, m) for k, m, _ in iter_samples(TarStream(io.BytesIO(data)))]
    assert whole == stdlib_samples(data) and len(whole) == 8
    for cut in (100, 512, 513, 30_000, 120_000, len(data) - 20_000):
        got = []
        with pytest.raises(Truncated) as err:
            for k, m, _ in iter_samples(TarStream(io.BytesIO(data[:cut]))):
                got.append((k, m))
        assert err.value.pos == cut
        assert got == whole[: len(got)]  # complete samples only, in order
    corrupt = bytearray(data)
    corrupt[5] ^= 0xFF
    with pytest.raises(BadHeader, match="checksum"):
        list(iter_samples(TarStream(io.BytesIO(bytes(corrupt)))))
