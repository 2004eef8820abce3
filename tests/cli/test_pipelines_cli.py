"""`snap run`, `runs`, `run show`, `restore RUN:STEP`, `rerun`, `logs`, `lineage` end to end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import assert_fails, run_snap
from tests.pipelines.test_runner import project  # noqa: F401 - the fixture


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_run_runs_show_restore_rerun_logs_lineage(project: Path):  # noqa: F811
    out = _ok(run_snap("run", "pipelines/tiny", "--json", cwd=project))
    record = json.loads(out)
    run_id = record["id"]
    assert [s["status"] for s in record["steps"]] == ["succeeded"] * 3

    text = _ok(run_snap("run", "pipelines/tiny", cwd=project))
    assert "cached" in text and f"from run {run_id}" in text

    listed = json.loads(_ok(run_snap("runs", "--json", cwd=project)))
    assert [r["status"] for r in listed] == ["succeeded", "succeeded"]
    shown = json.loads(_ok(run_snap("run", "show", run_id, "--json", cwd=project)))
    assert shown["steps"][1]["fingerprint"]["params"] == {"feat.stamp": False, "feat.power": 2}
    assert "fingerprint" in _ok(run_snap("run", "show", run_id, cwd=project))

    _ok(run_snap("restore", f"{run_id}:feat", "back", cwd=project))
    assert (project / "back/prepped.csv").exists() and (project / "back/feat.py").exists()
    _ok(run_snap("restore", f"{run_id}:feat", "made", "--outputs", cwd=project))
    assert (project / "made/out/features.parquet").exists()

    assert "reproduced" in _ok(run_snap("rerun", f"{run_id}:prep", cwd=project))
    assert "token is" in _ok(run_snap("logs", f"{run_id}:feat", cwd=project))
    lineage = _ok(run_snap("lineage", f"{run_id}:feat", cwd=project))
    assert f"{run_id}:prep outputs" in lineage and f"{run_id}:report inputs" in lineage


def test_rerun_that_differs_exits_13(project: Path):  # noqa: F811
    spec = project / "pipelines/tiny/pipeline.yaml"
    spec.write_text(spec.read_text().replace("stamp: false", "stamp: true"))
    run_id = json.loads(_ok(run_snap("run", "pipelines/tiny", "--json", cwd=project)))["id"]
    result = run_snap("rerun", f"{run_id}:feat", cwd=project)
    assert_fails(result, 13, "did not reproduce")
    assert "out/features.parquet" in result.stdout and "made_at" in result.stdout


def test_invalid_pipeline_exits_11_and_runs_nothing(project: Path):  # noqa: F811
    spec = project / "pipelines/tiny/pipeline.yaml"
    spec.write_text(spec.read_text().replace("outs: [prepped.csv]", "outs: [out]"))
    assert_fails(run_snap("run", "pipelines/tiny", cwd=project), 11, "both write")
    assert_fails(run_snap("run", "pipelines/tiny", "--config", "nope", cwd=project), 11, "nope")
    assert not (project / ".snap/runs").exists()


def test_unknown_run_or_step_is_not_found(project: Path):  # noqa: F811
    _ok(run_snap("run", "pipelines/tiny", cwd=project))
    assert_fails(run_snap("logs", "nope:feat", cwd=project), 3, "nope")
    assert_fails(run_snap("rerun", "latest:nope", cwd=project), 3, "nope")
    assert_fails(run_snap("run", "show", "nope", cwd=project), 3, "nope")
