"""The runner end to end on a small real pipeline (subprocess steps, a real local store)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import snapkit
from snapkit.errors import InvalidPipeline, NotFound, StepFailed
from tests.helpers import snapshot_of, write

PIPELINE = """
name: tiny
params:
  prep: {scale: 2}
  feat: {stamp: false, power: 2}
steps:
  prep:
    cmd: python prep.py raw.csv prepped.csv ${prep.scale}
    deps: [prep.py, raw.csv]
    outs: [prepped.csv]
    params: [prep]
  feat:
    cmd: python feat.py prepped.csv out/features.parquet ${feat.stamp} ${feat.power}
    deps: [feat.py, prepped.csv]
    outs: [out]
    params: [feat]
    env: [TINY_MODE, {name: TINY_API_TOKEN, secret: true}]
  report:
    cmd: python report.py out/features.parquet report.json
    deps: [report.py, out]
    outs: [report.json]
configs:
  triple: {params: {prep.scale: 3}}
"""

PREP = """
import sys
src, dst, k = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = open(src).read().splitlines()
with open(dst, "w") as f:
    f.write(rows[0] + "\\n")
    for r in rows[1:]:
        i, x = r.split(",")
        f.write(f"{i},{float(x) * k}\\n")
"""

FEAT = """
import os, sys, time
import pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as pacsv, pyarrow.parquet as pq
src, dst, stamp = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
t = pacsv.read_csv(src)
t = t.append_column("x2", pc.power(t["x"], float(sys.argv[4])))
if stamp:
    t = t.append_column("made_at", pa.array([time.time_ns()] * t.num_rows))
os.makedirs(os.path.dirname(dst), exist_ok=True)
pq.write_table(t, dst)
print("token is", os.environ.get("TINY_API_TOKEN", "-"))
if os.environ.get("TINY_FAIL"):
    sys.exit(3)
"""

REPORT = """
import json, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
json.dump({"rows": t.num_rows, "sum_x2": sum(t["x2"].to_pylist())}, open(sys.argv[2], "w"))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    p = root / "pipelines" / "tiny"
    write(p / "pipeline.yaml", PIPELINE)
    write(p / "prep.py", textwrap.dedent(PREP))
    write(p / "feat.py", textwrap.dedent(FEAT))
    write(p / "report.py", textwrap.dedent(REPORT))
    write(p / "raw.csv", "id,x\n" + "".join(f"{i},{i * 0.5}\n" for i in range(200)))
    return root


@pytest.fixture
def store(project: Path):
    s = snapkit.open_store(str(project / ".snap"), create=True, cwd=project)
    yield s
    s.close()


def _statuses(record) -> dict[str, str]:
    return {s.name: s.status for s in record.steps}


def test_first_run_snapshots_every_step_and_second_run_runs_nothing(store, project):
    pipe = project / "pipelines/tiny"
    first = store.run(pipe)
    assert _statuses(first) == {"prep": "succeeded", "feat": "succeeded", "report": "succeeded"}
    for s in first.steps:
        assert s.inputs and s.outputs and s.log and s.fingerprint["id"]
    assert (pipe / "report.json").exists()
    second = store.run(pipe)
    assert _statuses(second) == {"prep": "cached", "feat": "cached", "report": "cached"}
    assert all(s.cached_from == first.id for s in second.steps)
    assert store.log() == []  # step snapshots stay out of the plain log...
    assert len(store.log(steps=True)) >= 6  # ...but they are there


def test_changed_param_reruns_that_step_and_downstream_only(store, project):
    pipe = project / "pipelines/tiny"
    store.run(pipe)
    spec = pipe / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("power: 2}", "power: 3}"))
    record = store.run(pipe)
    assert _statuses(record) == {"prep": "cached", "feat": "succeeded", "report": "succeeded"}
    record = store.run(pipe, config="triple")  # the first step's param: everything after it
    assert _statuses(record) == {"prep": "succeeded", "feat": "succeeded", "report": "succeeded"}


