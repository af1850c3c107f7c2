"""Crafted tar shards built from raw bytes: one per case of the shard core's member policy.

Headers are written here field by field (not with ``tarfile``, which refuses to write most of
these), so each case can put exactly the wrong byte where it wants. Every case is a shard of
three samples ``a``, ``b`` and ``c`` (``jpg`` and ``cls`` members, real COCO JPEGs), with the
hostile part in ``b`` unless the case says otherwise; ``Case.good`` and ``Case.bad`` say what
the loader must deliver and which samples it must name, with which error.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from visiondata.loaders import errors as E
from visiondata.loaders.shards.index import build_manifest, index_one

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
JPEGS = sorted((REALDATA / "coco" / "val2017").glob("*.jpg"))

BLOCK = 512
#: a protocol-0 pickle that runs ``touch PICKLE-RAN`` in the working directory when loaded
PICKLE_PAYLOAD = b"cos\nsystem\n(S'touch PICKLE-RAN'\ntR."


def octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def header(
    name: bytes | str,
    size: int,
    typeflag: bytes = b"0",
    *,
    size_field: bytes | None = None,
    linkname: bytes = b"",
    prefix: bytes = b"",
    magic: bytes = b"ustar\x0000",
    bad_checksum: bool = False,
) -> bytes:
    raw = name.encode() if isinstance(name, str) else name
    h = bytearray(BLOCK)
    h[0 : len(raw)] = raw[:100]
    h[100:108] = octal(0o644, 8)
    h[108:116] = octal(0, 8)
    h[116:124] = octal(0, 8)
    h[124:136] = size_field if size_field is not None else octal(size, 12)
    h[136:148] = octal(0, 12)
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157 : 157 + len(linkname)] = linkname
    h[257:265] = magic
    h[345 : 345 + len(prefix)] = prefix
    checksum = sum(h) + (1 if bad_checksum else 0)
    h[148:156] = b"%06o\0 " % checksum
    return bytes(h)


def pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def member(name: bytes | str, data: bytes, typeflag: bytes = b"0", **kw: object) -> bytes:
    return header(name, len(data), typeflag, **kw) + pad(data)  # type: ignore[arg-type]


def pax_record(key: str, value: str) -> bytes:
    """One pax record, ``"%d %s=%s\n"``, whose length counts its own digits."""
    body = f" {key}={value}\n".encode()
    length = len(body) + len(str(len(body)))
    if len(str(length)) != len(str(len(body))):
        length = len(body) + len(str(length))
    return str(length).encode() + body


def pax(records: bytes, typeflag: bytes = b"x") -> bytes:
    return header("././@PaxHeader", len(records), typeflag) + pad(records)


END = bytes(2 * BLOCK)


def jpeg(i: int) -> bytes:
    return JPEGS[i % len(JPEGS)].read_bytes()


def sample(key: str, i: int) -> bytes:
    return member(f"{key}.cls", str(i).encode()) + member(f"{key}.jpg", jpeg(i))


def tar_of(*parts: bytes) -> bytes:
    return b"".join(parts) + END


def silence_wav() -> bytes:
    """A real WAV file (0.1 s of 8 kHz silence): a container whose only stream is audio."""
    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, "w", format="wav") as dst:
        stream = dst.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), dtype=np.int16), format="s16", layout="mono"
        )
        frame.rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            dst.mux(packet)
    return out.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A small PNG whose header declares ``width x height`` pixels (a decompression bomb)."""
    small = io.BytesIO()
    Image.new("L", (8, 8)).save(small, format="PNG")
    data = bytearray(small.getvalue())
    data[16:20] = width.to_bytes(4, "big")
    data[20:24] = height.to_bytes(4, "big")
    import zlib

    crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
    data[29:33] = crc.to_bytes(4, "big")
    return bytes(data)


@dataclass
class Case:
    """A crafted shard set and what must come out of it."""

    name: str
    build: Callable[[], list[tuple[str, bytes]]]  # (file name, bytes) of each shard
    good: list[str]  # keys delivered, in order (shuffle off, one worker)
    bad: dict[str, type[E.BadSampleError]]  # key -> the error that names it
    options: dict[str, object] = field(default_factory=dict)
    fields: list[str] | None = field(default_factory=lambda: ["jpg", "cls"])
    verify_ok: bool = False  # shards verify exits 0 (only warnings)


