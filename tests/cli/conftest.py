"""Running the real `snap` entry point in a subprocess, as a user would.

`run_snap` always sets SNAP_CACHE_DIR (to a per-test folder, see `_isolated_env`) and leaves
SNAP_STORE unset unless the test sets it, so no test reads the developer's own store or cache.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

SNAP = shutil.which("snap", path=str(Path(sys.executable).parent)) or shutil.which("snap")
TIMEOUT = 60


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAP_CACHE_DIR", str(tmp_path / "snap-cache"))
    monkeypatch.delenv("SNAP_STORE", raising=False)


def snap_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """os.environ without SNAP_STORE, with `env` applied on top (None removes a variable)."""
    merged = {k: v for k, v in os.environ.items() if k != "SNAP_STORE"}
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if not merged.get("SNAP_CACHE_DIR"):
        raise AssertionError("run_snap needs SNAP_CACHE_DIR: a test must not use the real cache")
    return merged


def run_snap(
    *args: str,
    cwd: Path,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`snap ARGS` in `cwd`; see `snap_env` for the environment."""
    assert SNAP, "the snap entry point is not installed next to this Python"
    return subprocess.run(
        [SNAP, *args],
        cwd=cwd,
        env=snap_env(env),
        input=input,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def run_in_mount_namespace(
    script: str, *, cwd: Path, env: Mapping[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`sh -c SCRIPT` in a private mount namespace (it may mount tmpfs, read-only binds).

    $SNAP is the entry point. Skips the test where user namespaces are not allowed.
    """
    if not _mount_namespaces_work():
        pytest.skip("unshare --mount --map-root-user is not permitted here")
    return subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", script],
        cwd=cwd,
        env={**snap_env(env), "SNAP": str(SNAP)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@functools.cache
def _mount_namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
        capture_output=True,
        timeout=TIMEOUT,
    )
    return probe.returncode == 0


def assert_fails(result: subprocess.CompletedProcess[str], code: int, *mentions: str) -> str:
    """Exit `code`, one `snap: error:` line naming every `mention`, no traceback.

    Returns the error line.
    """
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("snap: error:")]
    assert len(errors) == 1, result.stderr
    for mention in mentions:
        assert mention in errors[0], (mention, result.stderr)
    return errors[0]


def assert_ok(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 0 and nothing on stderr; returns stdout."""
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert result.stderr == "", result.stderr
    return result.stdout


def make_project(root: Path) -> Path:
    """A project folder (marked by `.git`, like a real checkout) with data/raw to snapshot."""
    from tests.helpers import write

    (root / ".git").mkdir(parents=True)
    write(root / "data/raw/emails.txt", "hello\nworld\n")
    write(root / "data/raw/labels/part-0.txt", "spam\nham\n")
    return root
