"""The shard writer on hostile use: names past USTAR's 100 bytes (the prefix field), a name
too long for any split, closing twice, an exception inside ``with``: each is one message
naming the sample or shard, and no ``.partial`` file is left behind."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from visiondata.loaders.shards.writer import SampleError, ShardWriter

from .convert_fakes import image_bytes


def test_a_long_key_with_folders_uses_the_ustar_prefix_and_reads_back(tmp_path: Path) -> None:
    key = "a" * 90 + "/" + "b" * 95  # the member name is 190 bytes: prefix 90, name 99
    jpg = image_bytes(0)
    with ShardWriter(tmp_path / "s.tar") as writer:
        writer.write(key, {"jpg": jpg, "cls": b"3"}, 3)
        writer.write("short", {"cls": b"1"}, 1)
        assert writer.num_samples == 2
        info = writer.close()
    with tarfile.open(tmp_path / "s.tar") as tar:
        names = tar.getnames()
        got = tar.extractfile(f"{key}.jpg")
        assert got is not None and got.read() == jpg
    assert names == [f"{key}.cls", f"{key}.jpg", "short.cls"]
    assert info.keys == [key, "short"] and info.labels == [3, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tar"]


def test_a_name_no_ustar_split_fits_is_refused_naming_it(tmp_path: Path) -> None:
    key = "a" * 160 + "/" + "b" * 20  # 160 bytes before the only '/': over 155
    with ShardWriter(tmp_path / "s.tar") as writer:
        with pytest.raises(SampleError) as err:
            writer.write(key, {"jpg": b"x"})
        writer.abort()
    assert str(err.value) == (
        f"member name '{key}.jpg' is too long for a USTAR tar (at most 100 bytes after the "
        "last '/' and 155 before it)"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_sample_refused_for_its_name_is_not_in_the_index(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path / "s.tar")
    writer.write("good", {"cls": b"0"})
    with pytest.raises(SampleError, match="too long for a USTAR tar"):
        writer.write("d" * 120, {"cls": b"1"})
    info = writer.close()
    assert info.keys == ["good"]  # the refused sample wrote no bytes
    with tarfile.open(tmp_path / "s.tar") as tar:
        assert tar.getnames() == ["good.cls"]


def test_closing_twice_names_the_shard_and_keeps_the_file(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path / "s.tar")
    writer.write("k", {"txt": b"hello"})
    info = writer.close()
    with pytest.raises(RuntimeError) as err:
        writer.close()
    assert str(err.value) == f"shard {tmp_path / 's.tar'} is already closed"
    assert (tmp_path / "s.tar").stat().st_size == info.bytes  # the closed shard is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tar"]


def test_an_error_inside_with_discards_the_partial_shard(tmp_path: Path) -> None:
    with pytest.raises(SampleError) as err, ShardWriter(tmp_path / "s.tar") as writer:
        writer.write("k", {"txt": b"hello"})
        writer.write("k", {"txt": b"again"})
    assert str(err.value) == "duplicate sample key 'k' in shard s.tar"
    assert list(tmp_path.iterdir()) == []  # neither s.tar nor s.tar.partial
