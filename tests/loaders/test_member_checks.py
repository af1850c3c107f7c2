"""``shards verify`` on a member whose bytes are not what its extension says, one kind at a
time: a real shard set (the project's ShardWriter) of four samples where only ``s000002``
holds the hostile member. Each case asserts the one finding (kind, shard, key, byte offset,
message), that the other three samples were still read and counted, and what the CLI prints;
with ``--deep`` only where the check needs decoding."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from visiondata.loaders.errors import DecodeError
from visiondata.loaders.shards.checks import INT64_MAX, INT64_MIN, check_member, parse_cls
from visiondata.loaders.shards.verify import verify
from visiondata.registry.cli import main

from .crafted import jpeg
from .loader_fakes import REALDATA, make_shards, png_bytes

SHARD = "train-000000.tar"
BAD_KEY = "s000002"
MP4 = REALDATA / "video" / "derived" / "bbb_t05-10s_320x180_h264.mp4"


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _good(ext: str) -> bytes:
    return {
        "cls": b"3",
        "json": b'{"a": 1}',
        "txt": "caf\u00e9".encode(),
        "npy": _npy(np.arange(6, dtype=np.int16)),
        "mp4": MP4.read_bytes(),
        "jpg": jpeg(0),
        "png": png_bytes(4),
    }[ext]


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0xFF
    return bytes(out)


#: case -> (extension, the hostile bytes, deep, the finding's message; None: nothing to find)
CASES: dict[str, tuple[str, Any, bool, str | None]] = {
    "cls-over-int64": (
        "cls",
        lambda: str(INT64_MAX + 1).encode(),
        False,
        "member .cls: cls value 9223372036854775808... does not fit a 64-bit integer",
    ),
    "cls-under-int64": (
        "cls",
        lambda: str(INT64_MIN - 1).encode(),
        False,
        "member .cls: cls value -9223372036854775809... does not fit a 64-bit integer",
    ),
    # str.isdigit() accepts ARABIC-INDIC DIGIT THREE; the ASCII check must come first
    "cls-non-ascii-digit": (
        "cls",
        lambda: "\u0663".encode(),
        False,
        "member .cls: a cls member must be ASCII digits",
    ),
    "cls-not-an-integer": (
        "cls",
        lambda: b"1.5",
        False,
        "member .cls: a cls member must be a decimal integer, got '1.5'",
    ),
    "cls-blank": (
        "cls",
        lambda: b" \n",
        False,
        "member .cls: a cls member must be a decimal integer, got ''",
    ),
    "cls-sign-only": (
        "cls",
        lambda: b"-",
        False,
        "member .cls: a cls member must be a decimal integer, got '-'",
    ),
    "json-unterminated": (
        "json",
        lambda: b'{"a": 1',
        False,
        "member .json: unreadable json member (JSONDecodeError: Expecting ',' delimiter: "
        "line 1 column 8 (char 7))",
    ),
    "text-latin1": (
        "txt",
        lambda: "caf\u00e9!".encode("latin-1"),
        False,
        "member .txt: unreadable text member (UnicodeDecodeError: 'utf-8' codec can't decode "
        "byte 0xe9 in position 3: invalid continuation byte)",
    ),
    "npy-object-array-deep": (
        "npy",
        lambda: _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True),
        True,
        "member .npy: unreadable npy member (ValueError: Object arrays cannot be loaded when "
        "allow_pickle=False)",
    ),
    # without --deep an npy member is not opened: the same bytes pass
    "npy-object-array-shallow": (
        "npy",
        lambda: _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True),
        False,
        None,
    ),
    "npy-not-npy-deep": (
        "npy",
        lambda: b"not an npy file",
        True,
        "member .npy: unreadable npy member (ValueError: This file contains pickled (object) "
        "data. If you trust the file you can load it unsafely using the `allow_pickle=` keyword "
        "argument or `pickle.load()`.)",
    ),
    "mp4-truncated-deep": (
        "mp4",
        lambda: MP4.read_bytes()[:1000],
        True,
        "member .mp4: corrupt or unreadable video (InvalidDataError: [Errno 1094995529] Invalid "
        "data found when processing input: '<none>')",
    ),
    # without --deep a video member is not opened
    "mp4-truncated-shallow": ("mp4", lambda: MP4.read_bytes()[:1000], False, None),
    "jpg-truncated-deep": (
        "jpg",
        lambda: jpeg(0)[: len(jpeg(0)) // 2],
        True,
        "member .jpg: corrupt JPEG data (OSError: image file is truncated (5 bytes not processed))",
    ),
    # the header (SOF) is intact: the shallow check reads only that far
    "jpg-truncated-shallow": ("jpg", lambda: jpeg(0)[: len(jpeg(0)) // 2], False, None),
    "png-signature-byte-0": (
        "png",
        lambda: _flip(png_bytes(4), 0),
        False,
        "member .png: not a readable image (not a recognised image format)",
    ),
    "png-ihdr-width-zero": (
        "png",
        lambda: png_bytes(4)[:16] + bytes(4) + png_bytes(4)[20:],
        False,
        "member .png: not a readable image (not a recognised image format)",
    ),
}


def _shard_set(root: Path, ext: str, hostile: bytes) -> Path:
    def members(i: int, key: str) -> dict[str, bytes]:
        return {"txt": key.encode(), ext: hostile if key == BAD_KEY else _good(ext)}

    return make_shards(root, [4], members=members)


def _offset(root: Path, i: int) -> int:
    data = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    return int(data["splits"]["train"]["shards"][0]["offsets"][i])


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_member_is_one_finding_naming_its_sample(case: str, tmp_path: Path) -> None:
    ext, make, deep, message = CASES[case]
    root = _shard_set(tmp_path / "set", ext, make())
    report = verify(root, deep=deep)
    assert (report.shards, report.samples) == (1, 4)  # the other samples were read
    if message is None:
        assert report.findings == [] and report.ok
        return
    assert [(f.kind, f.severity, f.split, f.shard, f.key, f.offset) for f in report.findings] == [
        ("content", "error", "train", SHARD, BAD_KEY, _offset(root, 2))
    ]
    assert report.findings[0].message == message
    assert not report.ok


def test_the_cli_prints_the_finding_with_its_place_and_exits_1(tmp_path: Path, capsys: Any) -> None:
    root = _shard_set(tmp_path / "set", "cls", b"\xd9\xa3")  # "\u0663" in UTF-8
    at = _offset(root, 2)
    assert main(["shards", "verify", str(root), "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"split 'train': {SHARD}: sample '{BAD_KEY}' at byte {at}: member .cls: a cls member "
        "must be ASCII digits"
    )
    assert err[1].startswith(f"{root}: 1 problem(s); 1 shard(s), 4 sample(s), ")
    assert len(err) == 2


def test_the_json_report_lists_the_finding_and_the_totals(tmp_path: Path, capsys: Any) -> None:
    root = _shard_set(tmp_path / "set", "json", b"[1, 2")
    assert main(["shards", "verify", str(root), "--format", "json", "--no-progress"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["ok"], out["shards"], out["samples"], out["errors"], out["warnings"]) == (
        False,
        1,
        4,
        1,
        0,
    )
    assert out["findings"] == [
        {
            "message": "member .json: unreadable json member (JSONDecodeError: Expecting ',' "
            "delimiter: line 1 column 6 (char 5))",
            "kind": "content",
            "severity": "error",
            "split": "train",
            "shard": SHARD,
            "key": BAD_KEY,
            "offset": _offset(root, 2),
        }
    ]


def test_deep_video_check_passes_a_whole_clip_and_names_a_truncated_one(tmp_path: Path) -> None:
    data = MP4.read_bytes()
    check_member("mp4", data, deep=True)  # the real clip opens
    with pytest.raises(DecodeError, match=r"^corrupt or unreadable video \(InvalidDataError"):
        check_member("mp4", data[:100], deep=True)


@pytest.mark.parametrize(
    ("data", "value"),
    [(b" 42\n", 42), (b"-7", -7), (b"+7", 7), (str(INT64_MAX).encode(), INT64_MAX)],
)
def test_parse_cls_keeps_what_fits(data: bytes, value: int) -> None:
    assert parse_cls(data) == value


def test_a_long_cls_value_is_cut_in_the_message() -> None:
    with pytest.raises(DecodeError) as err:
        parse_cls(b"1" * 40)
    assert err.value.reason == f"cls value {'1' * 24}... does not fit a 64-bit integer"
