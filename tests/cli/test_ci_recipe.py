"""The GitHub Actions recipe in docs/ci/ runs as written, on a store with real spam runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.cli.conftest import run_snap
from tests.helpers import spam_project

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "docs/ci/snapkit-gate.yml"


def _commands() -> list[str]:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["gate"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    return [r for r in runs if not r.startswith("pip ")]  # the test venv has snapkit


def test_the_ci_recipe_runs_green(tmp_path: Path):
    project = spam_project(tmp_path / "proj")
    store = project / ".snap"
    env = {"SNAP_STORE": str(store)}
    for config in ("experiment", "production"):
        result = run_snap(
            "run",
            "pipelines/spam",
            "--config",
            config,
            "--set",
            "generate.rows=3000",
            cwd=project,
            env=env,
        )
        assert result.returncode == 0, result.stderr
    summary = tmp_path / "summary.md"
    shell_env = {
        **os.environ,
        "SNAP_STORE": str(store),
        "SNAP_CACHE_DIR": str(tmp_path / "cache"),
        "GITHUB_STEP_SUMMARY": str(summary),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    for command in _commands():
        done = subprocess.run(
            ["bash", "-c", command], cwd=project, env=shell_env, capture_output=True, text=True
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    text = summary.read_text()
    assert "|" in text and "parity" in text.lower() and "expect" in text.lower()
    assert (project / "parity.html").exists() and (project / "validate.xml").exists()
