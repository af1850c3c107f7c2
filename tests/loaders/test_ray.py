"""``--engine ray`` on a real local Ray cluster of two nodes (``ray.cluster_utils.Cluster``,
one CPU each, small object stores), no mocks: convert ImageFolder (real photos) and
COCO and compare every file's sha256 with the local engine's; kill a Ray worker mid-run (Ray
re-runs its shard) and kill the driver mid-run (the rerun keeps the journalled shards); index,
verify and audit on the cluster; write shards from a ``ray.data.Dataset`` and stream them with
the Loader; a wrong address and a missing extra answered in one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .convert_fakes import folder_hashes, realdata

pytestmark = [
    pytest.mark.slow,
    pytest.mark.extras,
    # Ray Data 2.60's DataContext sets several deprecated options of its own on creation
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]

VISIONDATA = [sys.executable, "-m", "visiondata.registry.cli"]
_MB = 2**20


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A two-node Ray cluster on this machine (one CPU, 100 MB of object store each); this
    process is connected to it as a driver."""
    import ray
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": 100 * _MB}
    c = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        c.add_node(**node)
        c.wait_for_nodes(timeout=60)
        ray.init(address=c.address, logging_level="warning", log_to_driver=False)
        assert ray.cluster_resources()["CPU"] == 2.0
        yield c.address
    finally:
        ray.shutdown()
        c.shutdown()


def _photos() -> list[Path]:
    return sorted(
        [
            *realdata("coco", "val2017").glob("*.jpg"),
            *realdata("voc_bccd", "BCCD", "JPEGImages").glob("*.jpg"),
            *realdata("video", "derived", "frames_bbb_10s").glob("*.jpg"),
        ]
    )


