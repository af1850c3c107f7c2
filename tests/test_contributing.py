"""CONTRIBUTING.md's commands are run, so the guide cannot drift from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GUIDE = (REPO / "CONTRIBUTING.md").read_text()


def _commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_guide_has_commands() -> None:
    assert any(c.startswith("visiondata cards new") for c in _commands())


def test_visiondata_commands_in_the_guide_run_as_documented(tmp_path: Path) -> None:
    (tmp_path / "cards").mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VISIONDATA_CARDS_PATH", None)
    ran = 0
    for command in _commands():
        words = command.split("#")[0].split()
        if "visiondata" not in words[:2]:
            continue
        expected = int(m.group(1)) if (m := re.search(r"#\s*exit (\d+)", command)) else 0
        out = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == expected, f"{command}\n{out.stdout}\n{out.stderr}"
        ran += 1
    assert ran >= 3
    assert (tmp_path / "cards" / "my-dataset-2024.yaml").exists()


def test_other_commands_and_files_named_in_the_guide_exist() -> None:
    assert (REPO / ".ci" / "test").exists()
    assert any(c.startswith("bash .ci/test-cards") for c in _commands())
    script = (REPO / ".ci" / "test-cards").read_text()
    assert os.access(REPO / ".ci" / "test-cards", os.X_OK)
    assert 'python -m pip install -q -e . "pytest>=8"' in script  # the base package, no extra
    assert '-m "not extras and not slow"' in script
    for name in re.findall(r"`((?:registry|cards|loaders)/[\w./-]+)`", GUIDE):
        if "my-dataset" not in name:
            assert (REPO / name).exists(), name
