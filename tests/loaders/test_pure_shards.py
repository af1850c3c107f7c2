"""The shard layer's pure parts (member naming and limits, manifest parsing) against
expectations written out by hand; also the targeted tests of ``bash .ci/mutation``."""

from __future__ import annotations

import dataclasses
import gzip
import io
import itertools
import json
import os
import zlib
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders.errors import ManifestError, SourceError, UnsafeURLError
from visiondata.loaders.shards import manifest as mf
from visiondata.loaders.shards import members, tar
from visiondata.loaders.shards import sources as src
from visiondata.loaders.shards.members import (
    DEFAULT_LIMITS,
    IMAGE_EXTENSIONS,
    KINDS,
    MASK_EXTENSIONS,
    MAX_MEMBER_BYTES,
    MAX_PIXELS,
    PICKLE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Limits,
    image_field,
    is_gzip,
    kind_of,
    name_problem,
    split_name,
)
from visiondata.loaders.shards.remote import RemoteOptions

from .crafted import BLOCK, END, header, member, pad, pax, pax_record, tar_of


class TestMembers:
    def test_kind_of(self) -> None:
        assert kind_of("jpg") == kind_of("JPEG") == kind_of("left.jpg") == "image"
        assert kind_of("seg.png") == kind_of("MASK.PNG") == "mask"
        assert kind_of("png") == "image" and kind_of("x.seg.png") == "image"
        assert kind_of("mp4") == "video" and kind_of("json") == "json" and kind_of("cls") == "cls"
        assert kind_of("txt") == kind_of("text") == "text" and kind_of("npy") == "npy"
        assert kind_of("pyd") == kind_of("pkl") == kind_of("pickle") == "pickle"
        assert kind_of("pth") == kind_of("pt") == "torch"
        assert kind_of("xyz") == kind_of("") == kind_of("a.b.xyz") == "bytes"

    def test_extension_sets(self) -> None:
        images = {"jpg", "jpeg", "jpe", "png", "webp", "bmp", "gif", "tif", "tiff", "ppm", "pgm"}
        assert images | {"pbm"} == IMAGE_EXTENSIONS
        assert "seg.png" not in IMAGE_EXTENSIONS and "mp4" not in IMAGE_EXTENSIONS
        assert {"seg.png", "mask.png", "label.png", "labels.png"} == MASK_EXTENSIONS
        assert {"mp4", "avi", "webm", "mkv", "mov", "m4v", "mpg", "mpeg"} == VIDEO_EXTENSIONS
        assert {"pyd", "pickle", "pkl", "pth", "pt"} == PICKLE_EXTENSIONS
        assert set(KINDS) == {
            "image",
            "mask",
            "video",
            "json",
            "cls",
            "text",
            "npy",
            "pickle",
            "torch",
            "bytes",
        }

    def test_image_field(self) -> None:
        assert image_field(["cls", "seg.png", "left.jpg", "png"]) == "left.jpg"
        assert image_field(["cls", "json"]) is None
        assert image_field([]) is None

    def test_is_gzip(self) -> None:
        assert is_gzip("a/b.tar.gz") and is_gzip("B.TGZ") and is_gzip("s3://x/y.tar.gz/")
        assert not is_gzip("a.tar") and not is_gzip("a.gz.tar") and not is_gzip("gz")

    def test_split_name(self) -> None:
        assert split_name("dir/0001.seg.PNG") == ("dir/0001", "seg.png")
        assert split_name("a.b/c.jpg") == ("a.b/c", "jpg")
        assert split_name("a.b/c") == ("a.b/c", "")
        assert split_name("noext") == ("noext", "")
        assert split_name(".jpg") == ("", "jpg")
        assert split_name("x.") == ("x", "")

    @pytest.mark.parametrize(
        ("name", "problem"),
        [
            ("", "has an empty name"),
            ("/etc/passwd.txt", "has an absolute name"),
            ("../x.jpg", "has a '..' component in its name"),
            ("a/../../x.jpg", "has a '..' component in its name"),
            ("a/b\0.jpg", "has a NUL byte in its name"),
            (".jpg", "has a name that is only an extension (no sample key)"),
            ("dir/.jpg", "has a name that is only an extension (no sample key)"),
            ("dir/0001", "has no extension (no field name)"),
            ("dir/0001.", "has no extension (no field name)"),
        ],
    )
    def test_name_problem(self, name: str, problem: str) -> None:
        assert name_problem(name) == problem

    @pytest.mark.parametrize("name", ["a.jpg", "dir/0001.seg.png", "a..b/c.jpg", "x/a..cls"])
    def test_good_names(self, name: str) -> None:
        assert name_problem(name) is None

    def test_limits(self) -> None:
        assert MAX_MEMBER_BYTES == 1073741824 and MAX_PIXELS == 89_478_485
        assert Limits(1073741824, 89_478_485, 1048576) == DEFAULT_LIMITS
        assert Limits().max_header_bytes == 1048576
        with pytest.raises(dataclasses.FrozenInstanceError):
            DEFAULT_LIMITS.max_pixels = 1  # type: ignore[misc]  # shared by every reader


def _l(a: Any) -> list[int]:
    return [int(x) for x in a]


def _shard(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "s-000000.tar",
        "num_samples": 2,
        "bytes": 2048,
        "sha256": "a" * 64,
        "keys": ["k0", "k1"],
        "offsets": [0, 1024],
    }
    return base | over


def _manifest(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "format": "visiondata.manifest",
        "version": 2,
        "converter": {"name": "t", "version": "1"},
        "fields": {"jpg": "image"},
        "splits": {"train": {"num_samples": 2, "shards": [_shard()]}},
    }
    return base | over


def _parse(data: Any) -> mf.Manifest:
    return mf.parse_manifest(json.dumps(data), "M")


