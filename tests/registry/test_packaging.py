"""Packaging: no torch on the registry side; the wheel ships cards and installs cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

NO_TORCH = """
import sys
from visiondata.registry.cli import main
import visiondata.registry, visiondata.loaders
for argv in {argvs!r}:
    try:
        main(argv)
    except SystemExit:
        pass
bad = sorted(m for m in sys.modules if m.split('.')[0] in {{'torch', 'webdataset', 'PIL', 'av', 'matplotlib'}})
print('IMPORTED', bad)
"""


def test_registry_and_cards_commands_do_not_import_torch() -> None:
    argvs = [
        ["cards", "list"],
        ["cards", "list", "--format", "json"],
        ["cards", "show", "coco-2017"],
        ["cards", "validate"],
        ["cards", "schema"],
        ["cards", "vocab"],
        ["--help"],
    ]
    out = subprocess.run(
        [sys.executable, "-c", NO_TORCH.format(argvs=argvs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "IMPORTED []"


def test_cards_list_starts_fast() -> None:
    # Import cost only, measured by the interpreter itself (-X importtime), not wall-clock.
    out = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import visiondata.registry.cli, visiondata.registry.cli.cards",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    heavy = [
        line
        for line in out.stderr.splitlines()
        if any(f"| {m}" in line for m in ("torch", "duckdb", "pyarrow"))
    ]
    assert heavy == []


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_lists_cards(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    (wheel,) = dist.glob("visiondata-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "visiondata/cards/coco-2017.yaml" in names
    assert "visiondata/registry/card.schema.json" in names
    assert "visiondata/loaders/shards/manifest.py" in names
    top = {n.split("/")[0] for n in names}
    assert top <= {
        "visiondata",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    }, top

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VISIONDATA_CARDS_PATH")}
    out = subprocess.run(
        [str(env_dir / "bin" / "visiondata"), "cards", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert any(line.startswith("coco-2017 ") for line in out.stdout.splitlines())
    no_bare = subprocess.run(
        [
            str(py),
            "-c",
            "import importlib.util as u; print(u.find_spec('registry'), u.find_spec('loaders'), u.find_spec('torch'))",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert no_bare.stdout.split() == ["None", "None", "None"], no_bare.stdout + no_bare.stderr
