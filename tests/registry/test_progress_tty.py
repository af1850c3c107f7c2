"""Progress bars (``registry/cli/output.py``): drawn on a real terminal, absent otherwise.

The terminal cases run Python with its standard error on the slave side of a pseudo-terminal
(``os.openpty``) and read what was drawn from the master side; standard output stays a pipe,
so what the functions returned is read apart from what they drew.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios

import pytest
from visiondata.registry.cli.output import progress, progress_bar, progress_enabled

#: Run first in the child to make tqdm unimportable, as when the loaders extra is missing.
NO_TQDM = "import sys; sys.modules['tqdm'] = None\n"

CALLS = """\
from visiondata.registry.cli.output import progress, progress_bar, progress_enabled
print(progress_enabled(), progress_enabled(False))
print(list(progress(['a', 'b', 'c'], total=3, desc='cards', enabled={enabled})))
bar = progress_bar(5, desc='shards', unit='shard', enabled={enabled})
print(type(bar).__name__)
if bar is not None:
    bar.update(5)
    bar.close()
"""


def run_on_a_terminal(code: str, columns: int = 100) -> tuple[str, str]:
    """``code`` run with standard error on a pseudo-terminal: (stdout, what the terminal got)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=slave, env=env
        )
    finally:
        os.close(slave)
    drawn = bytearray()
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the slave side has gone
                break
            if not chunk:
                break
            drawn += chunk
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, drawn.decode("utf-8", "replace")
    return out.decode(), drawn.decode("utf-8")


def test_bars_are_drawn_on_a_terminal_and_the_items_pass_through() -> None:
    out, drawn = run_on_a_terminal(CALLS.format(enabled=True))
    assert out.splitlines() == ["True False", "['a', 'b', 'c']", "tqdm"]
    # progress(): its bar starts at 0/3 and is wiped when done (leave=False)
    assert "cards:   0%|" in drawn and "| 0/3 [" in drawn
    cards_end = drawn.rindex("0/3 [")
    wiped = drawn[cards_end:].split("\r")[1]
    assert wiped.strip() == "" and len(wiped) >= 80
    # progress_bar(): counts in its unit and stays on screen
    assert "shards: 100%|" in drawn and "| 5/5 [" in drawn and "shard/s]" in drawn
    assert drawn.endswith("\r\n")


def test_nothing_is_drawn_on_a_terminal_when_not_enabled() -> None:
    out, drawn = run_on_a_terminal(CALLS.format(enabled=False))
    assert out.splitlines() == ["True False", "['a', 'b', 'c']", "NoneType"]
    assert drawn == ""


def test_without_tqdm_a_terminal_gets_no_bar_and_no_error() -> None:
    out, drawn = run_on_a_terminal(NO_TQDM + CALLS.format(enabled=True))
    assert out.splitlines() == ["False False", "['a', 'b', 'c']", "NoneType"]
    assert drawn == ""


def test_the_bar_fits_a_narrow_terminal() -> None:
    _, drawn = run_on_a_terminal(CALLS.format(enabled=True), columns=40)
    lines = [part for part in drawn.replace("\n", "\r").split("\r") if part.strip()]
    assert lines and all(len(line) <= 40 for line in lines), lines
    assert any("5/5" in line for line in lines)


@pytest.mark.parametrize("enabled", [True, False])
def test_nothing_is_drawn_when_stderr_is_not_a_terminal(
    enabled: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not sys.stderr.isatty()  # pytest's capture: neither a pipe nor a file is a terminal
    assert progress_enabled(enabled) is False
    items = iter(range(4))
    assert list(progress(items, total=4, desc="cards", enabled=enabled)) == [0, 1, 2, 3]
    assert progress_bar(4, desc="shards", enabled=enabled) is None
    assert capsys.readouterr() == ("", "")


def test_a_piped_stderr_gets_nothing() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CALLS.format(enabled=True)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["False False", "['a', 'b', 'c']", "NoneType"]
    assert proc.stderr == ""
