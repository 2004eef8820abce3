"""Progress bars: drawn on a terminal only, and never left behind by an error."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import threading
import time
from pathlib import Path

from tests.cli.conftest import (
    SNAP,
    TIMEOUT,
    assert_ok,
    make_project,
    run_snap,
    snap_env,
)
from tests.helpers import random_bytes, write

HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


def _project_with_big_file(root: Path) -> Path:
    make_project(root)
    write(root / "data/raw/big.bin", random_bytes(8 << 20, seed=5))
    return root


def run_with_terminal_stderr(*args: str, cwd: Path) -> tuple[int, str]:
    """`snap ARGS` with stderr on a pseudo-terminal (as in a shell); (exit code, stderr)."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        proc = subprocess.run(
            [SNAP, *args],
            cwd=cwd,
            env=snap_env(),
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=TIMEOUT,
        )
    finally:
        os.close(slave)
        reader.join(TIMEOUT)
        os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


def test_piped_output_has_no_progress_bar(tmp_path: Path):
    root = _project_with_big_file(tmp_path / "proj")
    colors = {"FORCE_COLOR": "1", "TERM": "xterm-256color"}  # rich would draw if asked
    for args in (("take", "data/raw", "--tag", "v1"), ("restore", "v1", str(tmp_path / "out"))):
        result = run_snap(*args, cwd=root, env=colors)
        assert_ok(result)  # stderr is empty
        assert "\x1b" not in result.stdout


def test_a_terminal_gets_a_progress_bar_that_cleans_up(tmp_path: Path):
    root = _project_with_big_file(tmp_path / "proj")
    assert_ok(run_snap("take", "data/raw", "--tag", "v1", cwd=root))
    code, stderr = run_with_terminal_stderr("restore", "v1", str(tmp_path / "out"), cwd=root)
    assert code == 0, stderr
    assert "restoring" in stderr
    assert stderr.count(HIDE_CURSOR) == stderr.count(SHOW_CURSOR) > 0


def test_a_take_shows_bytes_read_and_a_take_that_reads_nothing_shows_no_bar(tmp_path: Path):
    """A take streams, so its bar has no total: it appears at the first read."""
    root = _project_with_big_file(tmp_path / "proj")
    code, stderr = run_with_terminal_stderr("take", "data/raw", "--tag", "v1", cwd=root)
    assert code == 0, stderr
    assert "hashing" in stderr
    assert stderr.count(HIDE_CURSOR) == stderr.count(SHOW_CURSOR) > 0
    time.sleep(1.1)  # past the stat cache's racy window, so the re-take reads nothing
    assert_ok(run_snap("take", "data/raw", cwd=root))  # (records the files as cached)
    code, stderr = run_with_terminal_stderr("take", "data/raw", cwd=root)
    assert code == 0, stderr
    assert "hashing" not in stderr and HIDE_CURSOR not in stderr


def test_an_error_stops_the_bar_first(tmp_path: Path):
    """The bar is cleared and the cursor shown again before the error is printed."""
    root = _project_with_big_file(tmp_path / "proj")
    assert_ok(run_snap("take", "data/raw", "--tag", "v1", cwd=root))
    packs = [p for p in (root / ".snap/data").rglob("*") if p.is_file()]
    for pack in packs:
        data = bytearray(pack.read_bytes())
        data[0] ^= 0xFF
        pack.write_bytes(bytes(data))
    code, stderr = run_with_terminal_stderr("restore", "v1", str(tmp_path / "out"), cwd=root)
    assert code == 6, stderr
    assert "restoring" in stderr  # the bar was drawn ...
    assert stderr.count(HIDE_CURSOR) == stderr.count(SHOW_CURSOR)  # ... and taken down
    before, _, error = stderr.rpartition("snap: error:")
    visible = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", before)
    assert re.split(r"[\r\n]", visible)[-1] == "", repr(before[-80:])  # a line of its own
    assert "corrupt" in error