def _error(data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(ManifestError) as info:
        mf.parse_manifest(text, "M")
    return str(info.value)


class TestManifest:
    def test_constants(self) -> None:
        assert (mf.FORMAT, mf.VERSION, mf.READ_VERSIONS) == ("visiondata.manifest", 2, (1, 2))
        assert mf.MANIFEST_NAME == "manifest.json"
        assert mf.library_version() != "0+unknown"

    def test_valid(self) -> None:
        m = _parse(_manifest())
        assert m.splits["train"].shards[0].keys == ["k0", "k1"] and m.base is None
        assert m.split("train").num_samples == 2
        assert _parse(_manifest(version=1)).version == 1

    def test_shard_consistency(self) -> None:
        one = {"train": {"num_samples": 2, "shards": [_shard(keys=["k0"])]}}
        assert _error(_manifest(splits=one)) == (
            "M: invalid manifest at splits.train.shards.0: Value error, shard s-000000.tar: "
            "num_samples is 2 but 1 keys and 2 offsets are listed"
        )
        offs = {"train": {"num_samples": 2, "shards": [_shard(offsets=[0])]}}
        assert "but 2 keys and 1 offsets are listed" in _error(_manifest(splits=offs))
        labels = {"train": {"num_samples": 2, "shards": [_shard(labels=[1])]}}
        assert "shard s-000000.tar: 1 labels for 2 samples" in _error(_manifest(splits=labels))
        ok = {"train": {"num_samples": 2, "shards": [_shard(labels=[1, None])]}}
        assert _parse(_manifest(splits=ok)).splits["train"].shards[0].labels == [1, None]
        for offsets in ([0, 0], [5, 3]):
            bad = {"train": {"num_samples": 2, "shards": [_shard(offsets=offsets)]}}
            assert "offsets are not strictly increasing" in _error(_manifest(splits=bad))
        three = _shard(num_samples=3, keys=["a", "b", "c"], offsets=[0, 512, 1024])
        assert _parse(_manifest(splits={"t": {"num_samples": 3, "shards": [three]}}))
        for offsets in ([0, 700], [-512, 0]):  # between tar blocks; before the file
            bad = {"train": {"num_samples": 2, "shards": [_shard(offsets=offsets)]}}
            assert _error(_manifest(splits=bad)).endswith(
                f"shard s-000000.tar: offset {offsets[1] if offsets[0] == 0 else offsets[0]} is "
                "not at a tar block boundary (a multiple of 512)"
            )

    def test_split_sum(self) -> None:
        bad = {"train": {"num_samples": 3, "shards": [_shard()]}}
        assert _error(_manifest(splits=bad)).endswith(
            "splits.train: Value error, num_samples is 3 but the shards hold 2"
        )
        two = {"train": {"num_samples": 4, "shards": [_shard(), _shard(name="b.tar")]}}
        assert _parse(_manifest(splits=two)).splits["train"].num_samples == 4

    def test_whole_manifest_rules(self) -> None:
        assert _error(_manifest(version=3)) == (
            "M: invalid manifest: manifest version 3 is not supported (this visiondata reads "
            "versions 1, 2; a newer one may need a newer visiondata)"
        )
        assert _error(_manifest(version=1, base="x")) == (
            "M: invalid manifest: base and source_split need manifest version 2"
        )
        src = {"train": {"num_samples": 2, "shards": [_shard()], "source_split": "tr"}}
        assert "need manifest version 2" in _error(_manifest(version=1, splits=src))
        assert _parse(_manifest(version=2, base="x", splits=src)).base == "x"
        assert _parse(_manifest(version=1, splits={})).version == 1

    def test_not_a_manifest_echoes_nothing(self) -> None:
        expected = (
            'M: is not a manifest (expected a JSON object with "format": "visiondata.manifest")'
        )
        assert _error({"secret": "hunter2"}) == expected
        assert _error([1, 2]) == expected
        assert _error(_manifest(format="other")) == expected
        assert _error("{not json") == "M: is not a manifest (not valid JSON)"

    def test_claimed_manifest_names_the_field(self) -> None:
        assert _error(_manifest(fields=[1])) == (
            "M: invalid manifest at fields: Input should be an object"
        )
        assert (
            _error(_manifest(extra=1))
            == "M: invalid manifest at extra: Extra inputs are not permitted"
        )
        bad = {"train": {"num_samples": 2, "shards": [_shard(sha256="xyz")]}}
        assert _error(_manifest(splits=bad)).startswith(
            "M: invalid manifest at splits.train.shards.0.sha256: String should match pattern"
        )
        neg = {"train": {"num_samples": -1, "shards": []}}
        assert "at splits.train.num_samples: Input should be greater than or equal to 0" in (
            _error(_manifest(splits=neg))
        )

    def test_split_name_lookup(self) -> None:
        info = {"num_samples": 2, "shards": [_shard()]}
        m = _parse(
            _manifest(splits={"train": info, "validation": info | {"source_split": "val2017"}})
        )
        assert m.split_name("train") == "train"
        assert m.split_name("val2017") == "validation"
        assert m.split_name("val") == "validation"
        with pytest.raises(
            ManifestError,
            match=r"^split 'test' is not in the manifest \(have: train, validation\)$",
        ):
            m.split_name("test")
        empty = _parse(_manifest(splits={}))
        with pytest.raises(ManifestError, match=r"\(have: none\)"):
            empty.split_name("train")
        old = _parse(_manifest(version=1, splits={"val2017": info}))
        assert old.split_name("validation") == "val2017"

    def test_counts_must_match_both_ways(self) -> None:
        def err(**shard: Any) -> str:
            n = shard.get("num_samples", 2)
            return _error(_manifest(splits={"t": {"num_samples": n, "shards": [_shard(**shard)]}}))

        assert "num_samples is 2 but 3 keys and 2 offsets are listed" in err(keys=["a", "b", "c"])
        assert "num_samples is 2 but 2 keys and 3 offsets are listed" in err(offsets=[0, 1, 2])
        assert "shard s-000000.tar: 3 labels for 2 samples" in err(labels=[1, 2, 3])
        over = {"t": {"num_samples": 1, "shards": [_shard()]}}
        assert _error(_manifest(splits=over)).endswith("num_samples is 1 but the shards hold 2")
        # counts past CPython's small-int cache compare by value
        big = _shard(
            num_samples=300,
            keys=[f"k{i}" for i in range(300)],
            offsets=[512 * i for i in range(300)],
            labels=[0] * 300,
        )
        two = _parse(_manifest(splits={"t": {"num_samples": 600, "shards": [big, big]}}))
        assert two.splits["t"].num_samples == 600
        empty = _shard(num_samples=0, bytes=0, keys=[], offsets=[])
        assert _parse(_manifest(splits={"t": {"num_samples": 0, "shards": [empty]}}))

    def test_negative_counts_are_field_errors(self) -> None:
        for field in ("num_samples", "bytes"):
            bad = {"t": {"num_samples": 2, "shards": [_shard(**{field: -1})]}}
            assert _error(_manifest(splits=bad)) == (
                f"M: invalid manifest at splits.t.shards.0.{field}: "
                "Input should be greater than or equal to 0"
            )

    def test_the_first_error_is_named(self) -> None:
        data = _manifest(fields=[1])
        del data["converter"]
        assert _error(data) == "M: invalid manifest at converter: Field required"

    def test_only_the_format_is_a_manifest(self) -> None:
        expected = (
            'M: is not a manifest (expected a JSON object with "format": "visiondata.manifest")'
        )
        assert _error(_manifest(format="zzz")) == expected
        assert _error([{"format": "visiondata.manifest"}]) == expected  # claims it, not an object

    def test_split_lookup_by_source_and_official_names(self) -> None:
        info = {"num_samples": 2, "shards": [_shard()]}
        own = _parse(_manifest(splits={"a": info, "b": info | {"source_split": "heldout-b"}}))
        assert own.split_name("heldout-b") == "b"
        years = _parse(_manifest(version=1, splits={"train2014": info, "val2014": info}))
        assert years.split_name("validation") == "val2014"
        assert years.split_name("train") == "train2014"
        assert years.split_name("dev") == "val2014"
        aliased = _parse(_manifest(splits={"val": info, "validation": info}))
        assert aliased.split_name("dev") == "validation"  # the official name first, not ambiguous
        both = _parse(_manifest(version=1, splits={"val2014": info, "val2017": info}))
        with pytest.raises(ManifestError, match=r"^split 'validation' is not in the manifest"):
            both.split_name("validation")  # two candidates: ambiguous, not the first

    def test_library_version_of_a_bare_checkout(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from importlib import metadata

        def missing(name: str) -> str:
            raise metadata.PackageNotFoundError(name)

        monkeypatch.setattr(metadata, "version", missing)
        assert mf.library_version() == "0+unknown"

    def test_read_and_write(self, tmp_path: Path) -> None:
        m = _parse(_manifest())
        path = mf.write_manifest(m, tmp_path / "out" / "deeper")
        assert path == tmp_path / "out" / "deeper" / "manifest.json"
        path = mf.write_manifest(m, tmp_path / "out")  # into a folder that exists: replaced
        assert mf.write_manifest(m, tmp_path / "out") == tmp_path / "out" / "manifest.json"
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n") and text.startswith('{\n "format": "visiondata.manifest"')
        assert mf.read_manifest(tmp_path / "out") == m == mf.read_manifest(path)
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["deeper", "manifest.json"]
        (tmp_path / "dir" / "manifest.json").mkdir(parents=True)
        with pytest.raises(ManifestError) as info:
            mf.read_manifest(tmp_path / "dir")
        assert (
            str(info.value) == f"{tmp_path}/dir/manifest.json: cannot read manifest: Is a directory"
        )
        with pytest.raises(ManifestError, match=r"nope/manifest.json: no such manifest$"):
            mf.read_manifest(tmp_path / "nope" / "manifest.json")
        (tmp_path / "bin.json").write_bytes(b"\xff\xfe")
        with pytest.raises(ManifestError, match=r"bin.json: is not a manifest \(not UTF-8 text\)$"):
            mf.read_manifest(tmp_path / "bin.json")
        if os.geteuid() != 0:
            locked = tmp_path / "locked.json"
            locked.write_text("{}")
            locked.chmod(0)
            with pytest.raises(ManifestError, match="cannot read manifest"):
                mf.read_manifest(locked)

    def test_write_leaves_no_temp_file_on_failure(self, tmp_path: Path) -> None:
        m = _parse(_manifest())
        (tmp_path / "manifest.json").mkdir()  # os.replace onto a folder fails
        with pytest.raises(OSError):
            mf.write_manifest(m, tmp_path)
        assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def _reader(data: bytes, **kw: Any) -> tar.TarReader:
    return tar.TarReader(io.BytesIO(data), **kw)


def _entries(data: bytes, **kw: Any) -> list[tar.Entry]:
    r = _reader(data, **kw)
    out = []
    while (e := r.next()) is not None:
        out.append(e)
    return out


def _header_sum(h: bytearray, *, signed: bool = False) -> int:
    """The checksum of header ``h`` (its checksum field counted as spaces), its bytes summed
    unsigned or, as some old tars do, signed."""
    rest = h[:148] + h[156:]
    return 8 * 32 + sum(b - 256 if signed and b > 127 else b for b in rest)


def _with_checksum(h: bytearray, fmt: bytes = b"%06o\0 ", *, signed: bool = False) -> bytes:
    """``h`` with its checksum field rewritten in ``fmt`` (unsigned or signed byte sum)."""
    h[148:156] = fmt % _header_sum(h, signed=signed)
    return bytes(h)


class TestTar:
    def test_numbers(self) -> None:
        assert tar._number(b"0000644\0", 0, "mode") == 420
        assert tar._number(b"", 0, "size") == tar._number(b"\0\0\0", 0, "size") == 0
        assert tar._number(b"  12 \0", 0, "size") == 10
        assert tar._number(b"\x80" + (5).to_bytes(11, "big"), 0, "size") == 5
        with pytest.raises(tar.BadHeader, match=r"^the size field at byte 7 is a negative base"):
            tar._number(b"\xff" * 12, 7, "size")
        with pytest.raises(tar.BadHeader) as info:
            tar._number(b"12x\0", 9, "size")
        assert str(info.value) == "the size field at byte 9 is not an octal number (b'12x')"
        assert info.value.pos == info.value.start == 9

    def test_checksums(self) -> None:
        assert tar._checksum_ok(header("a.jpg", 3), 0)
        assert not tar._checksum_ok(header("a.jpg", 3, bad_checksum=True), 0)
        h = bytearray(header("a.jpg", 3))
        h[148:156] = b"zzzzzzz\0"
        assert not tar._checksum_ok(bytes(h), 0)
        # a signed-byte checksum (old tars): name bytes above 127 summed as negative
        s = bytearray(header(b"\xe9\xe9.jpg", 3))
        assert tar._checksum_ok(_with_checksum(s, signed=True), 0)

    def test_pax_records(self) -> None:
        recs = pax_record("path", "a/b.jpg") + pax_record("size", "12")
        assert tar.parse_pax(recs, 1 << 20) == {"path": "a/b.jpg", "size": "12"}
        assert tar.parse_pax(recs + bytes(30), 1 << 20) == {"path": "a/b.jpg", "size": "12"}
        assert tar.parse_pax(b"", 10) == {}
        assert tar.parse_pax(b"5 a=\n", 5) == {"a": ""}  # the shortest record, at the limit
        assert tar.parse_pax(b"7 a=b=\n", 7) == {"a": "b="}

    @pytest.mark.parametrize(
        ("data", "limit", "message"),
        [
            (b"x path=a\n", 99, "record at offset 0 does not start with its length"),
            (b"path=a\n", 99, "record at offset 0 does not start with its length"),
            (b"5 a=\n", 4, "record at offset 0 declares an absurd length 5"),
            (b"4 =\n", 99, "record at offset 0 declares an absurd length 4"),
            (b"9 a=b\n", 99, "record at offset 0 declares an absurd length 9"),
            (b"6 a=b\n6 abcd", 99, "record at offset 6 is not 'key=value\\n'"),
            (b"6 abcd", 99, "record at offset 0 is not 'key=value\\n'"),
            (b"6 a=bc", 99, "record at offset 0 is not 'key=value\\n'"),  # no newline
            (b"7 a\xff=b\n", 99, "record at offset 0 is not UTF-8"),
            (b"7 a=\xffb\n", 99, "record at offset 0 is not UTF-8"),
            # the length is looked for in the first 21 bytes: 20 digits are read, 21 are not
            (b"0" * 19 + b"9 a=b\n", 99, "record at offset 0 declares an absurd length 9"),
            (b"0" * 20 + b"9 a=b\n", 99, "record at offset 0 does not start with its length"),
        ],
    )
    def test_pax_errors(self, data: bytes, limit: int, message: str) -> None:
        with pytest.raises(ValueError) as info:
            tar.parse_pax(data, limit)
        assert str(info.value) == message

    def test_padded(self) -> None:
        assert [tar._padded(n) for n in (0, 1, 511, 512, 513)] == [0, 512, 512, 512, 1024]

    def test_members_with_offsets(self) -> None:
        data = tar_of(member("a.cls", b"1"), member("a.jpg", b"xyz"))
        r = _reader(data)
        assert r.next() == tar.Entry("a.cls", 0, 512, 1, "file", b"1", None)
        assert r.next() == tar.Entry("a.jpg", 1024, 1536, 3, "file", b"xyz", None)
        assert r.next() is None and r.pos == 2560  # after one zero block
        no_end = member("a.cls", b"1")  # ends on a member boundary: a clean end too
        assert [e.name for e in _entries(no_end)] == ["a.cls"]
        later = _reader(member("b.cls", b"22"), offset=4096).next()
        assert later is not None and (later.offset, later.data_offset) == (4096, 4608)

    def test_truncation(self) -> None:
        data = member("a.cls", b"1") + member("a.jpg", bytes(700))
        r = _reader(data[: 1536 + 100])
        r.next()
        with pytest.raises(tar.Truncated) as info:
            r.next()
        assert str(info.value) == "the stream ends at byte 1636 inside member 'a.jpg'"
        assert (info.value.pos, info.value.start, info.value.name) == (1636, 1024, "a.jpg")
        with pytest.raises(
            tar.Truncated, match=r"^the stream ends at byte 100 inside a tar header"
        ):
            _reader(data[:100]).next()

    def test_bad_header_and_resync(self) -> None:
        data = tar_of(
            member("a.cls", b"1"), header("b.jpg", 1, bad_checksum=True), member("c.cls", b"3")
        )
        r = _reader(data)
        r.next()
        with pytest.raises(tar.BadHeader) as info:
            r.next()
        assert (
            str(info.value)
            == "no valid tar header at byte 1024: the header checksum does not match"
        )
        assert r.resync() and r.pos == 1536
        assert r.next() == tar.Entry("c.cls", 1536, 2048, 1, "file", b"3", None)
        assert not r.resync()
        assert not _reader(bytes(100)).resync()  # truncated: nothing to find

    def test_sizes_are_bounded_before_reading(self) -> None:
        data = member("a.cls", b"1") + header("b.jpg", 5000) + bytes(512)
        r = _reader(data, size=len(data))
        r.next()
        with pytest.raises(tar.Overrun) as info:
            r.next()
        assert str(info.value) == (
            "the header at byte 1024 declares 5,000 bytes of data, but the file ends at byte 2048"
        )
        r2 = _reader(data)
        r2.next()
        with pytest.raises(
            tar.BadHeader, match=r"would run past byte 1600 where this sample ends$"
        ):
            r2.next(end=1600)
        exact = member("a.cls", b"1")
        assert _reader(exact, size=len(exact)).next() is not None  # ends exactly at the file's end

    def test_pax_and_long_names(self) -> None:
        long = "d/" + "x" * 150 + ".jpg"
        gnu = header("././@LongLink", len(long) + 1, b"L") + pad(long.encode() + b"\0")
        data = tar_of(
            pax(pax_record("path", "p.jpg")) + member("IGNORED", b"1"),
            gnu + member("short", b"2"),
            pax(pax_record("size", "3")) + header("s.cls", 0) + pad(b"abc"),
            member("after.cls", b"4"),
        )
        got = [(e.name, e.data) for e in _entries(data)]
        assert got == [("p.jpg", b"1"), (long, b"2"), ("s.cls", b"abc"), ("after.cls", b"4")]
        glob = pax(pax_record("comment", "x"), b"g") + member("g.cls", b"1")
        assert [e.name for e in _entries(glob)] == ["g.cls"]
        gpath = pax(pax_record("path", "same.cls"), b"g")
        assert [
            e.name for e in _entries(gpath + member("a.cls", b"1") + member("b.cls", b"2"))
        ] == [
            "same.cls",
            "same.cls",
        ]
        link = header("././@LongLink", 5, b"K") + pad(b"dest\0")
        assert [e.name for e in _entries(link + member("k.cls", b"1"))] == ["k.cls"]

    def test_extended_header_problems(self) -> None:
        (e,) = _entries(pax(b"x path=a\n") + member("b.jpg", b"1"))
        assert str(e.problem) == (
            "member 'b.jpg' at byte 0 has a pax header at byte 0 that is not valid: "
            "record at offset 0 does not start with its length"
        )
        assert isinstance(e.problem, tar.TarFormatError) and e.data is None
        (e,) = _entries(pax(pax_record("size", "1x")) + member("b.jpg", b"1"))
        assert str(e.problem).endswith("has a pax size record '1x' that is not a number")
        bad = header("././@LongLink", 3, b"L") + pad(b"\xff\xfe\0")
        (e,) = _entries(bad + member("b.jpg", b"1"))
        assert str(e.problem).endswith("has a GNU long name that is not UTF-8")
        small = members.Limits(max_header_bytes=10)
        with pytest.raises(tar.BadHeader) as info:
            _entries(pax(pax_record("path", "abcdefgh.jpg")) + member("b.jpg", b"1"), limits=small)
        assert str(info.value) == (
            "the extended header at byte 0 declares 21 bytes, above the limit of 10"
        )
        ok = members.Limits(max_header_bytes=21)
        assert [e.name for e in _entries(pax(pax_record("path", "abcdefgh.jpg")), limits=ok)] == []

    @pytest.mark.parametrize(
        ("flag", "kind"),
        [
            (b"1", "hard link"),
            (b"2", "symbolic link"),
            (b"3", "character device"),
            (b"4", "block device"),
            (b"5", "directory"),
            (b"6", "fifo"),
            (b"S", "GNU sparse file"),
            (b"V", "volume label"),
            (b"M", "multi-volume continuation"),
            (b"Z", "member of unknown type b'Z'"),
        ],
    )
    def test_other_kinds_are_refused_and_skipped(self, flag: bytes, kind: str) -> None:
        entries = _entries(tar_of(member("a.jpg", b"data", flag), member("b.cls", b"1")))
        assert [(e.kind, e.data) for e in entries] == [(kind, None), ("file", b"1")]
        assert (
            str(entries[0].problem) == f"member 'a.jpg' at byte 0 is a {kind}, not a regular file"
        )
        assert isinstance(entries[0].problem, tar.UnsafeMemberError)

    def test_regular_flags_and_names(self) -> None:
        for flag in (b"0", b"\0", b"7"):
            (e,) = _entries(member("a.jpg", b"1", flag))
            assert e.kind == "file" and e.data == b"1"
        (d,) = _entries(member("dir/", b"", b"0"))
        assert d.kind == "directory"
        (c,) = _entries(member("dir/", b"", b"7"))  # contiguous file flag: not a directory
        assert c.kind == "file" and str(c.problem).endswith("is only an extension (no sample key)")
        sparse = pax(pax_record("GNU.sparse.major", "1")) + member("s.jpg", b"1")
        assert _entries(sparse)[0].kind == "GNU sparse file"
        (p,) = _entries(member("a.jpg", b"1", prefix=b"dir"))
        assert p.name == "dir/a.jpg"
        (g,) = _entries(member("a.jpg", b"1", prefix=b"dir", magic=b"ustar  \0"))
        assert g.name == "a.jpg"  # the prefix field is POSIX's only
        (u,) = _entries(member(b"\xff.jpg", b"1"))
        assert str(u.problem) == "member '\ufffd.jpg' at byte 0 has a name that is not UTF-8"
        (t,) = _entries(member("../x.jpg", b"1"))
        assert str(t.problem) == "member '../x.jpg' at byte 0 has a '..' component in its name"

    def test_member_size_limit(self) -> None:
        lim = members.Limits(max_member_bytes=3)
        entries = _entries(
            tar_of(member("a.jpg", b"abc"), member("b.jpg", b"abcd"), member("c.cls", b"1")),
            limits=lim,
        )
        assert [e.data for e in entries] == [b"abc", None, b"1"]
        assert (
            str(entries[1].problem)
            == "member 'b.jpg' at byte 1024 is 4 bytes, above max_member_bytes=3"
        )
        assert isinstance(entries[1].problem, tar.MemberTooLargeError)

    def test_skip_to(self) -> None:
        data = tar_of(member("a.cls", b"1"), member("b.cls", b"2"))
        r = _reader(data)
        r.skip_to(1024)
        assert r.next() == tar.Entry("b.cls", 1024, 1536, 1, "file", b"2", None)
        r.skip_to(0)  # never backwards
        assert r.pos == 2048
        with pytest.raises(tar.Truncated, match="inside the bytes before byte 9999"):
            _reader(data).skip_to(9999)


class Trickle(io.RawIOBase):
    """A stream that hands out at most 7 bytes a read (as a socket or gzip may)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, n: int = -1, /) -> bytes:
        n = 7 if n < 0 else min(n, 7)
        out = self.data[self.at : self.at + n]
        self.at += len(out)
        return out


def _abc() -> tuple[bytes, list[int]]:
    parts = [
        member("a.cls", b"1") + member("a.jpg", b"A"),
        member("b.cls", b"2"),
        member("c.cls", b"3"),
    ]
    offsets = [0, len(parts[0]), len(parts[0]) + len(parts[1])]
    return tar_of(*parts), offsets


class TestTarSamples:
    def test_short_reads(self) -> None:
        data, offsets = _abc()
        whole = [(e.name, e.offset, e.data) for e in _entries(data)]
        r = tar.TarReader(Trickle(data))
        trickled = []
        while (e := r.next()) is not None:
            trickled.append((e.name, e.offset, e.data))
        assert trickled == whole and [n for n, _, _ in whole] == [
            "a.cls",
            "a.jpg",
            "b.cls",
            "c.cls",
        ]
        r = tar.TarReader(Trickle(data))
        r.skip_to(offsets[2])
        assert r.next() == tar.Entry("c.cls", 3072, 3584, 1, "file", b"3", None)

    def test_read_sample(self) -> None:
        data, offsets = _abc()
        r = _reader(data)
        assert tar.read_sample(r, "a", offsets[1]) == ({"cls": b"1", "jpg": b"A"}, None)
        members, problem = tar.read_sample(r, "x", offsets[2])
        assert members == {} and str(problem) == (
            "member 'b.cls' at byte 2048 does not belong to this sample (the manifest's keys "
            "or offsets do not match the tar)"
        )
        assert r.pos == offsets[2]  # in step for the next sample
        assert tar.read_sample(r, "c", None, lambda e: e.size) == ({"cls": 1}, None)
        members, problem = tar.read_sample(_reader(END), "z", None)
        assert str(problem) == "no member at byte 0: the archive ends before this sample"

    def test_read_sample_alone_stops_at_the_next_key(self) -> None:
        data, _ = _abc()
        r = _reader(data)
        assert tar.read_sample(r, "a", None, alone=True) == ({"cls": b"1", "jpg": b"A"}, None)
        _, problem = tar.read_sample(_reader(data), "a", None)  # not alone: b is a problem
        assert problem is not None and "does not belong to this sample" in str(problem)

    def test_read_sample_duplicates(self) -> None:
        twice = member("a.cls", b"1") + member("a.cls", b"2")
        members, problem = tar.read_sample(_reader(tar_of(twice)), "a", None)
        assert members == {"cls": b"1"}
        assert str(problem) == "member 'a.cls' appears twice in the sample (bytes 0 and 1024)"

    def test_scan_samples(self) -> None:
        data, offsets = _abc()
        got = [(s.key, s.offset, s.fields, s.problem) for s in tar.scan_samples(_reader(data))]
        assert got == [
            ("a", 0, {"cls": 1, "jpg": 1}, None),
            ("b", offsets[1], {"cls": 1}, None),
            ("c", offsets[2], {"cls": 1}, None),
        ]
        twice = tar_of(member("a.cls", b"1"), member("a.cls", b"2"), member("b.cls", b"3"))
        recs = list(tar.scan_samples(_reader(twice)))
        assert [(s.key, s.problem, s.error) for s in recs] == [
            (
                "a",
                "member 'a.cls' appears twice in the sample (byte 1024)",
                tar.DuplicateMemberError,
            ),
            ("b", None, None),
        ]
        bad = tar_of(member("../x.cls", b"1"), member("b.cls", b"3"))
        recs = list(tar.scan_samples(_reader(bad)))
        assert [s.key for s in recs] == ["bad-name-at-byte-0", "b"]
        assert recs[0].error is tar.UnsafeMemberError

    def test_walk_samples(self) -> None:
        data, offsets = _abc()
        got = list(tar.walk_samples(_reader(data), ["a", "b", "c"], offsets))
        assert got == [
            (0, {"cls": b"1", "jpg": b"A"}, None),
            (1, {"cls": b"2"}, None),
            (2, {"cls": b"3"}, None),
        ]
        dup = list(tar.walk_samples(_reader(data), ["a", "b", "c"], offsets, {2: 1}))
        assert str(dup[2][2]) == (
            "key 'c' appears twice in the shard (samples at bytes 2048 and 3072); the first one is kept"
        )
        cut = list(tar.walk_samples(_reader(data[:3100]), ["a", "b", "c", "d"], [*offsets, 4096]))
        assert [i for i, _, _ in cut] == [0, 1, 2, 3]
        assert cut[1][2] is None and isinstance(cut[2][2], tar.TruncatedShardError)
        assert str(cut[3][2]) == "lost: the shard cannot be read past byte 3100"


class Chunky(io.RawIOBase):
    """A stream whose first read is short (``first`` bytes; None: not short), then gives what
    is asked; ``sizes`` records what each read asked for."""

    def __init__(self, data: bytes, first: int | None = 100) -> None:
        self.data, self.at, self.first = data, 0, first
        self.sizes: list[int] = []

    def read(self, n: int = -1, /) -> bytes:
        self.sizes.append(n)
        if self.first is not None:
            n, self.first = min(n, self.first), None
        out = self.data[self.at : self.at + n]
        self.at += len(out)
        return out


class TestTarEdges:
    def test_a_short_first_read_of_a_header(self) -> None:
        data, _ = _abc()
        r = tar.TarReader(Chunky(data))
        assert [r.next().name for _ in range(4)] == ["a.cls", "a.jpg", "b.cls", "c.cls"]  # type: ignore[union-attr]

    def test_skip_to_from_inside(self) -> None:
        data, offsets = _abc()
        r = _reader(data)
        r.next()
        r.skip_to(offsets[1])
        assert r.next() == tar.Entry("b.cls", 2048, 2560, 1, "file", b"2", None)

    def test_a_checksum_below_the_sum_is_refused(self) -> None:
        h = bytearray(header("a.jpg", 3))
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\0 " % (sum(h) - 1)
        assert not tar._checksum_ok(bytes(h), 0)

    def test_v7_headers_have_no_prefix(self) -> None:
        (e,) = _entries(member("a.jpg", b"1", prefix=b"dir", magic=bytes(8)))
        assert e.name == "a.jpg"

    def test_a_gnu_long_link_leaves_the_next_member_alone(self) -> None:
        link = header("././@LongLink", 5, b"K") + pad(b"dest\0")
        (e,) = _entries(link + member("k.cls", b"1"))
        assert (e.name, e.data, e.problem) == ("k.cls", b"1", None)

    @pytest.mark.parametrize(("flag", "kind"), [(b"4", "block device"), (b"1", "hard link")])
    def test_a_trailing_slash_does_not_rename_other_kinds(self, flag: bytes, kind: str) -> None:
        (e,) = _entries(member("x/", b"", flag))
        assert e.kind == kind

    def test_a_sample_end_at_the_file_end_is_an_overrun(self) -> None:
        data = member("a.cls", b"1") + header("b.jpg", 5000) + bytes(512)
        r = _reader(data, size=len(data))
        r.next()
        with pytest.raises(tar.Overrun):
            r.next(end=int(str(len(data))))  # an equal int, not the same object

    def test_resync_skips_a_nameless_header(self) -> None:
        data = header("a.jpg", 1, bad_checksum=True) + header(b"", 0) + member("c.cls", b"3")
        r = _reader(tar_of(data))
        with pytest.raises(tar.BadHeader):
            r.next()
        assert r.resync() and r.next() == tar.Entry("c.cls", 1024, 1536, 1, "file", b"3", None)

    def test_read_sample_alone_stops_at_a_smaller_key(self) -> None:
        data = tar_of(member("b.cls", b"1"), member("a.cls", b"2"))
        assert tar.read_sample(_reader(data), "b", None, alone=True) == ({"cls": b"1"}, None)

    def test_read_sample_options_are_keywords(self) -> None:
        with pytest.raises(TypeError):
            tar.read_sample(_reader(END), "a", None, None, True)  # type: ignore[misc]


class TestSources:
    """Containment: shard names stay inside the manifest's root; bases stay on its origin."""

    @pytest.mark.parametrize(
        ("name", "why"),
        [
            ("https://evil.example/x.tar", "is a URL, not a file name relative to the manifest"),
            ("pipe:curl x", "is a URL, not a file name relative to the manifest"),
            ("|rm -rf x", "is a URL, not a file name relative to the manifest"),
            ("/etc/x.tar", "is an absolute path"),
            ("\\\\server\\x.tar", "is an absolute path"),
            ("~/x.tar", "is an absolute path"),
            ("C:\\x.tar", "is an absolute path"),
            ("c:/x.tar", "is an absolute path"),
            ("../x.tar", "climbs out of the manifest's folder with '..'"),
            ("a/../../x.tar", "climbs out of the manifest's folder with '..'"),
            ("a\\..\\x.tar", "climbs out of the manifest's folder with '..'"),
            ("", "is empty or has an empty path component"),
            ("a//x.tar", "is empty or has an empty path component"),
            ("a/", "is empty or has an empty path component"),
        ],
    )
    def test_names_outside_are_refused(self, name: str, why: str) -> None:
        with pytest.raises(UnsafeURLError) as info:
            src.shard_url("/data/set/manifest.json", name, 3)
        assert str(info.value) == (
            f"/data/set/manifest.json: shard entry 3 ({name!r}) {why}; a manifest may only name "
            "shards inside its own folder (pass allow_external_shards=True to allow this)"
        )

    def test_names_inside(self) -> None:
        assert src.shard_url("/data/set/manifest.json", "a/x.tar", 0) == "/data/set/a/x.tar"
        assert src.shard_url("/data/set/manifest.json", "..x.tar", 0) == "/data/set/..x.tar"
        assert src.shard_url("https://h.org/s/manifest.json", "x.tar", 0) == "https://h.org/s/x.tar"
        with pytest.raises(UnsafeURLError, match=r"shards inside /data/b \(pass"):
            src.shard_url("/data/set/manifest.json", "../x.tar", 0, base="/data/b")

    def test_the_opt_in(self) -> None:
        m = "/data/set/manifest.json"
        assert src.shard_url(m, "/elsewhere/x.tar", 0, True) == "/elsewhere/x.tar"
        assert src.shard_url(m, "https://h.org/x.tar", 0, True) == "https://h.org/x.tar"
        assert src.shard_url(m, "~/x.tar", 0, True) == os.path.expanduser("~/x.tar")
        assert src.shard_url(m, "../x.tar", 0, True) == "/data/set/../x.tar"
        # opted in, a "pipe:" name is still no command: a file of that name in the folder
        assert src.shard_url(m, "pipe:curl x", 0, True) == "/data/set/pipe:curl x"
        with pytest.raises(UnsafeURLError, match="shell-command URLs are refused"):
            src.shard_url("https://h.org/s/manifest.json", "x.tar|", 0, True)

    def test_check_url(self) -> None:
        for bad in ("pipe:ls", " |ls", "ls |", "|"):
            with pytest.raises(UnsafeURLError, match=r"'pipe:' and other shell-command URLs"):
                src.check_url(bad)
        with pytest.raises(
            SourceError, match=r"^'nope://x': unknown protocol 'nope' \(fsspec knows: "
        ):
            src.check_url("nope://x")
        assert src.check_url(" s3://b/x.tar ") == "s3://b/x.tar"
        assert src.check_url("/a/b.tar") == "/a/b.tar"

    def test_origin(self) -> None:
        assert src.origin("/a/b") == ("file", "")
        assert src.origin("file:///a/b") == ("file", "")
        assert src.origin("HTTPS://H.Org:8080/x") == ("https", "h.org:8080")
        assert src.origin("s3://Bucket/key") == ("s3", "bucket")
        assert src.origin("hf://datasets/org/name@main/x.tar") == ("hf", "datasets/org/name")
        assert src.origin("hf://org/name/x.tar") == ("hf", "org/name")
        assert src.origin("HF://spaces/o/n/x") == ("hf", "spaces/o/n")
        assert src.origin("hf://models/o/n@v1/x") == ("hf", "models/o/n")

    def test_shard_root(self) -> None:
        assert src.shard_root("/d/set/manifest.json", None) == "/d/set"
        assert src.shard_root("https://h.org/a/manifest.json", None) == "https://h.org/a"
        assert src.shard_root("/d/set/manifest.json", "../shards") == "/d/shards"
        assert src.shard_root("/d/set/manifest.json", "/other/shards/") == "/other/shards"
        assert src.shard_root("/d/set/manifest.json", "file:///o/s") == "/o/s"
        assert src.shard_root("https://h.org/a/b/manifest.json", "../c") == "https://h.org/a/c"
        assert (
            src.shard_root("https://h.org/a/manifest.json", "https://h.org/z/") == "https://h.org/z"
        )
        assert (
            src.shard_root("https://h.org/a/m.json", "https://x.org/z", True) == "https://x.org/z"
        )
        with pytest.raises(UnsafeURLError, match=r"^/d/m.json: base is empty$"):
            src.shard_root("/d/m.json", "  ")

    def test_a_base_off_the_origin_is_refused(self) -> None:
        with pytest.raises(UnsafeURLError) as info:
            src.shard_root("https://h.org/a/manifest.json", "/etc")
        assert str(info.value) == (
            "https://h.org/a/manifest.json: base '/etc' is a local path, not on the manifest's "
            "own host (https/h.org); a manifest may only name shards on its own origin (pass "
            "allow_external_shards=True to allow this)"
        )
        with pytest.raises(UnsafeURLError) as info:
            src.shard_root("/d/manifest.json", "https://x.org/s")
        assert str(info.value).startswith(
            "/d/manifest.json: base 'https://x.org/s' is on x.org, not on the manifest's own "
            "disk (file); "
        )

    def test_braces(self) -> None:
        assert list(src.expand_braces("a-{000..002}.tar")) == [
            "a-000.tar",
            "a-001.tar",
            "a-002.tar",
        ]
        assert list(src.expand_braces("a-{8..10}.tar")) == ["a-8.tar", "a-9.tar", "a-10.tar"]
        assert list(src.expand_braces("{10..12}")) == ["10", "11", "12"]
        assert list(src.expand_braces("{x,y}-{0..1}")) == ["x-0", "x-1", "y-0", "y-1"]
        assert list(src.expand_braces("plain.tar")) == ["plain.tar"]
        assert list(src.expand_braces("{5..5}")) == ["5"]
        assert list(src.expand_braces("{00..100}"))[:2] == ["00", "01"]
        assert list(src.expand_braces("{0..3}", limit=4)) == ["0", "1", "2", "3"]
        with pytest.raises(
            SourceError, match=r"^'\{0\.\.4\}' names 5 shards, more than the limit of 4 "
        ):
            list(src.expand_braces("{0..4}", limit=4))
        with pytest.raises(SourceError, match=r"range \{3\.\.1\} runs backwards"):
            list(src.expand_braces("{3..1}"))
        with pytest.raises(
            SourceError, match=r"cannot expand \{a\} \(expected \{0\.\.9\} or \{a,b\}\)"
        ):
            list(src.expand_braces("{a}"))
        r = src._Range(3, 6, 2)
        assert len(r) == 3 and r[0] == "03" and r[2] == "05" and r[1:] == ["04", "05"]
        for i in (-1, 3):
            with pytest.raises(IndexError):
                r[i]

    def test_duplicate_positions(self) -> None:
        assert src.duplicate_positions(["a", "b", "a", "c", "b", "a"]) == {2: 0, 4: 1, 5: 0}
        assert src.duplicate_positions([]) == {}

    def test_keyword_only_options(self) -> None:
        with pytest.raises(TypeError):
            src.shard_url("/d/manifest.json", "x.tar", 0, False, None)  # type: ignore[misc]
        with pytest.raises(TypeError):
            src.resolve_source("/d", "train", RemoteOptions(), False)  # type: ignore[misc]

    def test_origins_of_other_schemes(self) -> None:
        assert src.origin("gs://Bucket/k") == ("gs", "bucket")
        assert src.origin("az://c/k") == ("az", "c")

    def test_messages_name_the_kinds_of_origin(self) -> None:
        with pytest.raises(
            UnsafeURLError, match=r"base 'az://c/s' is on c, not on the manifest's own disk"
        ):
            src.shard_root("/d/manifest.json", "az://c/s")
        with pytest.raises(
            UnsafeURLError, match=r"is on x.org, not on the manifest's own host \(az/c\)"
        ):
            src.shard_root("az://c/a/manifest.json", "https://x.org/s")

    @pytest.mark.parametrize("root", ["/aaa", "/zzz"])
    def test_a_given_root_is_named(self, root: str) -> None:
        with pytest.raises(UnsafeURLError, match=rf"may only name shards inside {root} \(pass"):
            src.shard_url("/data/set/manifest.json", "../x.tar", 0, root=root)

    def test_many_brace_groups(self) -> None:
        assert list(src.expand_braces("{1..1}" * 300)) == ["1" * 300]

    def test_duplicates_of_two(self) -> None:
        assert src.duplicate_positions(["a", "a"]) == {1: 0}
        assert src.duplicate_positions(["a"]) == {}

    def test_range_past_its_end(self) -> None:
        r = src._Range(3, 6, 2)
        for i in (3, 5, 300):
            with pytest.raises(IndexError):
                r[i]

    def test_pattern_limits(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        for i in range(3):
            (tmp_path / f"s-{i}.tar").write_bytes(b"")
        monkeypatch.setattr(src, "MAX_PATTERN_NAMES", 3)
        assert len(src.expand_pattern(str(tmp_path / "s-*.tar"), RemoteOptions())) == 3
        assert len(src.expand_pattern(str(tmp_path / "s-{0..2}.tar"), RemoteOptions())) == 3
        monkeypatch.setattr(src, "MAX_PATTERN_NAMES", 2)
        with pytest.raises(SourceError, match=r"matches 3 files, more than the limit of 2$"):
            src.expand_pattern(str(tmp_path / "s-*.tar"), RemoteOptions())
        with pytest.raises(SourceError, match=r"names more than 2 shards$"):
            src.expand_pattern(str(tmp_path / "s-{0..2}.tar"), RemoteOptions())

    @pytest.mark.parametrize(("n", "dots"), [(2, False), (3, False), (4, True)])
    def test_a_list_source_names_its_first_three(self, tmp_path: Path, n: int, dots: bool) -> None:
        from .loader_fakes import make_shards

        root = make_shards(tmp_path / "set", [1] * n)
        tars = sorted(str(p) for p in root.glob("*.tar"))
        got = src.resolve_source(tars, "train", RemoteOptions())
        assert got.where == ", ".join(tars[:3]) + (" ..." if dots else "")

    def test_shard_entry_labels_and_sizes(self, tmp_path: Path) -> None:
        e = src.ShardEntry.build("u", "n", ["a", "b", "c"], [0, 512, 1024], labels=[2, None, 0])
        assert e.labels is not None and _l(e.labels) == [2, -1, 0]
        assert (e.num_samples, e.key(1), e.offset(2)) == (3, "b", 1024)
        assert src.ShardEntry.build("u", "n", [], []).labels is None
        data = tar_of(member("a.cls", b"1"), member("b.cls", b"2"))
        (tmp_path / "s.tar").write_bytes(data)
        (tmp_path / "s.tar.gz").write_bytes(gzip.compress(data, mtime=0))
        plain = src.index_shard(str(tmp_path / "s.tar"), RemoteOptions())
        assert plain.bytes == len(data) and not plain.compressed
        packed = src.index_shard(str(tmp_path / "s.tar.gz"), RemoteOptions())
        assert packed.bytes is None and packed.compressed  # its inflated size is not known
        assert [packed.key(i) for i in range(2)] == ["a", "b"]

    def test_a_list_source_holds_paths(self) -> None:
        with pytest.raises(SourceError, match=r"^a list source must hold shard paths or URLs"):
            src.resolve_source(["a.tar", 3], "train", RemoteOptions())

    def test_values_are_frozen_and_entries_compare_by_identity(self) -> None:
        r = src._Range(0, 2, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.lo = 1  # type: ignore[misc]
        e = src.ShardEntry.build("u", "n", ["a"], [0])
        with pytest.raises(dataclasses.FrozenInstanceError):
            e.url = "v"  # type: ignore[misc]
        assert e == e and e != src.ShardEntry.build("u", "n", ["a"], [0])  # arrays: no field ==
        s = src.Source("w", (e,))
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.where = "x"  # type: ignore[misc]
        assert s.num_samples == 1

    def test_urls_holding_a_second_scheme(self) -> None:
        assert src.origin("https://h.org/r?u=https://x.org") == ("https", "h.org")
        assert src._is_glob("https://h.org/x?u=s3://b/*")
        assert not src._is_glob("https://h.org/x?u=s3://b/")

    def test_patterns_without_a_tar_suffix_are_shard_lists(self, tmp_path: Path) -> None:
        data, _ = _abc()
        for i in range(2):
            (tmp_path / f"s-{i}").write_bytes(data)
        for pattern in ("s-{0..1}", "s-*"):
            got = src.resolve_source(str(tmp_path / pattern), "train", RemoteOptions())
            assert [s.num_samples for s in got.shards] == [3, 3]

    def test_resolving_a_manifest_is_contained_by_default(self, tmp_path: Path) -> None:
        from .loader_fakes import make_shards

        root = make_shards(tmp_path / "set", [2])
        data = json.loads((root / "manifest.json").read_text())
        data["splits"]["train"]["shards"][0]["name"] = "../x.tar"
        (root / "manifest.json").write_text(json.dumps(data))
        with pytest.raises(UnsafeURLError, match=r"shard entry 0 \('\.\./x\.tar'\) climbs out"):
            src.resolve_source(str(root), "train", RemoteOptions())

    def test_manifests_that_cannot_be_read(self, tmp_path: Path) -> None:
        opts = RemoteOptions()
        with pytest.raises(ManifestError, match=r"nope/manifest.json: no such manifest$"):
            src.load_manifest(str(tmp_path / "nope" / "manifest.json"), opts)
        (tmp_path / "d" / "manifest.json").mkdir(parents=True)
        with pytest.raises(ManifestError, match=r"is a folder, expected a manifest.json file$"):
            src.load_manifest(str(tmp_path / "d" / "manifest.json"), opts)
        (tmp_path / "f").write_text("x")
        with pytest.raises(
            ManifestError, match=r"f/manifest.json: cannot read manifest: Not a directory$"
        ):
            src.load_manifest(str(tmp_path / "f" / "manifest.json"), opts)

    def test_a_remote_folder_with_a_second_scheme(self) -> None:
        root = src.shard_root("https://h.org/a?u=s3://x/b/manifest.json", "../c")
        assert root == "https://h.org/a?u=s3:/x/c"  # one scheme split off, the rest a path


def _scan(data: bytes, **kw: Any) -> list[tuple[str, int, dict[str, int], str | None, str | None]]:
    return [
        (s.key, s.offset, s.fields, s.problem, s.error and s.error.__name__)
        for s in tar.scan_samples(_reader(data, **kw))
    ]


class TestScanBreaks:
    """``scan_samples`` where the tar breaks: which record a break closes, which it marks,
    the error each gets, and where the scan goes on. Every byte range is accounted for."""

    A = member("a.cls", b"1") + member("a.jpg", b"A" * 10)
    C = member("c.cls", b"3")
    CLEAN_A = ("a", 0, {"cls": 1, "jpg": 10}, None, None)

    def test_a_bad_header_is_a_record_of_its_own_and_the_scan_resyncs(self) -> None:
        bad = member("b.cls", b"2", bad_checksum=True)
        data = tar_of(self.A, bad, member("b.jpg", b"B"), self.C)
        assert _scan(data) == [
            self.CLEAN_A,
            (
                "bad-header-at-byte-2048",
                2048,
                {},
                "no valid tar header at byte 2048: the header checksum does not match",
                "TarFormatError",
            ),
            ("b", 3072, {"jpg": 1}, None, None),
            ("c", 4096, {"cls": 1}, None, None),
        ]
        ends = self.A + bad + bytes(BLOCK)  # nothing to resync to
        assert _scan(ends, size=len(ends))[1:] == [
            (
                "bad-header-at-byte-2048",
                2048,
                {},
                "no valid tar header at byte 2048: the header checksum does not match",
                "TarFormatError",
            )
        ]

    def test_a_size_past_the_end_of_another_sample_is_its_record(self) -> None:
        lying = tar_of(self.A, header("b.jpg", 30_000) + pad(b"B" * 10), self.C)
        assert _scan(lying, size=len(lying)) == [
            self.CLEAN_A,
            (
                "b",
                2048,
                {},
                "the header at byte 2048 declares 30,000 bytes of data, but the file ends at "
                "byte 5120",
                "TarFormatError",  # a header follows: the size lied
            ),
            ("c", 3072, {"cls": 1}, None, None),
        ]
        cut = self.A + header("b.jpg", 30_000) + pad(b"B" * 10)
        assert _scan(cut, size=len(cut))[1:] == [
            (
                "b",
                2048,
                {},
                "the header at byte 2048 declares 30,000 bytes of data, but the file ends at "
                "byte 3072",
                None,  # nothing follows: a truncated shard, not a format error
            )
        ]

    def test_a_break_in_the_samples_own_member_marks_that_sample(self) -> None:
        own = tar_of(member("a.cls", b"1"), header("a.jpg", 30_000) + pad(b"A"), self.C)
        assert _scan(own, size=len(own)) == [
            (
                "a",
                0,
                {"cls": 1},
                "the header at byte 1024 declares 30,000 bytes of data, but the file ends at "
                "byte 4096",
                "TarFormatError",
            ),
            ("c", 2048, {"cls": 1}, None, None),
        ]
        cut = (member("a.cls", b"1") + member("a.jpg", b"A" * 600))[: 3 * BLOCK + 300]
        assert _scan(cut) == [
            ("a", 0, {"cls": 1}, "the stream ends at byte 1836 inside member 'a.jpg'", None)
        ]
        in_header = cut[: 2 * BLOCK + 300]  # a header names no member: a record of its own
        assert _scan(in_header) == [
            ("a", 0, {"cls": 1}, None, None),
            (
                "broken-at-byte-1024",
                1024,
                {},
                "the stream ends at byte 1324 inside a tar header",
                None,
            ),
        ]

    def test_a_stream_cut_in_another_samples_member_or_header(self) -> None:
        b = member("b.cls", b"2") + member("b.jpg", b"B" * 600)
        assert _scan((self.A + b)[: len(self.A) + 3 * BLOCK + 300]) == [
            self.CLEAN_A,
            ("b", 2048, {"cls": 1}, "the stream ends at byte 3884 inside member 'b.jpg'", None),
        ]
        assert _scan((self.A + b)[: len(self.A) + 300]) == [
            self.CLEAN_A,
            (
                "broken-at-byte-2048",
                2048,
                {},
                "the stream ends at byte 2348 inside a tar header",
                None,
            ),
        ]

    def test_a_hostile_name_is_never_a_key_even_when_it_breaks(self) -> None:
        hostile = (self.A + member("../x.jpg", b"X" * 600))[: len(self.A) + 700]
        assert _scan(hostile) == [
            self.CLEAN_A,
            (
                "broken-at-byte-2048",
                2048,
                {},
                "the stream ends at byte 2748 inside member '../x.jpg'",
                None,
            ),
        ]

    def test_a_corrupt_gzip_stream_while_resyncing_ends_the_scan(self) -> None:
        import random

        bad = member("b.cls", b"2", bad_checksum=True)
        noise = random.Random(7).randbytes(64 * BLOCK)  # no header in it; incompressible
        z = bytearray(gzip.compress(tar_of(self.A, bad, noise, self.C), mtime=0))
        z[-40] ^= 0xFF  # inside the last deflate block or the trailer: found near the end
        got = list(tar.scan_samples(tar.TarReader(gzip.GzipFile(fileobj=io.BytesIO(bytes(z))))))
        assert [(r.key, r.offset) for r in got] == [("a", 0), ("bad-header-at-byte-2048", 2048)]
        assert got[1].error is tar.TarFormatError
        assert got[1].problem is not None
        assert got[1].problem.startswith(
            "no valid tar header at byte 2048: the header checksum does not match; then the "
            "gzip stream is corrupt near uncompressed byte "
        ), got[1].problem


class TestTarPinned:
    """The reader's edges one byte-level case each: what a read asks for, where a break
    leaves the walk, which record a break in a sample with a longer key marks."""

    def test_a_short_read_is_completed_by_asking_for_the_rest(self) -> None:
        # each read may be a request or a system call: the rest of a header in one more read,
        # the rest of a member's data likewise, not byte by byte
        s = Chunky(member("a.cls", b"1") + member("a.jpg", b"J" * 700))
        r = tar.TarReader(s)
        assert [r.next().name for _ in range(2)] == ["a.cls", "a.jpg"]  # type: ignore[union-attr]
        assert s.sizes == [BLOCK, BLOCK - 100, BLOCK, BLOCK, 2 * BLOCK]

    def test_skip_to_never_moves_backwards(self) -> None:
        data, offsets = _abc()
        r = _reader(data)
        r.skip_to(offsets[1])
        r.skip_to(0)  # already past it: nothing to read
        assert r.pos == offsets[1]
        assert r.next() == tar.Entry("b.cls", 2048, 2560, 1, "file", b"2", None)

    def test_a_bad_header_inside_a_sample_costs_that_sample_only(self) -> None:
        # the bad header is the sample's first member (the reader stops before its end) or
        # its only block (the reader stops exactly at its end): the walk goes on either way
        first = header("a.cls", 0, bad_checksum=True) + member("a.jpg", b"A")
        only = header("b.cls", 0, bad_checksum=True)
        data = tar_of(first, only, member("c.cls", b"3"))
        offsets = [0, len(first), len(first) + len(only)]
        got = list(tar.walk_samples(_reader(data), ["a", "b", "c"], offsets))
        assert [(i, m, type(p).__name__) for i, m, p in got] == [
            (0, {}, "TarFormatError"),
            (1, {}, "TarFormatError"),
            (2, {"cls": b"3"}, "NoneType"),
        ]
        assert str(got[1][2]).startswith("no valid tar header at byte 1536")

    def test_a_walk_of_many_samples_ends_with_the_last(self) -> None:
        # 300 samples: offsets and indices past the small integers CPython caches
        parts = [member(f"s{i:04d}.cls", str(i).encode()) for i in range(300)]
        offsets = [i * 2 * BLOCK for i in range(300)]
        got = list(
            tar.walk_samples(_reader(tar_of(*parts)), [f"s{i:04d}" for i in range(300)], offsets)
        )
        assert [i for i, _, _ in got] == list(range(300))
        assert got[-1] == (299, {"cls": b"299"}, None)

    def test_a_break_in_a_longer_keys_own_member_marks_that_sample(self) -> None:
        own = tar_of(
            member("sample-0002.cls", b"1"),
            header("sample-0002.jpg", 30_000) + pad(b"A"),
            member("sample-0003.cls", b"3"),
        )
        got = _scan(own, size=len(own))
        assert [(k, o, f, e) for k, o, f, _, e in got] == [
            ("sample-0002", 0, {"cls": 1}, "TarFormatError"),
            ("sample-0003", 2048, {"cls": 1}, None),
        ]

    def test_a_break_in_a_member_of_an_earlier_key_is_a_record_of_its_own(self) -> None:
        # keys out of order: the break names "a" while the sample being read is "b"
        data = tar_of(
            member("b.cls", b"2"), header("a.jpg", 30_000) + pad(b"A"), member("c.cls", b"3")
        )
        got = _scan(data, size=len(data))
        assert [(k, o, f) for k, o, f, _, _ in got] == [
            ("b", 0, {"cls": 1}),
            ("a", 1024, {}),
            ("c", 2048, {"cls": 1}),
        ]

    def test_a_pax_record_with_no_space_in_reach(self) -> None:
        # digits and no space: "does not start with its length", not a length read off them
        with pytest.raises(ValueError) as info:
            tar.parse_pax(b"12345", 99)
        assert str(info.value) == "record at offset 0 does not start with its length"

    def test_a_signed_checksum_counts_byte_127_as_positive(self) -> None:
        # 0x7f is the largest positive signed byte: summed as 127 in both sums; with 0xe9 beside
        # it the signed sum differs from the unsigned one, and only the signed one is stored
        s = bytearray(header(b"\x7f\xe9.jpg", 3))
        signed = _header_sum(s, signed=True)
        assert tar._checksum_ok(_with_checksum(s, signed=True), 0)
        s[148:156] = b"%06o\0 " % (signed - 256)  # 0x7f taken as negative: not a checksum
        assert not tar._checksum_ok(bytes(s), 0)

    def test_a_refused_member_is_skipped_in_bounded_reads(self) -> None:
        # a member over max_member_bytes is read past, never into memory at once: 1 MiB a read
        big = (3 << 20) + 1000
        s = Chunky(member("a.jpg", bytes(big)) + member("a.cls", b"1"), first=None)
        r = tar.TarReader(s, limits=members.Limits(max_member_bytes=1 << 20))
        first = r.next()
        assert first is not None and isinstance(first.problem, tar.MemberTooLargeError)
        assert s.sizes == [BLOCK, 1 << 20, 1 << 20, 1 << 20, tar._padded(big) - (3 << 20)]
        assert r.next() == tar.Entry(
            "a.cls", r.pos - 2 * BLOCK, r.pos - BLOCK, 1, "file", b"1", None
        )

    def test_entries_are_values(self) -> None:
        e = tar.Entry("a.cls", 0, 512, 1, "file", b"1")
        with pytest.raises(dataclasses.FrozenInstanceError):
            e.name = "b.cls"  # type: ignore[misc]
        assert hash(e) == hash(tar.Entry("a.cls", 0, 512, 1, "file", b"1"))

    def test_a_refused_member_with_a_good_name_keeps_its_key(self) -> None:
        data = tar_of(member("a.cls", b"1"), member("a.jpg", b"J" * 600), member("b.cls", b"2"))
        got = _scan(data, limits=members.Limits(max_member_bytes=500))
        assert [(k, o, f, e) for k, o, f, _, e in got] == [
            ("a", 0, {"cls": 1, "jpg": 600}, "MemberTooLargeError"),
            ("b", 2560, {"cls": 1}, None),
        ]

    def test_read_sample_alone_leaves_the_reader_after_the_next_keys_member(self) -> None:
        data, offsets = _abc()
        r = _reader(data)
        tar.read_sample(r, "a", None, alone=True)
        assert r.pos == offsets[1] + 2 * BLOCK  # b.cls read (it ended the sample), no further
        assert r.next() == tar.Entry("c.cls", 3072, 3584, 1, "file", b"3", None)

    @pytest.mark.parametrize("resyncing", [False, True])
    def test_a_stream_that_keeps_failing_ends_the_scan_once(self, resyncing: bool) -> None:
        # a decompressor that raises on every read from some byte on: one record, then the
        # scan is over (it does not ask again and again)
        class Failing(io.RawIOBase):
            def __init__(self, data: bytes, at: int) -> None:
                self.data, self.pos, self.at = data, 0, at

            def read(self, n: int = -1, /) -> bytes:
                if self.pos >= self.at:
                    raise zlib.error("invalid stored block lengths")
                out = self.data[self.pos : min(self.pos + n, self.at)]
                self.pos += len(out)
                return out

        bad = member("b.cls", b"2", bad_checksum=True) if resyncing else member("b.cls", b"2")
        data = tar_of(member("a.cls", b"1"), bad, member("c.cls", b"3"))
        got = list(itertools.islice(tar.scan_samples(tar.TarReader(Failing(data, 1024 + 700))), 5))
        assert [(r.key, r.offset, r.error) for r in got] == [
            ("a", 0, None),
            ("bad-header-at-byte-1024" if resyncing else "b", 1024, tar.TarFormatError),
        ]
        assert got[1].problem is not None and "the gzip stream is corrupt near" in got[1].problem


class TestTarFields:
    """Each header field read at its exact bytes: the full width of a field, its last byte,
    the forms other writers use (no NUL, a trailing space, base-256, signed sums)."""

    def test_base_256_uses_every_byte_after_the_marker(self) -> None:
        assert tar._number(b"\x80\x01" + bytes(10), 0, "size") == 1 << 80
        assert tar._number(b"\x80" + bytes(10) + b"\x07", 0, "size") == 7

    def test_a_negative_base_256_number_is_named_exactly(self) -> None:
        with pytest.raises(tar.BadHeader) as info:
            tar._number(b"\xff" + bytes(11), 5, "size")
        assert str(info.value) == "the size field at byte 5 is a negative base-256 number"
        assert info.value.pos == 5

    def test_a_bad_octal_field_is_shown_whole(self) -> None:
        with pytest.raises(tar.BadHeader) as info:
            tar._number(b"9" * 12, 0, "size")
        assert str(info.value).endswith("is not an octal number (b'999999999999')")

    def test_checksums_count_every_byte_of_the_header(self) -> None:
        # a name of 100 bytes above 127 (its first byte too), an mtime ending in a space (the
        # byte just before the checksum field), a last byte that is not zero
        h = bytearray(header(b"\xff" * 100, 3))
        h[136:148] = b"00000000000 "
        h[511] = 1
        assert tar._checksum_ok(_with_checksum(h), 0)
        assert not tar._checksum_ok(_with_checksum(h)[:511] + b"\x02", 0)
        assert tar._checksum_ok(_with_checksum(h, signed=True), 0)  # the signed sum likewise
        h[147] = 0
        summed = _with_checksum(h, signed=True)  # then byte 147 changed after the sum
        assert not tar._checksum_ok(summed[:147] + b" " + summed[148:], 0)

    # the usual form, no NUL, no space, no terminator, right-aligned and left-aligned
    @pytest.mark.parametrize(
        "fmt", [b"%06o\0 ", b"%07o ", b"%07o\0", b"%08o", b" %06o ", b"%-7o\0"]
    )
    def test_checksum_fields_as_other_writers_write_them(self, fmt: bytes) -> None:
        h = bytearray(header(b"\xe9.jpg", 3))
        assert tar._checksum_ok(_with_checksum(h, fmt), 0)
        assert tar._checksum_ok(_with_checksum(h, fmt, signed=True), 0)
        assert not tar._checksum_ok(_with_checksum(h, fmt)[:-1] + b"\x01", 0)

    def test_a_signed_checksum_counts_byte_128_as_negative(self) -> None:
        h = bytearray(header(b"\x80.jpg", 3))
        assert tar._checksum_ok(_with_checksum(h, signed=True), 0)
        h[148:156] = b"%06o\0 " % (sum(_with_checksum(bytearray(h), signed=True)) - 256)
        assert not tar._checksum_ok(bytes(h), 0)  # neither sum: 0x80 counted as +128 and -128

    def test_a_refused_member_skipped_seven_bytes_at_a_time(self) -> None:
        # 512 = 73 * 7 + 1: the last read of the skip is one byte
        data = member("a/../b.jpg", b"x" * BLOCK) + member("c.cls", b"3")
        r = tar.TarReader(Trickle(data))
        first = r.next()
        assert first is not None and first.problem is not None and r.pos == 2 * BLOCK
        assert r.next() == tar.Entry("c.cls", 1024, 1536, 1, "file", b"3", None)

    def test_size_fields_without_a_nul_and_large_ones(self) -> None:
        h = bytearray(header("a.cls", 0))
        h[124:136] = b"000000000005"  # twelve digits, no terminator
        entry = tar.TarReader(io.BytesIO(_with_checksum(h) + pad(b"12345"))).next()
        assert entry is not None and entry.data == b"12345"
        big = header("a.jpg", 0, size_field=b"%011o\0" % (1 << 30))
        with pytest.raises(tar.Overrun) as info:
            tar.TarReader(io.BytesIO(big + END), size=len(big) + len(END)).next()
        assert str(info.value) == (
            "the header at byte 0 declares 1,073,741,824 bytes of data, but the file ends at "
            "byte 1536"
        )

    def test_names_that_fill_their_fields(self) -> None:
        name = "n" * 96 + ".cls"  # exactly 100 bytes: no NUL after it
        prefix = b"p" * 155  # exactly 155 bytes, then a byte of padding that is not zero
        h = bytearray(header(name, 1, prefix=prefix))
        h[500] = ord("X")
        entry = tar.TarReader(io.BytesIO(_with_checksum(h) + pad(b"1"))).next()
        assert entry is not None and entry.name == "p" * 155 + "/" + name

    def test_a_pax_size_that_is_not_a_number_is_shown_to_twenty_characters(self) -> None:
        data = pax(pax_record("size", "x" * 30)) + member("a.cls", b"1")
        entry = tar.TarReader(io.BytesIO(data)).next()
        assert entry is not None and entry.problem is not None
        assert str(entry.problem).endswith(
            f"has a pax size record {'x' * 20!r} that is not a number"
        )


class Breaks(io.RawIOBase):
    """A stream that hands out at most 100 bytes a read and, after ``good`` bytes, fails as
    a corrupt gzip stream does."""

    def __init__(self, data: bytes, good: int) -> None:
        self.data, self.at, self.good = data, 0, good

    def read(self, n: int = -1, /) -> bytes:
        if self.at >= self.good:
            raise zlib.error("invalid block type")
        out = self.data[self.at : min(self.at + min(n, 100), self.good)]
        self.at += len(out)
        return out


class TestTarCorruptPositions:
    """A corrupt stream found after a short read is named at the byte where it broke."""

    @pytest.mark.parametrize("offset", [0, 7 * BLOCK])
    def test_inside_a_header(self, offset: int) -> None:
        r = tar.TarReader(Breaks(member("a.cls", b"1"), 300), offset)
        with pytest.raises(tar.CorruptStream) as info:
            r.next()
        assert info.value.pos == offset + 300 and info.value.start == offset
        assert f"near uncompressed byte {offset + 300} " in str(info.value)

    @pytest.mark.parametrize("offset", [0, 7 * BLOCK])
    def test_inside_a_members_data(self, offset: int) -> None:
        data = member("a.jpg", b"J" * 900)
        r = tar.TarReader(Breaks(data, BLOCK + 700), offset)
        with pytest.raises(tar.CorruptStream) as info:
            r.next()
        err = info.value
        assert (err.pos, err.start, err.name) == (offset + BLOCK + 700, offset, "a.jpg")

    def test_while_skipping_a_refused_member(self) -> None:
        data = member("../a.jpg", b"J" * 900) + member("b.cls", b"1")
        r = tar.TarReader(Breaks(data, BLOCK + 700), 3 * BLOCK)
        with pytest.raises(tar.CorruptStream) as info:
            r.next()
        err = info.value
        assert (err.pos, err.start, err.name) == (4 * BLOCK + 700, 3 * BLOCK, "../a.jpg")
