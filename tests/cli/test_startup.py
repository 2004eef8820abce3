"""Commands that never read a tree start without pyarrow and numpy (≈0.13 s of imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import snapkit
from tests.helpers import write

PROBE = """
import sys
from snapkit.cli.main import cli
try:
    cli(sys.argv[1:], standalone_mode=False, prog_name="snap")
finally:
    print("heavy:", sorted(m for m in ("pyarrow", "numpy") if m in sys.modules), file=sys.stderr)
"""


def _heavy(store: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--store", store, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("args", [("log",), ("tag", "v1", "again"), ("runs",), ("unlock",)])
def test_commands_that_read_no_tree_leave_pyarrow_unloaded(tmp_path: Path, args) -> None:
    write(tmp_path / "data/a.csv", "x,y\n1,2\n")
    store = str(tmp_path / "store")
    with snapkit.open_store(store, create=True, cwd=tmp_path) as s:
        s.take(tmp_path / "data", tags=["v1"])
    assert _heavy(store, *args) == "heavy: []"
    assert _heavy(store, "ls", "v1") == "heavy: ['numpy', 'pyarrow']"  # (reads the tree)
