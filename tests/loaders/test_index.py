"""``visiondata shards index``: manifests for WebDataset sets visiondata did not write, local,
over loopback HTTP (nginx), S3 (moto) and ``hf://`` (a local fsspec file system standing in for
the Hub, which these machines cannot reach); and how a manifest's ``base`` is contained."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem
from visiondata.loaders import Loader, SourceError, UnsafeURLError, World
from visiondata.loaders.shards.index import index_set
from visiondata.loaders.shards.manifest import read_manifest
from visiondata.loaders.shards.remote import RemoteOptions
from visiondata.loaders.shards.sources import origin, shard_root
from visiondata.loaders.shards.verify import verify
from visiondata.registry.cli import main

from .loader_fakes import REALDATA, all_keys, make_shards
from .servers import free_port, nginx

ONE = World(0, 1)
WDS = REALDATA / "webdataset"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set written by visiondata, to compare the index against the writer's manifest."""
    return make_shards(tmp_path_factory.mktemp("index") / "made", [7, 0, 12, 3])


def _bare(src: Path, dst: Path) -> Path:
    """The shards of ``src`` without their manifest: a set visiondata did not write."""
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.glob("*.tar")):
        shutil.copy(p, dst / p.name)
    return dst


def _shards(manifest: dict[str, Any], split: str = "train") -> list[dict[str, Any]]:
    return list(manifest["splits"][split]["shards"])


def test_index_matches_the_writers_manifest(made: Path, tmp_path: Path) -> None:
    bare = _bare(made, tmp_path / "bare")
    result = index_set(str(bare), workers=2)
    assert result.path == bare / "manifest.json" and result.manifest.base is None
    ours, theirs = (
        json.loads(result.path.read_text()),
        json.loads((made / "manifest.json").read_text()),
    )
    for a, b in zip(_shards(ours), _shards(theirs), strict=True):
        assert {k: a[k] for k in ("name", "num_samples", "bytes", "sha256", "keys", "offsets")} == {
            k: b[k] for k in ("name", "num_samples", "bytes", "sha256", "keys", "offsets")
        }
    assert ours["fields"] == {
        "cls": "found in 22 of 22 samples",
        "txt": "found in 22 of 22 samples",
    }
    assert ours["converter"]["name"] == "index" and ours["version"] == 2
    keys = [k for b in Loader(bare, batch_size=5, world=ONE, seed=1) for k in b["__key__"]]
    assert keys == [k for b in Loader(made, batch_size=5, world=ONE, seed=1) for k in b["__key__"]]
    assert verify(bare).ok