def _abc(middle: bytes) -> Callable[[], list[tuple[str, bytes]]]:
    return lambda: [("crafted-000000.tar", tar_of(sample("a", 0), middle, sample("c", 2)))]


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _corrupt_gzip() -> list[tuple[str, bytes]]:
    raw = tar_of(sample("a", 0), sample("b", 1), sample("c", 2))
    z = bytearray(_gz(raw))
    cut = len(gzip.compress(tar_of(sample("a", 0)), mtime=0))  # past a's members
    for i in range(cut, cut + 64):
        z[i] ^= 0x5A
    return [("crafted-000000.tar.gz", bytes(z))]


def _gzip_bomb() -> list[tuple[str, bytes]]:
    big = member("b.jpg", bytes(8 << 20)) + member("b.cls", b"1")  # 8 MiB of zeros: ~8 kB gzipped
    return [("crafted-000000.tar.gz", _gz(tar_of(sample("a", 0), big, sample("c", 2))))]


def _cross_shard() -> list[tuple[str, bytes]]:
    return [
        ("crafted-000000.tar", tar_of(sample("a", 0), sample("b", 1))),
        ("crafted-000001.tar", tar_of(sample("b", 3), sample("c", 2))),
    ]


def _lying_size() -> bytes:
    data = jpeg(1)
    return (
        member("b.cls", b"1") + header("b.jpg", 0, size_field=octal(len(data) * 50, 12)) + pad(data)
    )


def _base256(negative: bool) -> bytes:
    data = jpeg(1)
    field = (b"\xff" + b"\xff" * 11) if negative else (b"\x80" + len(data).to_bytes(11, "big"))
    return member("b.cls", b"1") + header("b.jpg", len(data), size_field=field) + pad(data)


def _pax_path() -> bytes:
    rec = pax_record("path", "b.jpg")
    return member("b.cls", b"1") + pax(rec) + member("IGNORED-NAME", jpeg(1))


def _pax_size() -> bytes:
    data = jpeg(1)
    rec = pax_record("size", str(len(data)))
    return member("b.cls", b"1") + pax(rec) + header("b.jpg", 0) + pad(data)


def _pax_absurd() -> bytes:
    rec = b"99999999 path=b.jpg\n"
    return member("b.cls", b"1") + pax(rec) + member("b.jpg", jpeg(1))


