"""Files written atomically (a temporary file, then a rename) get the permissions anyone
would expect: a shard set's manifest like the tars beside it, a card merged into keeps its
own. ``tempfile.mkstemp`` made both private (0o600), so the others sharing a dataset folder
or a cards checkout could no longer read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from visiondata.registry.files import write_atomic

CARDS = Path(__file__).resolve().parents[1] / "cards"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_file_gets_the_umask_and_an_old_one_is_replaced_whole(
    tmp_path: Path, umask_022: None
) -> None:
    target = tmp_path / "f.json"
    write_atomic(target, b"one")
    assert _mode(target) == 0o644 and target.read_bytes() == b"one"
    write_atomic(target, b"two", mode=0o640)
    assert _mode(target) == 0o640 and target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_atomic(target, "text, not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


@pytest.mark.extras
def test_a_manifest_is_as_readable_as_its_shards(tmp_path: Path, umask_022: None) -> None:
    from tests.audit.audit_fakes import build, jpeg, texture

    root = build(tmp_path / "set", {"train": [("k0", {"jpg": jpeg(texture(0))}, 0)]}, classes=["a"])
    tars = sorted(root.glob("*.tar"))
    assert tars and _mode(root / "manifest.json") == _mode(tars[0]) == 0o644


@pytest.mark.extras
def test_a_card_merged_into_keeps_its_mode(tmp_path: Path) -> None:
    from visiondata.loaders.audit.audit import run_audit
    from visiondata.loaders.audit.cardmerge import merge_figures
    from visiondata.loaders.audit.figures import CITATION_KEY, audit_figures

    from tests.audit.audit_fakes import build, jpeg, texture

    samples = [(f"k{i}", {"jpg": jpeg(texture(i))}, i % 2) for i in range(4)]
    root = build(tmp_path / "s", {"train": samples}, classes=["a", "b"])
    card = tmp_path / "carla.yaml"
    card.write_text((CARDS / "carla.yaml").read_text())
    card.chmod(0o664)
    reference = {"title": "visiondata audit (test)", "year": 2026, "venue": "visiondata 0"}
    merge_figures(card, audit_figures(run_audit(root)), citation=CITATION_KEY, reference=reference)
    assert CITATION_KEY in card.read_text()
    assert _mode(card) == 0o664
