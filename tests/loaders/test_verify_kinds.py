"""``shards verify`` on each kind of mismatch between a shard set and its manifest: one edit
each, and exactly the finding it must give (kind, shard, message)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from visiondata.loaders.shards.verify import verify
from visiondata.registry.cli import main

from .loader_fakes import make_shards


def _manifest(root: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = root / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _shard(root: Path, i: int = 1) -> Path:
    return root / f"train-{i:06d}.tar"


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _first(root: Path, field: str) -> Any:
    return json.loads((root / "manifest.json").read_text())["splits"]["train"]["shards"][1][field]


def _set_shard(field: str, value: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        shard = data["splits"]["train"]["shards"][1]
        shard[field] = value(shard[field])

    return edit


def _missing(root: Path) -> str:
    _shard(root).unlink()
    return "missing (the manifest lists it, the file is not there)"


def _size(root: Path) -> str:
    size = _shard(root).stat().st_size
    with _shard(root).open("ab") as f:
        f.write(bytes(512))
    return f"{size + 512} bytes on disk, the manifest says {size}"


def _sha256(root: Path) -> str:
    _flip(_shard(root), _shard(root).stat().st_size - 1)  # in the last zero block: parses
    return f"does not match the manifest's {_first(root, 'sha256')}"


def _keys(root: Path) -> str:
    _manifest(root, _set_shard("keys", lambda k: ["zz", *k[1:]]))
    return "member 's000004.cls' at byte 0 does not belong to this sample (the manifest's keys"


def _offsets(root: Path) -> str:
    _manifest(root, _set_shard("offsets", lambda o: [o[0], o[1] + 512, *o[2:]]))
    return "the header at byte 2048 declares 1 bytes of data, which would run past byte 2560"


def _unlisted(root: Path) -> str:
    _shard(root, 9).write_bytes(_shard(root).read_bytes())
    return "shard file is not in manifest.json"


def _journal(root: Path) -> str:
    (root / ".train.journal.jsonl").write_text("{}\n")
    return "an interrupted conversion of split 'train'; run it again to finish"


def _class_counts(root: Path) -> str:
    def edit(data: dict[str, Any]) -> None:
        data["classes"] = ["a", "b", "c", "d", "e"]
        data["splits"]["train"]["class_counts"]["7"] = 1

    _manifest(root, edit)
    return "class_counts names unknown class indices ['7']"


def _bad_manifest(root: Path) -> str:
    _manifest(root, lambda data: data.update(version=9))
    return "invalid manifest: manifest version 9 is not supported"


def _outside(root: Path) -> str:
    _manifest(root, _set_shard("name", lambda _: "../elsewhere.tar"))
    return "elsewhere.tar"


S1 = "train-000001.tar"
#: case -> (the edit, which returns the first finding's message fragment; every finding)
CASES: dict[str, tuple[Callable[[Path], str], list[tuple[str, str | None]]]] = {
    "missing": (_missing, [("missing", S1)]),
    "size": (_size, [("size", S1)]),
    "sha256": (_sha256, [("sha256", S1)]),
    "keys": (_keys, [("member", S1)]),
    # the shifted sample's header is then out of step, and so is the next one's
    "offsets": (_offsets, [("member", S1), ("member", S1)]),
    "unlisted": (_unlisted, [("unlisted", "train-000009.tar")]),
    "journal": (_journal, [("journal", ".train.journal.jsonl")]),
    "class-counts": (_class_counts, [("manifest", None)]),
    "bad-manifest": (_bad_manifest, [("manifest", None)]),
    # refused as outside the set, so the file it replaced is now unlisted
    "outside-the-set": (_outside, [("manifest", "../elsewhere.tar"), ("unlisted", S1)]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_mismatch_is_one_finding(case: str, tmp_path: Path, capsys: Any) -> None:
    root = make_shards(tmp_path / "set", [4, 5, 3])
    assert verify(root).findings == []
    break_it, expected = CASES[case]
    fragment = break_it(root)
    report = verify(root)
    assert [(f.kind, f.shard) for f in report.findings] == expected, report.findings
    assert fragment in report.findings[0].message, report.findings[0].message
    assert {f.severity for f in report.findings} == {"error"}
    assert main(["shards", "verify", str(root)]) == 1
    assert fragment in capsys.readouterr().err