def test_a_param_change_that_changes_no_output_stops_there(store, project):
    """Content, not timestamps: the step reruns, its consumers see identical inputs."""
    pipe = project / "pipelines/tiny"
    store.run(pipe)
    spec = pipe / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("power: 2}", "power: 2, note: unused}"))
    record = store.run(pipe)
    assert _statuses(record) == {"prep": "cached", "feat": "succeeded", "report": "cached"}


def test_changed_input_content_reruns_its_consumers(store, project):
    pipe = project / "pipelines/tiny"
    store.run(pipe)
    with open(pipe / "report.py", "a") as f:
        f.write("# a comment changes the code, so the step runs again\n")
    assert _statuses(store.run(pipe)) == {"prep": "cached", "feat": "cached", "report": "succeeded"}
    with open(pipe / "raw.csv", "a") as f:
        f.write("200,100.0\n")
    assert _statuses(store.run(pipe)) == {
        "prep": "succeeded",
        "feat": "succeeded",
        "report": "succeeded",
    }


def test_restore_of_past_inputs_is_what_the_step_saw(store, project, tmp_path):
    pipe = project / "pipelines/tiny"
    first = store.run(pipe)
    seen = (pipe / "prepped.csv").read_bytes()
    store.run(pipe, config="triple")  # the workspace moves on
    assert (pipe / "prepped.csv").read_bytes() != seen
    store.restore_step(f"{first.id}:feat", tmp_path / "back")
    assert (tmp_path / "back/prepped.csv").read_bytes() == seen
    assert (tmp_path / "back/feat.py").read_text() == (pipe / "feat.py").read_text()
    store.restore_step(f"{first.id}:prep", tmp_path / "made", outputs=True)
    assert (tmp_path / "made/prepped.csv").read_bytes() == seen


def test_rerun_reproduces_a_deterministic_step_and_names_what_differs(store, project):
    pipe = project / "pipelines/tiny"
    first = store.run(pipe)
    result = store.rerun(f"{first.id}:feat")
    assert result.reproduced and result.differences == ()
    text = (pipe / "pipeline.yaml").read_text().replace("stamp: false", "stamp: true")
    (pipe / "pipeline.yaml").write_text(text)
    stamped = store.run(pipe)
    result = store.rerun(f"{stamped.id}:feat")
    assert not result.reproduced
    [diff] = result.differences
    assert diff.path == "out/features.parquet" and diff.change == "modified"
    assert diff.table is not None and diff.table.columns_differing == ("made_at",)
    assert diff.table.rows_differing == 200


def test_rerun_notes_what_now_differs_from_the_record(store, project, monkeypatch):
    pipe = project / "pipelines/tiny"
    first = store.run(pipe)
    monkeypatch.setenv("TINY_MODE", "fast")
    with open(pipe / "feat.py", "a") as f:
        f.write("# edited since\n")
    result = store.rerun(f"{first.id}:feat")
    assert result.reproduced  # it ran the recorded code...
    assert any("TINY_MODE" in n for n in result.now_differs)  # ...and says what moved on
    assert any("feat.py" in n for n in result.now_differs)


