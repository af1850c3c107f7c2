"""The shard writer: same bytes as Python's tarfile would write, offsets, checksum, key rules."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from visiondata.loaders.shards.writer import SampleError, ShardWriter

KEY = st.from_regex(r"[A-Za-z0-9_-]{1,20}(/[A-Za-z0-9_-]{1,20}){0,2}", fullmatch=True)
MEMBERS = st.dictionaries(
    st.sampled_from(["jpg", "cls", "json", "seg.png", "txt"]),
    st.binary(max_size=3000),
    min_size=1,
    max_size=3,
)


def _tarfile_bytes(samples: list[tuple[str, dict[str, bytes]]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, members in samples:
            for ext in sorted(members):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size, info.mtime, info.mode, info.uid, info.gid = (
                    len(members[ext]),
                    0,
                    0o444,
                    0,
                    0,
                )
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(members[ext]))
    return buf.getvalue()


@settings(max_examples=40, deadline=None)
@given(samples=st.lists(st.tuples(KEY, MEMBERS), max_size=6, unique_by=lambda s: s[0]))
def test_bytes_equal_tarfile_and_index_is_right(
    tmp_path_factory: pytest.TempPathFactory, samples: list[tuple[str, dict[str, bytes]]]
) -> None:
    path = tmp_path_factory.mktemp("w") / "s.tar"
    writer = ShardWriter(path)
    for key, members in samples:
        writer.write(key, members)
    info = writer.close()
    data = path.read_bytes()
    assert data == _tarfile_bytes(samples)
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.bytes == len(data)
    with tarfile.open(path) as tar:
        firsts = {}
        for m in tar.getmembers():
            firsts.setdefault(m.name.split(".", 1)[0], m.offset)
    assert info.offsets == [firsts[k] for k, _ in samples]


def test_key_rules_and_abort(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path / "s.tar")
    writer.write("a", {"jpg": b"1"})
    for key, members, message in [
        ("a", {"jpg": b"2"}, "duplicate sample key 'a'"),
        ("../etc", {"jpg": b""}, "is not valid"),
        ("x.y", {"jpg": b""}, "no dots"),
        ("b", {}, "has no members"),
        ("c", {"JPG": b""}, "is not lowercase"),
        ("d" * 120, {"jpg": b""}, "too long for a USTAR tar"),
    ]:
        with pytest.raises(SampleError, match=message):
            writer.write(key, members)
    writer.abort()
    assert list(tmp_path.iterdir()) == []