CASES = [
    Case(
        "symlink",
        _abc(member("b.cls", b"1") + header("b.jpg", 0, b"2", linkname=b"/etc/passwd")),
        ["a", "c"],
        {"b": E.UnsafeMemberError},
    ),
    Case(
        "hardlink",
        _abc(member("b.cls", b"1") + header("b.jpg", 0, b"1", linkname=b"a.jpg")),
        ["a", "c"],
        {"b": E.UnsafeMemberError},
    ),
    Case(
        "device",
        _abc(member("b.cls", b"1") + header("b.jpg", 0, b"3")),
        ["a", "c"],
        {"b": E.UnsafeMemberError},
    ),
    Case(
        "fifo",
        _abc(member("b.cls", b"1") + header("b.jpg", 0, b"6")),
        ["a", "c"],
        {"b": E.UnsafeMemberError},
    ),
    Case(
        "directory",
        _abc(member("b.cls", b"1") + header("b.jpg", 0, b"5")),
        ["a", "c"],
        {"b": E.UnsafeMemberError},
    ),
    Case(
        "dotdot-name",
        _abc(member("../../escape-b.jpg", jpeg(1))),
        ["a", "c"],
        {"bad-name-at-byte-{0}": E.UnsafeMemberError},
    ),
    Case(
        "absolute-name",
        _abc(member("/tmp/escape-b.jpg", jpeg(1))),
        ["a", "c"],
        {"bad-name-at-byte-{0}": E.UnsafeMemberError},
    ),
    Case(
        "only-extension",
        _abc(member(".jpg", jpeg(1))),
        ["a", "c"],
        {"bad-name-at-byte-{0}": E.UnsafeMemberError},
    ),
    Case(
        "empty-name",
        _abc(member(b"", jpeg(1))),
        ["a", "c"],
        {"bad-name-at-byte-{0}": E.UnsafeMemberError},
    ),
    Case("lying-size", _abc(_lying_size()), ["a", "c"], {"b": E.TarFormatError}),
    Case("base256-size", _abc(_base256(False)), ["a", "b", "c"], {}, verify_ok=True),
    # a size that is not a size: the reader cannot step over the member, so it scans for the
    # next header; b keeps its cls member (and lacks its jpg), the unreadable range is its own
    Case(
        "negative-base256",
        _abc(_base256(True)),
        ["a", "c"],
        {"b": E.MissingFieldError, "bad-header-at-byte-{0}": E.TarFormatError},
    ),
    Case(
        "bad-checksum",
        _abc(member("b.jpg", jpeg(1), bad_checksum=True) + member("b.cls", b"1")),
        ["a", "c"],
        {"bad-header-at-byte-{0}": E.TarFormatError, "b": E.MissingFieldError},
    ),
    Case("pax-path", _abc(_pax_path()), ["a", "b", "c"], {}, verify_ok=True),
    Case("pax-size", _abc(_pax_size()), ["a", "b", "c"], {}, verify_ok=True),
    Case("pax-absurd", _abc(_pax_absurd()), ["a", "c"], {"b": E.TarFormatError}),
    Case(
        "member-twice",
        _abc(sample("b", 1) + member("b.jpg", jpeg(3))),
        ["a", "c"],
        {"b": E.DuplicateMemberError},
    ),
    Case(
        "key-twice-in-shard",
        lambda: [
            (
                "crafted-000000.tar",
                tar_of(sample("a", 0), sample("b", 1), sample("c", 2), sample("b", 3)),
            )
        ],
        ["a", "b", "c"],
        {"b#2": E.DuplicateMemberError},
    ),
    Case("key-in-two-shards", _cross_shard, ["a", "b", "b", "c"], {}, verify_ok=True),
    Case(
        "member-too-large",
        _abc(member("b.cls", b"1") + member("b.jpg", jpeg(1) + bytes(300_000))),
        ["a", "c"],
        {"b": E.MemberTooLargeError},
        {"max_member_bytes": 300_000},
    ),
    Case(
        "gzip-bomb-member",
        _gzip_bomb,
        ["a", "c"],
        {"b": E.MemberTooLargeError},
        {"max_member_bytes": 1 << 20},
    ),
    # what a corrupt deflate stream still yields is up to zlib: every sample after a is named
    Case("corrupt-gzip", _corrupt_gzip, ["a"], {"*": E.TarFormatError}),
    Case(
        "cls-overflow",
        _abc(member("b.cls", b"99999999999999999999999") + member("b.jpg", jpeg(1))),
        ["a", "c"],
        {"b": E.DecodeError},
    ),
    Case(
        "png-bomb",
        _abc(member("b.cls", b"1") + member("b.png", png_bomb())),
        ["a", "c"],
        {"b": E.DecompressionBombError},
        fields=None,
    ),
    Case(
        "pickle-member",
        _abc(member("b.cls", b"1") + member("b.pkl", PICKLE_PAYLOAD)),
        ["a", "c"],
        {"b": E.PickleRefusedError},
        fields=None,
        verify_ok=True,
    ),
]


def write_case(case: Case, root: Path) -> dict[str, int]:
    """Write the case's shards and an index-built manifest into ``root``; return the offset of
    each sample by key (``key#n`` for the n-th repeat of a key)."""
    root.mkdir(parents=True, exist_ok=True)
    offsets: dict[str, int] = {}
    indexed = []
    for name, data in case.build():
        (root / name).write_bytes(data)
        found = index_one(str(root / name))
        assert found.sha256 == hashlib.sha256(data).hexdigest()
        indexed.append(found)
        for k, off in zip(found.keys, found.offsets, strict=True):
            label, n = k, 1
            while label in offsets:
                n += 1
                label = f"{k}#{n}"
            offsets[label] = off
    manifest = build_manifest(indexed)
    (root / "manifest.json").write_text(json.dumps(manifest.model_dump(mode="json")))
    return offsets


def bad_keys(case: Case, offsets: dict[str, int]) -> dict[str, type[E.BadSampleError]]:
    """``Case.bad`` with ``{0}`` placeholders replaced by the offsets found (``*``: every
    sample that is not good)."""
    out: dict[str, type[E.BadSampleError]] = {}
    if "*" in case.bad:
        rest = [k for k in offsets if k not in case.good]
        assert rest, offsets
        return dict.fromkeys(rest, case.bad["*"])
    for k, err in case.bad.items():
        if "{0}" in k:
            prefix = k.split("{0}")[0]
            matches = [name for name in offsets if name.startswith(prefix)]
            assert len(matches) == 1, (k, offsets)
            out[matches[0]] = err
        else:
            out[k] = err
    return out
