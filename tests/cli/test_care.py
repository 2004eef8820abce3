"""`snap forget`, `snap gc`, `snap unlock`, `snap check --read-data-subset` end to end."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.cli.conftest import assert_fails, make_project, run_snap
from tests.helpers import random_bytes, write


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_forget_then_gc_frees_space_and_keeps_tagged(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    write(root / "data/raw/big.bin", random_bytes(2 << 20, seed=1))
    first = json.loads(_ok(run_snap("take", "data/raw", "--json", cwd=root)))["id"]
    write(root / "data/raw/big.bin", random_bytes(2 << 20, seed=2))
    _ok(run_snap("take", "data/raw", "--tag", "keep", cwd=root))

    assert first[:12] in _ok(run_snap("forget", "--keep-last", "0", "--dry-run", cwd=root))
    assert_fails(run_snap("forget", "keep", cwd=root), 8, "tagged")
    assert "forgot 1 snapshots" in _ok(run_snap("forget", first, cwd=root))

    report = _ok(run_snap("gc", cwd=root))  # dry run by default; all objects are young
    assert "nothing to delete" in report
    past = time.time() - 7200
    for path in (root / ".snap").rglob("*"):
        os.utime(path, (past, past))
    plan = json.loads(_ok(run_snap("gc", "--json", cwd=root)))
    assert plan["applied"] is False and plan["freed_bytes"] >= 2 << 20
    done = json.loads(_ok(run_snap("gc", "--yes", "--json", cwd=root)))
    assert done["applied"] is True
    _ok(run_snap("check", "--read-data", cwd=root))
    _ok(run_snap("restore", "keep", str(tmp_path / "out"), cwd=root))
    assert (tmp_path / "out/big.bin").read_bytes() == random_bytes(2 << 20, seed=2)


def test_unlock_stale_only_and_lock_error_names_the_holder(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    _ok(run_snap("take", "data/raw", cwd=root))
    lock = {
        "kind": "exclusive",
        "command": "gc",
        "host": "other-host",
        "pid": 4242,
        "user": "ci",
        "created": time.time(),
        "refreshed": time.time(),
    }
    (root / ".snap/locks").mkdir(exist_ok=True)
    (root / ".snap/locks" / ("ab" * 16)).write_text(json.dumps(lock))
    err = assert_fails(run_snap("take", "data/raw", cwd=root), 10, "snap gc", "ci@other-host")
    assert "since" in err
    assert "removed 0 locks" in _ok(run_snap("unlock", "--stale-only", cwd=root))  # it is fresh
    assert "removed 1 locks" in _ok(run_snap("unlock", cwd=root))
    _ok(run_snap("take", "data/raw", cwd=root))


def test_check_subset_and_bad_share(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    _ok(run_snap("take", "data/raw", cwd=root))
    assert "read" in _ok(run_snap("check", "--read-data-subset", "10%", cwd=root))
    result = run_snap("check", "--read-data-subset", "150%", cwd=root)
    assert result.returncode == 2 and "10%" in result.stderr