def _imagefolder(root: Path, copies: int = 1, broken: bool = False) -> Path:
    """Real photos in three class folders (COCO, BCCD, video frames), ``copies`` of each; with
    ``broken``, one truncated JPEG (a real photo cut in half)."""
    for path in _photos():
        cls = {"val2017": "coco", "JPEGImages": "bccd"}.get(path.parent.name, "frames")
        (root / cls).mkdir(parents=True, exist_ok=True)
        for c in range(copies):
            (root / cls / f"{path.stem}_{c}.jpg").write_bytes(path.read_bytes())
    if broken:
        data = _photos()[0].read_bytes()
        (root / "coco" / "zz_truncated.jpg").write_bytes(data[: len(data) // 2])
    return root


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VISIONDATA, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


# -- convert: the same bytes ----------------------------------------------------------------


def test_imagefolder_on_the_cluster_is_byte_identical_to_local(
    cluster: str, tmp_path: Path
) -> None:
    from visiondata.loaders.convert import convert

    src = _imagefolder(tmp_path / "src", broken=True)
    opts: dict[str, Any] = {"samples_per_shard": 5, "on_error": "skip", "verify": "decode"}
    local = convert("imagefolder", src, tmp_path / "local", **opts)
    ray_run = convert("imagefolder", src, tmp_path / "ray", engine="ray", **opts)
    assert folder_hashes(tmp_path / "ray") == folder_hashes(tmp_path / "local")
    assert len(folder_hashes(tmp_path / "ray")) == 10  # 9 shards of 41 photos (one bad) + manifest
    assert ray_run.written_shards == 9 and sum(ray_run.hosts.values()) == 9
    # the bad photo is named with its path, and the host of the worker that found it
    (skipped,) = ray_run.skipped
    assert skipped == local.skipped[0] and skipped.item == "coco/zz_truncated.jpg"
    host = ray_run.item_hosts[skipped.item]
    assert f"  coco/zz_truncated.jpg: {skipped.reason} (on {host})" in ray_run.summary()
    assert "(on " not in local.summary()


def test_an_item_error_names_the_path_host_and_shard(cluster: str, tmp_path: Path) -> None:
    from visiondata.loaders.convert import ItemError, convert

    src = _imagefolder(tmp_path / "src", broken=True)
    with pytest.raises(ItemError) as err:
        convert(
            "imagefolder", src, tmp_path / "out", samples_per_shard=5, verify="decode", engine="ray"
        )
    assert str(err.value).startswith("coco/zz_truncated.jpg: corrupt or unreadable image")
    assert str(err.value).endswith(", shard train-000004.tar)")  # items 20..24: bccd 16, coco 9
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_coco_through_the_cli_is_byte_identical_to_local(cluster: str, tmp_path: Path) -> None:
    src = str(realdata("coco"))
    for out, engine in (("local", ["--workers", "2"]), ("ray", ["--engine", "ray"])):
        args = ["convert", "coco", src, str(tmp_path / out), "--samples-per-shard", "3"]
        r = (
            _cli(*args, *engine, "--address", cluster, "--format", "json")
            if out == "ray"
            else _cli(*args, *engine, "--format", "json")
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["shards"] == 3
    assert folder_hashes(tmp_path / "ray") == folder_hashes(tmp_path / "local")


# -- losing a worker, losing the driver -------------------------------------------------------


def _wait_for(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")


def _running_tasks() -> list[Any]:
    """The Ray worker processes running one of our tasks now (Ray titles them so)."""
    import psutil

    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if cmd and cmd[0].startswith("ray::_run_task"):
            out.append(p)
    return out


def _journal_lines(out: Path) -> int:
    path = out / ".train.journal.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


_HEAVY = ["--samples-per-shard", "8", "--verify", "decode", "--max-size", "96", "--no-progress"]


@pytest.fixture(scope="module")
def heavy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """160 real photos re-encoded to 96 px (20 shards, long enough to be interrupted), and
    their local conversion."""
    base = tmp_path_factory.mktemp("heavy")
    src = _imagefolder(base / "src", copies=4)
    r = _cli("convert", "imagefolder", str(src), str(base / "local"), *_HEAVY)
    assert r.returncode == 0, r.stderr
    return src, base / "local"


def test_a_killed_ray_worker_costs_only_its_shard(
    cluster: str, heavy: tuple[Path, Path], tmp_path: Path
) -> None:
    src, local = heavy
    out = tmp_path / "ray"
    cmd = [*VISIONDATA, "convert", "imagefolder", str(src), str(out), *_HEAVY]
    run = subprocess.Popen(
        [*cmd, "--engine", "ray", "--address", cluster, "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for("two finished shards", lambda: _journal_lines(out) >= 2)
        victim = _wait_for("a running task", _running_tasks)[0]
        victim.send_signal(signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=180)
    finally:
        run.kill()
    assert run.returncode == 0, stderr
    assert json.loads(stdout)["written"] == 20  # Ray re-ran the lost shard on another worker
    assert folder_hashes(out) == folder_hashes(local)


def test_a_killed_driver_resumes_with_only_the_unfinished_shards(
    cluster: str, heavy: tuple[Path, Path], tmp_path: Path
) -> None:
    src, local = heavy
    out = tmp_path / "ray"
    cmd = [*VISIONDATA, "convert", "imagefolder", str(src), str(out), *_HEAVY]
    cmd += ["--engine", "ray", "--address", cluster, "--format", "json"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for("three finished shards", lambda: _journal_lines(out) >= 3)
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=30)
    finally:
        run.kill()
    assert not (out / "manifest.json").exists()
    done = _journal_lines(out)
    assert 3 <= done < 20
    # the dead driver's tasks are ended by Ray before the rerun writes the same shards
    _wait_for("the dead driver's tasks to end", lambda: not _running_tasks(), timeout=30)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["kept"] >= done and result["kept"] + result["written"] == 20
    assert result["written"] >= 1
    assert folder_hashes(out) == folder_hashes(local)


# -- index, verify, audit on the cluster --------------------------------------------------------


@pytest.fixture(scope="module")
def coco_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from visiondata.loaders.convert import convert

    out = tmp_path_factory.mktemp("coco") / "shards"
    convert("coco", realdata("coco"), out, samples_per_shard=3, card="coco-2017")
    return out


def test_index_and_verify_on_the_cluster(cluster: str, coco_local: Path, tmp_path: Path) -> None:
    from visiondata.loaders.shards.index import index_set
    from visiondata.loaders.shards.verify import verify

    local = index_set(str(coco_local), tmp_path / "local", split="validation")
    on_ray = index_set(str(coco_local), tmp_path / "ray", split="validation", engine="ray")
    assert folder_hashes(tmp_path / "ray") == folder_hashes(tmp_path / "local")
    assert local.manifest == on_ray.manifest

    good = verify(coco_local, engine="ray")
    assert good.ok and good.shards == 3 and good.samples == 8
    broken = tmp_path / "broken"
    shutil.copytree(coco_local, broken)
    shard = broken / "validation-000001.tar"
    data = bytearray(shard.read_bytes())
    data[700] ^= 0xFF  # a byte inside the first image
    shard.write_bytes(bytes(data))
    want = verify(broken, workers=2)
    got = verify(broken, engine="ray")
    assert not got.ok
    assert got.findings == want.findings
    assert [f.kind for f in got.errors] == ["sha256"]

    r = _cli("shards", "verify", str(broken), "--engine", "ray", "--address", cluster)
    assert r.returncode == 1
    assert "validation-000001.tar: sha256" in r.stderr


def test_audit_figures_on_the_cluster_equal_local(cluster: str, coco_local: Path) -> None:
    from visiondata.loaders.audit.audit import AuditOptions, run_audit
    from visiondata.loaders.audit.report import audit_json

    def figures(engine: str) -> dict[str, Any]:
        out = audit_json(run_audit(coco_local, AuditOptions(workers=2), engine=engine))
        out.pop("seconds")
        return out

    local, on_ray = figures("local"), figures("ray")
    assert on_ray == local
    assert len(on_ray["figures"]) > 5


# -- write_shards from a ray.data.Dataset ------------------------------------------------------


def test_write_shards_from_a_ray_dataset_streams_with_the_loader(
    cluster: str, tmp_path: Path
) -> None:
    import ray.data
    from visiondata.loaders import Loader
    from visiondata.loaders.convert import convert, write_shards
    from visiondata.loaders.shards.manifest import read_manifest

    src = _imagefolder(tmp_path / "src")
    convert("imagefolder", src, tmp_path / "converted", samples_per_shard=7)
    classes = read_manifest(tmp_path / "converted").classes
    assert classes is not None
    rows = [
        {
            "__key__": f"{p.parent.name}/{p.stem}",
            "jpg": p.read_bytes(),
            "cls": classes.index(p.parent.name),
        }
        for p in sorted(src.glob("*/*.jpg"), reverse=True)  # order does not matter
    ]
    ds = ray.data.from_items(rows, override_num_blocks=5)
    manifest = write_shards(ds, tmp_path / "out", samples_per_shard=7, classes=classes)

    info = manifest.splits["train"]
    assert info.num_samples == 40 and len(info.shards) == 6
    written = folder_hashes(tmp_path / "out")
    converted = folder_hashes(tmp_path / "converted")
    shards = [s.name for s in info.shards]
    assert {n: written[n] for n in shards} == {n: converted[n] for n in shards}  # same tars
    assert info.class_counts == read_manifest(tmp_path / "converted").splits["train"].class_counts

    loader = Loader(str(tmp_path / "out"), batch_size=8, seed=0, decode="none", shuffle=False)
    keys, labels = [], []
    for batch in loader:
        keys += batch["__key__"]
        labels += [int(x) for x in batch["cls"]]  # decode="none": the members as bytes
    assert sorted(keys) == sorted(r["__key__"] for r in rows)
    assert dict(zip(keys, labels, strict=True)) == {r["__key__"]: r["cls"] for r in rows}


def test_write_shards_refuses_duplicate_keys(cluster: str, tmp_path: Path) -> None:
    import ray.data
    from visiondata.loaders.convert import ConversionError, write_shards

    ds = ray.data.from_items([{"__key__": "a", "txt": "x"}, {"__key__": "a", "txt": "y"}])
    with pytest.raises(ConversionError, match="duplicate sample key 'a'"):
        write_shards(ds, tmp_path / "out", samples_per_shard=1)
    assert not (tmp_path / "out" / "manifest.json").exists()


# -- one line for a wrong address or a missing extra --------------------------------------------


def test_a_wrong_address_is_one_line_and_bounded(tmp_path: Path) -> None:
    t0 = time.monotonic()
    r = _cli(
        "convert", "coco", str(realdata("coco")), str(tmp_path / "out"),
        "--engine", "ray", "--address", "127.0.0.1:9",
    )  # fmt: skip
    assert time.monotonic() - t0 < 30
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "Ray cluster at 127.0.0.1:9: cannot connect" in line


def test_ray_missing_is_one_line(tmp_path: Path) -> None:
    blocked = "import sys; sys.modules['ray'] = None; from visiondata.registry.cli import main; sys.exit(main())"
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            blocked,
            "convert",
            "coco",
            str(realdata("coco")),
            str(tmp_path),
            "--engine",
            "ray",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "RAY_ADDRESS": ""},
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert 'pip install "visiondata[ray]"' in line


CONNECT = """
import sys, time
from visiondata.loaders._engine import RayOptions
from visiondata.loaders._engine._ray import RayEngine
t0 = time.monotonic()
try:
    with RayEngine(RayOptions(sys.argv[1], connect_timeout=3)):
        print("connected")
except Exception as exc:
    print(type(exc).__name__, exc, round(time.monotonic() - t0))
"""


def test_a_port_that_answers_but_is_no_ray_head_is_bounded() -> None:
    """Ray waits without end on a port that accepts but never speaks; the engine does not."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    address = f"127.0.0.1:{server.getsockname()[1]}"
    try:
        r = subprocess.run(
            [sys.executable, "-c", CONNECT, address],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.close()
        for c in held:
            c.close()
    assert r.returncode == 0, r.stderr
    name, _, rest = r.stdout.strip().partition(" ")
    assert name == "EngineError"
    assert rest.startswith(f"Ray cluster at {address}: no answer within 3 s")
    assert int(rest.rsplit(" ", 1)[1]) < 15


# -- OUT at s3:// (a real moto S3 server on loopback) ------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    from .servers import moto_s3

    with moto_s3("rayout") as opts:
        yield opts


def test_convert_to_s3_on_the_cluster_is_byte_identical_to_a_local_folder(
    cluster: str, s3: dict[str, str], tmp_path: Path
) -> None:
    from visiondata.loaders import Loader
    from visiondata.loaders.convert import convert
    from visiondata.loaders.shards.remote import RemoteOptions
    from visiondata.loaders.shards.verify import verify

    from .test_convert_s3 import s3_hashes

    src = _imagefolder(tmp_path / "src", broken=True)
    opts: dict[str, Any] = {"samples_per_shard": 5, "on_error": "skip", "verify": "decode"}
    convert("imagefolder", src, tmp_path / "local", **opts)
    ray_run = convert(
        "imagefolder", src, "s3://rayout/ray", engine="ray", storage_options=s3, **opts
    )
    assert ray_run.written_shards == 9 and sum(ray_run.hosts.values()) == 9
    assert s3_hashes(s3, "rayout/ray") == folder_hashes(
        tmp_path / "local"
    )  # no journal, no lock left

    keys = [
        k for b in Loader("s3://rayout/ray", batch_size=8, storage_options=s3) for k in b["__key__"]
    ]
    assert len(keys) == len(set(keys)) == 40
    report = verify("s3://rayout/ray", opts=RemoteOptions(storage_options=s3), engine="ray")
    assert report.ok and report.shards == 9 and report.samples == 40


def _journal_objects(opts: dict[str, str], prefix: str) -> int:
    import s3fs

    fs = s3fs.S3FileSystem(**opts, skip_instance_cache=True)
    try:
        return len(fs.ls(f"{prefix}/.train.journal", detail=False))
    except FileNotFoundError:
        return 0


def test_a_killed_driver_writing_to_s3_resumes_with_only_the_unfinished_shards(
    cluster: str, s3: dict[str, str], heavy: tuple[Path, Path]
) -> None:
    from .test_convert_s3 import s3_hashes

    src, local = heavy
    cmd = [*VISIONDATA, "convert", "imagefolder", str(src), "s3://rayout/heavy", *_HEAVY]
    cmd += [f"--storage-option={k}={v}" for k, v in s3.items()]
    cmd += ["--engine", "ray", "--address", cluster, "--format", "json"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for("three finished shards", lambda: _journal_objects(s3, "rayout/heavy") >= 3)
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=30)
    finally:
        run.kill()
    done = _journal_objects(s3, "rayout/heavy")
    assert 3 <= done < 20
    _wait_for("the dead driver's tasks to end", lambda: not _running_tasks(), timeout=30)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["kept"] >= done and result["kept"] + result["written"] == 20
    assert result["written"] >= 1
    assert s3_hashes(s3, "rayout/heavy") == folder_hashes(local)


def test_write_shards_to_s3_streams_with_the_loader(
    cluster: str, s3: dict[str, str], tmp_path: Path
) -> None:
    import ray.data
    from visiondata.loaders import Loader
    from visiondata.loaders.convert import write_shards

    from .test_convert_s3 import s3_hashes

    rows = [{"__key__": f"k{i:03d}", "txt": f"sample {i}", "cls": i % 3} for i in range(50)]
    ds = ray.data.from_items(rows, override_num_blocks=4)
    write_shards(ds, tmp_path / "local", samples_per_shard=8, classes=["a", "b", "c"])
    manifest = write_shards(
        ds, "s3://rayout/ds", samples_per_shard=8, classes=["a", "b", "c"], storage_options=s3
    )
    assert len(manifest.splits["train"].shards) == 7
    assert s3_hashes(s3, "rayout/ds") == folder_hashes(tmp_path / "local")  # tars and manifest
    loader = Loader("s3://rayout/ds", batch_size=8, storage_options=s3, decode="none")
    got = {k: int(c) for b in loader for k, c in zip(b["__key__"], b["cls"], strict=True)}
    assert got == {r["__key__"]: r["cls"] for r in rows}
