"""Commands that never read a tree start without pyarrow and numpy (≈0.13 s of imports)."""

from __future__ import annotations

import os
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


BLAS_PROBE = """
import os, sys
from snapkit.procenv import limit_blas_threads
if sys.argv[1] == "limit":
    limit_blas_threads()
import numpy
from snapkit.pipeline.runner import step_environment
print(len(os.listdir("/proc/self/task")), step_environment().get("OPENBLAS_NUM_THREADS", "-"))
"""


def _blas(mode: str, **env: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", BLAS_PROBE, mode],
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_snap_loads_openblas_with_one_thread_and_steps_get_the_users_environment() -> None:
    """`snap` (main) limits OpenBLAS to one thread for itself; a step's environment is the
    user's: without the variable, or with the user's own value."""
    assert _blas("limit") == ["1", "-"]  # no thread besides the main one; steps unaffected
    assert _blas("limit", OPENBLAS_NUM_THREADS="3")[1] == "3"  # the user's own, kept
    if (os.cpu_count() or 1) > 1:  # numpy on its own starts a thread per core
        assert int(_blas("plain")[0]) > 1


def test_the_snap_command_is_what_limits_them() -> None:
    probe = (
        "import os, sys\n"
        "from snapkit.cli.main import main\n"
        "sys.argv = ['snap', '--version']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(os.environ.get('OPENBLAS_NUM_THREADS', '-'))\n"
    )
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=environ, capture_output=True, text=True, check=True
    )
    assert done.stdout.split()[-1] == "1"
