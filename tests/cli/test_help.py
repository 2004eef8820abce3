"""--help for every command, --version, and a `snap --help` that does not import the world."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from snapkit import __version__
from snapkit.cli.main import cli
from snapkit.errors import EXIT_CODES
from tests.cli.conftest import assert_ok, run_snap

PURPOSE = {
    "init": "Create the store",
    "take": "Snapshot a folder",
    "restore": "Bring back SNAPSHOT",
    "log": "List snapshots",
    "show": "Show one snapshot",
    "ls": "List the files of a snapshot",
    "tag": "Point tag NAME at SNAPSHOT",
    "check": "Verify the store",
    "forget": "Drop snapshot records",
    "gc": "Delete packs and trees that no snapshot reaches",
    "unlock": "Remove store locks",
    "diff": "Show what changed from snapshot OLD",
    "run": "Run a pipeline, snapshotting every step",
    "runs": "List past runs",
    "rerun": "Run a recorded step again from its recorded inputs",
    "logs": "Print the stored output of a step",
    "lineage": "What made a snapshot or step",
    "validate": "Check TARGET against an expectation suite",
    "suite": "Expectation suites",
    "parity": "Prove production runs the same preprocessing as the experiment",
}
HEAVY = ("pyarrow", "boto3", "botocore", "fsspec", "rich", "pandas", "numpy")


def test_every_command_has_its_purpose_here():
    assert set(cli.commands) == set(PURPOSE)  # a new command needs a line above


@pytest.mark.parametrize("command", sorted(PURPOSE))
def test_command_help(command: str, tmp_path: Path):
    out = assert_ok(run_snap(command, "--help", cwd=tmp_path))
    assert out.startswith(f"Usage: snap {command} ")
    assert PURPOSE[command] in " ".join(out.split())  # click may wrap the line


def test_main_help_lists_commands_and_exit_codes(tmp_path: Path):
    out = " ".join(assert_ok(run_snap("--help", cwd=tmp_path)).split())
    for command in PURPOSE:
        assert re.search(rf"\b{command}\b", out)
    for name, code in EXIT_CODES.items():
        assert f"{code} {name}" in out


def test_version(tmp_path: Path):
    assert assert_ok(run_snap("--version", cwd=tmp_path)).strip() == f"snap, version {__version__}"


def test_importing_the_cli_stays_light(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import snapkit.cli.main"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert heavy == []