def test_failing_step_is_snapshotted_downstream_skipped_and_resume_works(project):
    pipe = project / "pipelines/tiny"
    snap = [sys.executable, "-m", "snapkit.cli.main"]
    env = {**os.environ, "SNAP_CACHE_DIR": str(project / "cache"), "TINY_FAIL": "1"}
    failed = subprocess.run(
        [*snap, "run", "pipelines/tiny"], cwd=project, env=env, capture_output=True, text=True
    )
    assert failed.returncode == 12, failed.stderr
    assert "snap restore" in failed.stderr and "--from feat" in failed.stderr
    with snapkit.open_store(str(project / ".snap"), cwd=project) as store:
        record = store.run_record("latest")
        assert _statuses(record) == {"prep": "succeeded", "feat": "failed", "report": "skipped"}
        feat = record.step("feat")
        assert feat.exit_code == 3 and feat.outputs and feat.log
        partial = [e.path for e in store.ls(feat.outputs)]
        assert "out/features.parquet" in partial  # written before it failed: kept for debugging
        assert "token is" in store.step_log(f"{record.id}:feat")
    resume = failed.stderr.split("resume: ", 1)[1].split()[:5]
    assert resume[:2] == ["snap", "run"]
    del env["TINY_FAIL"]
    done = subprocess.run(
        [*snap, *resume[1:]], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (pipe / "report.json").exists()


def test_secrets_never_reach_the_store(store, project, monkeypatch):
    monkeypatch.setenv("TINY_API_TOKEN", "s3cr3t-value")
    monkeypatch.setenv("TINY_MODE", "fast")
    record = store.run(project / "pipelines/tiny")
    feat = record.step("feat")
    assert feat.fingerprint["env"] == {"TINY_MODE": "fast", "TINY_API_TOKEN": "(set)"}
    log = store.step_log(f"{record.id}:feat")
    assert "s3cr3t-value" not in log and "token is ****" in log
    for key in store.repo.storage.list(""):
        if key.startswith(("runs", "logs", "snapshots")):
            assert b"s3cr3t-value" not in store.repo.storage.get(key)


def test_killed_run_shows_as_interrupted(project):
    pipe = project / "pipelines/tiny"
    text = (
        (pipe / "pipeline.yaml")
        .read_text()
        .replace("cmd: python prep.py", "cmd: sleep 30 && python prep.py")
    )
    (pipe / "pipeline.yaml").write_text(text)
    env = {**os.environ, "SNAP_CACHE_DIR": str(project / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "snapkit.cli.main", "run", "pipelines/tiny"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    runs = project / ".snap/runs"
    deadline = time.monotonic() + 30
    while not (runs.exists() and any(runs.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with snapkit.open_store(str(project / ".snap"), cwd=project) as store:
        [record] = store.runs()
        assert record.status == "running"  # it could not say so itself...
        assert record.effective_status() == "interrupted"  # ...but it is known dead


def test_lineage_links_steps_within_and_across_runs(store, project):
    pipe = project / "pipelines/tiny"
    first = store.run(pipe)
    graph = store.lineage(f"{first.id}:feat")
    assert [(link.step, link.path) for link in graph.upstream] == [("prep", "prepped.csv")]
    assert ("report", "out") in [(link.step, link.path) for link in graph.downstream]
    by_snapshot = store.lineage(first.step("prep").outputs)
    assert by_snapshot.subject == f"{first.id}:prep"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("outs: [prepped.csv]", "outs: [out]"), "both write"),
        (("deps: [prep.py, raw.csv]", "deps: [prep.py, nope.csv]"), "nope.csv"),
        (("deps: [report.py, out]", "deps: [report.py, out, report.json]"), "report"),
        (("cmd: python report.py", "cmdx: python report.py"), "report"),
        (("params: [prep]", "params: [nope]"), "nope"),
        (("params: [prep]", "params: [prep]\n    on_fail: warning"), "on_fail"),
        (("params: [prep]", "params: [prep]\n    expectations: {raw.csv: s.json}"), "raw.csv"),
    ],
)
def test_bad_specs_fail_before_anything_runs(store, project, change, message):
    pipe = project / "pipelines/tiny"
    text = (pipe / "pipeline.yaml").read_text().replace(*change)
    (pipe / "pipeline.yaml").write_text(text)
    with pytest.raises(InvalidPipeline, match=message):
        store.run(pipe)
    assert store.runs() == []
    assert not (pipe / "prepped.csv").exists()


def test_cycle_is_named(store, project):
    pipe = project / "pipelines/tiny"
    text = (
        (pipe / "pipeline.yaml")
        .read_text()
        .replace("deps: [prep.py, raw.csv]", "deps: [prep.py, raw.csv, report.json]")
    )
    (pipe / "pipeline.yaml").write_text(text)
    with pytest.raises(InvalidPipeline, match=r"cycle: .*prep"):
        store.run(pipe)


def test_unknown_run_or_step(store, project):
    store.run(project / "pipelines/tiny")
    with pytest.raises(NotFound):
        store.step("nope:feat")
    with pytest.raises(NotFound, match="no step 'nope'"):
        store.step("latest:nope")
    with pytest.raises(StepFailed):
        os.environ["TINY_FAIL"] = "1"
        try:
            store.run(project / "pipelines/tiny", force=True)
        finally:
            del os.environ["TINY_FAIL"]
    assert snapshot_of(project / "pipelines/tiny")  # the workspace is still there


def test_params_can_live_in_a_params_file(store, project):
    pipe = project / "pipelines/tiny"
    spec = pipe / "pipeline.yaml"
    write(pipe / "params.yaml", "prep: {scale: 5}\nfeat: {stamp: false, power: 2}\n")
    text = spec.read_text()
    start, end = text.index("params:\n"), text.index("steps:")
    spec.write_text(text[:start] + "params: params.yaml\n" + text[end:])
    record = store.run(pipe)
    assert record.step("prep").fingerprint["params"] == {"prep.scale": 5}
    assert (pipe / "prepped.csv").read_text().splitlines()[2] == "1,2.5"


def test_set_applies_after_config(store, project):
    record = store.run(project / "pipelines/tiny", config="triple", params={"prep.scale": 7})
    assert record.step("prep").fingerprint["params"] == {"prep.scale": 7}


def test_step_without_deps_snapshots_no_inputs(store, project):
    spec = project / "pipelines/tiny/pipeline.yaml"
    spec.write_text(spec.read_text().replace("deps: [prep.py, raw.csv]", "deps: []"))
    record = store.run(project / "pipelines/tiny")
    assert store.ls(record.step("prep").inputs) == []


def test_a_cache_entry_whose_snapshot_is_gone_is_replaced(store, project):
    pipe = project / "pipelines/tiny"
    first = store.run(pipe)
    gone = first.step("report").outputs
    store.repo.storage.delete(f"snapshots/{gone}")
    store.repo.objects.cache.discard(f"snapshots/{gone}")
    second = store.run(pipe)
    assert second.step("report").status == "succeeded"
    third = store.run(pipe)
    assert third.step("report").status == "cached"
    assert third.step("report").cached_from == second.id


def test_rerun_in_a_folder_clears_stale_outputs_and_masks_secrets(store, project, monkeypatch):
    monkeypatch.setenv("TINY_API_TOKEN", "s3cr3t-value")
    first = store.run(project / "pipelines/tiny")
    workdir = project / "again"
    write(workdir / "out/features.parquet", b"stale bytes from somewhere else")
    write(workdir / "out/extra.txt", "stale")
    lines: list[str] = []
    result = store.rerun(f"{first.id}:feat", workdir=workdir, output=lines.append)
    assert result.reproduced and not (workdir / "out/extra.txt").exists()
    assert any("token is ****" in line for line in lines)
    assert not any("s3cr3t-value" in line for line in lines)


def test_latest_run_by_pipeline_and_config(store, project):
    pipe = project / "pipelines/tiny"
    plain = store.run(pipe)
    triple = store.run(pipe, config="triple")
    assert store.run_record("latest").id == triple.id
    assert store.run_record("latest/tiny/default").id == plain.id
    assert store.run_record("latest/tiny/triple").id == triple.id
    with pytest.raises(NotFound, match="no runs of other"):
        store.run_record("latest/other")


def test_run_ids_sort_in_start_order_within_a_second():
    """'latest' and `snap runs` order by id: ids of runs started in the same second must
    still sort by start time (they did not: the suffix after the second was random)."""
    import time

    from snapkit.pipeline.records import new_run_id

    ids = []
    for _ in range(40):
        ids.append(new_run_id())
        time.sleep(0.002)
    assert sorted(ids) == ids and len(set(ids)) == len(ids)