def test_a_source_that_cannot_be_written_is_not_written(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ro = tmp_path / "ro"
    shutil.copytree(WDS, ro)
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.access(ro, os.W_OK):  # root writes anywhere: answer from the mode bits instead
        monkeypatch.setattr(
            "visiondata.loaders.shards.index.os.access",
            lambda path, mode: bool(os.stat(path).st_mode & stat.S_IWUSR),
        )
    try:
        assert main(["shards", "index", str(ro), "--no-progress"]) == 2  # an input error
        err = capsys.readouterr().err
        assert f"{ro}: cannot be written to; give an output folder (--output DIR)" in err
        assert not (ro / "manifest.json").exists()
    finally:
        ro.chmod(stat.S_IRWXU)


def test_index_into_another_folder_records_the_base(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "index"
    assert main(["shards", "index", str(WDS), "--output", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "split 'train': 114 samples in 4 shard(s)" in printed and str(out) in printed
    manifest = read_manifest(out)
    assert manifest.base == os.path.abspath(WDS)
    assert [s.name for s in manifest.split("train").shards] == [
        "bccd-000000.tar",
        "bccd-000001.tar",
        "coco-val2017-ccby-000000.tar",
        "sample.tgz",
    ]
    assert not (WDS / "manifest.json").exists()  # nothing written into the source
    loader = Loader(out, batch_size=16, world=ONE, decode="none")
    assert sum(len(b["__key__"]) for b in loader) == 114
    assert verify(out).ok
    # a second split from a pattern, into the same index
    pattern = str(WDS / "bccd-{000000..000001}.tar")
    assert main(["shards", "index", pattern, "--output", str(out), "--split", "validation"]) == 0
    again = read_manifest(out)
    assert sorted(again.splits) == ["train", "validation"]
    assert again.split("validation").num_samples == 16
    val = Loader(out, split="validation", batch_size=4, world=ONE, fields=["jpg"])
    assert sum(len(b["__key__"]) for b in val) == 16


def test_index_refuses_what_it_must(made: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="holds no shards"):
        index_set(str(tmp_path))
    with pytest.raises(SourceError, match="is remote, and the manifest is not written into"):
        index_set("s3://bucket/set")
    with pytest.raises(SourceError, match="cannot be asked for a folder listing"):
        index_set("http://127.0.0.1:9/set", tmp_path / "out")
    with pytest.raises(SourceError, match="written by the 'test' converter"):
        index_set(str(made), made)  # never overwrite a converter's manifest


# -- remote sources ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(made: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("www")
    _bare(made, root / "set")
    with nginx(root, tmp_path_factory.mktemp("nginx")) as url:
        yield url


def test_index_over_loopback_http(served: str, made: Path, tmp_path: Path) -> None:
    pattern = f"{served}/set/train-{{000000..000003}}.tar"
    result = index_set(pattern, tmp_path / "out", workers=2)
    assert result.manifest.base == f"{served}/set"
    assert [s.name for s in result.manifest.split("train").shards] == [
        f"train-{i:06d}.tar" for i in range(4)
    ]
    # a local manifest whose shards are on a server: the user opts in to that host
    with pytest.raises(UnsafeURLError, match=r"base 'http://127.0.0.1:\d+/set' is on 127"):
        Loader(tmp_path / "out", batch_size=6, world=ONE)
    loader = Loader(tmp_path / "out", batch_size=6, world=ONE, allow_external_shards=True)
    assert sorted(k for b in loader for k in b["__key__"]) == all_keys(made)


@pytest.fixture(scope="module")
def s3(made: Path) -> Iterator[dict[str, Any]]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    opts = {"key": "testing", "secret": "testing", "endpoint_url": f"http://127.0.0.1:{port}"}
    try:
        import s3fs

        fs = s3fs.S3FileSystem(**opts)
        fs.mkdir("wds")
        for p in sorted(made.glob("*.tar")):
            fs.put_file(str(p), f"wds/set/{p.name}")
        yield opts
    finally:
        server.stop()


def test_index_s3_folder(s3: dict[str, Any], made: Path, tmp_path: Path, capsys: Any) -> None:
    args = ["shards", "index", "s3://wds/set", "--output", str(tmp_path), "--no-progress"]
    args += [f"--storage-option={k}={v}" for k, v in s3.items()]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "22 samples in 4 shard(s)" in printed and "allow_external_shards=True" in printed
    assert read_manifest(tmp_path).base == "s3://wds/set"
    loader = Loader(
        tmp_path, batch_size=6, world=ONE, storage_options=s3, allow_external_shards=True
    )
    assert sorted(k for b in loader for k in b["__key__"]) == all_keys(made)


class LocalHub(LocalFileSystem):
    """``hf://`` served from a local folder: the code path of huggingface_hub's HfFileSystem
    (listing, sizes, ranged reads of ``hf://datasets/ORG/NAME/...``), not the Hub itself."""

    protocol = "hf"
    root_marker = ""
    folder = ""

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        text = str(path)
        if text.startswith("hf://"):
            return os.path.join(cls.folder, text[len("hf://") :])
        return text

    def unstrip_protocol(self, name: str) -> str:
        return "hf://" + os.path.relpath(name, self.folder)


@pytest.fixture()
def hub(made: Path, tmp_path: Path) -> Iterator[Path]:
    from fsspec.registry import _registry

    real = fsspec.get_filesystem_class("hf")
    assert real.__module__.startswith("huggingface_hub")  # the hf extra's file system
    folder = tmp_path / "hub"
    _bare(made, folder / "datasets" / "org" / "wds" / "data")
    LocalHub.folder = str(folder)
    fsspec.register_implementation("hf", LocalHub, clobber=True)
    try:
        yield folder
    finally:
        _registry.pop("hf", None)
        LocalHub.clear_instance_cache()


def test_index_hf_repo_folder(hub: Path, made: Path, tmp_path: Path) -> None:
    result = index_set("hf://datasets/org/wds/data", tmp_path / "out")
    assert result.manifest.base == "hf://datasets/org/wds/data"
    loader = Loader(tmp_path / "out", batch_size=6, world=ONE, allow_external_shards=True)
    assert sorted(k for b in loader for k in b["__key__"]) == all_keys(made)
    # a manifest in the repository itself, naming a base in another repository: refused
    text = (tmp_path / "out" / "manifest.json").read_text()
    other = json.loads(text) | {"base": "hf://datasets/someone/else/data"}
    (hub / "datasets" / "org" / "wds" / "manifest.json").write_text(json.dumps(other))
    with pytest.raises(UnsafeURLError, match="not on the manifest's own host"):
        Loader("hf://datasets/org/wds", batch_size=6, world=ONE)


# -- containment of a manifest's base ----------------------------------------------------------


@pytest.mark.parametrize(
    ("manifest", "base", "root"),
    [
        ("/data/idx/manifest.json", None, "/data/idx"),
        ("/data/idx/manifest.json", "/mnt/ro/shards", "/mnt/ro/shards"),
        ("/data/idx/manifest.json", "../shards", "/data/shards"),
        ("/data/idx/manifest.json", "file:///mnt/ro", "/mnt/ro"),
        ("https://h.org/a/b/manifest.json", "https://h.org/c/", "https://h.org/c"),
        ("https://h.org/a/b/manifest.json", "../../c", "https://h.org/c"),
        ("s3://bkt/idx/manifest.json", "s3://bkt/wds", "s3://bkt/wds"),
        ("hf://datasets/o/r@main/m.json", "hf://datasets/o/r/data", "hf://datasets/o/r/data"),
    ],
)
def test_base_on_the_manifests_origin(manifest: str, base: str | None, root: str) -> None:
    assert shard_root(manifest, base) == root


@pytest.mark.parametrize(
    ("manifest", "base"),
    [
        ("https://h.org/a/manifest.json", "file:///etc"),  # remote -> local files
        ("https://h.org/a/manifest.json", "/etc"),
        ("https://h.org/a/manifest.json", "https://other.org/a"),  # another host
        ("https://h.org/a/manifest.json", "http://h.org/a"),  # another scheme
        ("https://h.org/a/manifest.json", "https://h.org:8443/a"),  # another port
        ("s3://bkt/idx/manifest.json", "s3://other-bkt/wds"),
        ("hf://datasets/o/r/manifest.json", "hf://datasets/o/other"),
        ("/data/idx/manifest.json", "https://h.org/wds"),  # local -> remote
    ],
)
def test_base_elsewhere_needs_the_opt_in(manifest: str, base: str) -> None:
    with pytest.raises(UnsafeURLError, match="allow_external_shards=True"):
        shard_root(manifest, base)
    assert shard_root(manifest, base, allow_external=True)


def test_origin() -> None:
    assert origin("/x/y") == origin("file:///z") == ("file", "")
    assert origin("HTTPS://H.org/x") == ("https", "h.org")
    assert (
        origin("hf://datasets/o/r@v1/x") == origin("hf://datasets/o/r/y") == ("hf", "datasets/o/r")
    )


def test_hostile_remote_manifest_cannot_reach_local_files(
    made: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A served manifest whose base is file:/// (the shards exist locally!) is refused
    unless the user opts in; shard names that climb out of the base are refused too."""
    www = tmp_path / "www"
    www.mkdir()
    manifest = json.loads((made / "manifest.json").read_text())
    (www / "manifest.json").write_text(json.dumps(manifest | {"base": f"file://{made}"}))
    climbing = json.loads(json.dumps(manifest | {"base": "set"}))
    climbing["splits"]["train"]["shards"][0]["name"] = "../../made/train-000000.tar"
    (www / "climb.json").write_text(json.dumps(climbing))
    with nginx(www, tmp_path_factory.mktemp("nginx-hostile")) as url:
        with pytest.raises(UnsafeURLError, match=r"base 'file://.*' is a local path, not on"):
            Loader(f"{url}/manifest.json", batch_size=4, world=ONE)
        report = verify(f"{url}/manifest.json", opts=RemoteOptions(retries=0))
        assert not report.ok and "is a local path" in str(report.findings[0])
        opted = Loader(f"{url}/manifest.json", batch_size=4, world=ONE, allow_external_shards=True)
        assert sorted(k for b in opted for k in b["__key__"]) == all_keys(made)
        with pytest.raises(UnsafeURLError, match=r"shard entry 0 .* climbs out"):
            Loader(f"{url}/climb.json", batch_size=4, world=ONE)


def test_version_1_manifests_still_read(made: Path, tmp_path: Path) -> None:
    data = json.loads((made / "manifest.json").read_text())
    old = tmp_path / "v1"
    shutil.copytree(made, old)
    (old / "manifest.json").write_text(json.dumps({**data, "version": 1}))
    assert sum(len(b["__key__"]) for b in Loader(old, batch_size=5, world=ONE)) == 22
    (old / "manifest.json").write_text(json.dumps({**data, "version": 1, "base": "x"}))
    with pytest.raises(SourceError, match="base and source_split need manifest version 2"):
        Loader(old, batch_size=5, world=ONE)
    (old / "manifest.json").write_text(json.dumps({**data, "version": 3}))
    with pytest.raises(SourceError, match="reads versions 1, 2; a newer one"):
        Loader(old, batch_size=5, world=ONE)
