"""DVC pipelines end to end: a dvc.yaml made by DVC's own CLI, run by snapkit's runner.

The DVC project is built once per module with real `dvc init` / `dvc stage add`
subprocesses (each costs about a second of DVC start-up), then copied for every test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import snapkit
from snapkit.errors import InvalidPipeline
from snapkit.pipeline.dvc import load_dvc_pipeline
from snapkit.pipeline.records import RunRecord
from tests.helpers import write

pytest.importorskip("dvc.repo", reason="DVC pipelines need dvc")

SNAP = Path(sys.executable).parent / "snap"
QUIET = {"DVC_NO_ANALYTICS": "1"}  # DVC checks for updates only in `dvc version`

PREPARE = """
import yaml
factor = yaml.safe_load(open("params.yaml"))["prepare"]["factor"]
rows = open("data.csv").read().splitlines()
with open("prepared.csv", "w") as f:
    f.write(rows[0] + "\\n")
    for row in rows[1:]:
        i, x = row.split(",")
        f.write(f"{i},{int(x) * factor}\\n")
"""

FEATURIZE = """
rows = open("prepared.csv").read().splitlines()
with open("features.csv", "w") as f:
    f.write(rows[0] + ",x2\\n")
    for row in rows[1:]:
        i, x = row.split(",")
        f.write(f"{i},{x},{int(x) ** 2}\\n")
"""

PARAMS = "prepare:\n  factor: 2\nunused: 1\n"


def dvc(*args: str, cwd: Path) -> None:
    """DVC's own CLI, as a user runs it (quiet, offline)."""
    subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=cwd,
        env={**os.environ, **QUIET},
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(autouse=True)
def _quiet_dvc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in QUIET.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SNAP_CACHE_DIR", str(tmp_path / "snap-cache"))
    monkeypatch.delenv("SNAP_STORE", raising=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """prepare (params: prepare.factor) → featurize, made by `dvc stage add`."""
    root = tmp_path_factory.mktemp("dvc-template")
    write(root / "prepare.py", textwrap.dedent(PREPARE))
    write(root / "featurize.py", textwrap.dedent(FEATURIZE))
    write(root / "data.csv", "id,x\n" + "".join(f"{i},{i}\n" for i in range(5)))
    write(root / "params.yaml", PARAMS)
    dvc("init", "--no-scm", "-q", cwd=root)
    add = ("stage", "add", "-q", "-n")
    dvc(*add, "prepare", "-d", "prepare.py", "-d", "data.csv", "-o", "prepared.csv",
        "-p", "params.yaml:prepare.factor", "python prepare.py", cwd=root)  # fmt: skip
    dvc(*add, "featurize", "-d", "featurize.py", "-d", "prepared.csv", "-o", "features.csv",
        "python featurize.py", cwd=root)  # fmt: skip
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(template, root)
    return root


@pytest.fixture
def store(project: Path) -> Iterator[snapkit.Store]:
    s = snapkit.open_store(str(project / ".snap"), create=True, cwd=project)
    yield s
    s.close()


def statuses(record: RunRecord) -> dict[str, str]:
    return {s.name: s.status for s in record.steps}


def tree_paths(store: snapkit.Store, snapshot: str | None) -> set[str]:
    assert snapshot is not None
    tree = store.repo.load_tree(store.repo.load_snapshot(snapshot).tree)
    return {e.path for e in tree if e.kind == "file"}


# -- loading ------------------------------------------------------------------------------


def test_stages_become_steps_through_dvcs_api(project: Path) -> None:
    pipeline = load_dvc_pipeline(project / "dvc.yaml", None)
    assert (pipeline.kind, pipeline.config, pipeline.root) == ("dvc", "default", project)
    prepare, featurize = pipeline.steps
    assert prepare.name == "prepare" and prepare.cmd == "python prepare.py"
    assert set(prepare.deps) == {"prepare.py", "data.csv"}
    assert prepare.outs == ("prepared.csv",)
    assert prepare.params == {"prepare.factor": 2}  # only the declared key, not `unused`
    assert set(featurize.deps) == {"featurize.py", "prepared.csv"}
    assert featurize.params == {}


def test_foreach_matrix_list_cmd_wdir_and_metrics_are_expanded_by_dvc(project: Path) -> None:
    write(project / "sub/keep", "")
    write(
        project / "dvc.yaml",
        textwrap.dedent(
            """
        vars: [{models: {us: 1, eu: 2}}]
        stages:
          train:
            foreach: ${models}
            do:
              cmd: echo ${item} > out_${key}.txt
              outs: ["out_${key}.txt"]
          grid:
            matrix: {a: [1, 2]}
            cmd:
              - echo start
              - echo ${item.a} > grid_${item.a}.txt
            outs: ["grid_${item.a}.txt"]
          report:
            wdir: sub
            cmd: |
              cat ../out_us.txt > report.txt
              echo 1 > m.json
            deps: [../out_us.txt]
            outs: [report.txt]
            metrics: [m.json]
        """
        ),
    )
    pipeline = load_dvc_pipeline(project / "dvc.yaml", None)
    steps = {s.name: s for s in pipeline.steps}
    assert set(steps) == {"train@us", "train@eu", "grid@1", "grid@2", "report"}
    assert steps["grid@2"].cmd == "echo start && echo 2 > grid_2.txt"
    report = steps["report"]
    assert report.cmd == "cd sub && cat ../out_us.txt > report.txt && echo 1 > m.json"
    assert (report.deps, report.outs) == (("out_us.txt",), ("sub/report.txt", "sub/m.json"))
    with snapkit.open_store(str(project / ".snap"), create=True, cwd=project) as store:
        record = store.run(project / "dvc.yaml")
    assert set(statuses(record).values()) == {"succeeded"}
    assert (project / "sub/report.txt").read_text().strip() == "1"


def test_a_config_is_refused(project: Path) -> None:
    with pytest.raises(InvalidPipeline, match="no config 'production'"):
        load_dvc_pipeline(project / "dvc.yaml", "production")


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (
            "a: {cmd: echo, deps: [b.txt], outs: [a.txt]}\n"
            "  b: {cmd: echo, deps: [a.txt], outs: [b.txt]}",
            "cycle",
        ),
        ("a: {cmd: echo, deps: [nowhere.csv], outs: [a.txt]}", "nowhere.csv"),
        ("a: {cmd: echo, deps: [../outside.csv], outs: [a.txt]}", "outside"),
        ("a: {cmd: echo, params: [nope], outs: [a.txt]}", "'nope' are missing"),
        ('a: {cmd: "echo ${nope}", outs: [a.txt]}', "Could not find 'nope'"),
        ("a: {cmd: echo, outz: [a.txt]}", "extra keys not allowed"),
        ("a: {cmd: [echo, ${x}], outs: [a.txt]}", "YAML file structure is corrupted"),
    ],
    ids=["cycle", "missing-dep", "outside", "missing-param", "bad-var", "bad-key", "bad-yaml"],
)
def test_broken_dvc_yaml_is_invalid_pipeline_with_dvcs_message(
    project: Path, stages: str, message: str
) -> None:
    write(project / "dvc.yaml", f"stages:\n  {stages}\n")
    with pytest.raises(InvalidPipeline, match=message):
        load_dvc_pipeline(project / "dvc.yaml", None)


def test_a_dvc_yaml_outside_a_dvc_repo_says_to_init(tmp_path: Path) -> None:
    write(tmp_path / "bare/dvc.yaml", "stages:\n  a: {cmd: echo, outs: [a.txt]}\n")
    with pytest.raises(InvalidPipeline, match="not inside a DVC repository") as caught:
        load_dvc_pipeline(tmp_path / "bare/dvc.yaml", None)
    assert "dvc init" in (caught.value.hint or "")


# -- running ------------------------------------------------------------------------------


def test_run_snapshots_each_stage_and_a_second_run_is_cached(
    store: snapkit.Store, project: Path
) -> None:
    first = store.run(project / "dvc.yaml")
    assert first.kind == "dvc"
    assert statuses(first) == {"prepare": "succeeded", "featurize": "succeeded"}
    prepare, featurize = first.steps
    assert tree_paths(store, prepare.inputs) == {"prepare.py", "data.csv", "params.yaml"}
    assert tree_paths(store, prepare.outputs) == {"prepared.csv"}
    assert tree_paths(store, featurize.inputs) == {"featurize.py", "prepared.csv"}
    assert tree_paths(store, featurize.outputs) == {"features.csv"}
    assert (project / "features.csv").read_text().splitlines()[1:3] == ["0,0,0", "1,2,4"]

    second = store.run(project / "dvc.yaml")
    assert statuses(second) == {"prepare": "cached", "featurize": "cached"}


def test_a_changed_param_reruns_the_stage_and_its_downstream(
    store: snapkit.Store, project: Path
) -> None:
    first = store.run(project / "dvc.yaml")
    (project / "params.yaml").write_text(PARAMS.replace("unused: 1", "unused: 2"))
    untouched = store.run(project / "dvc.yaml")  # a key no stage declares
    assert statuses(untouched) == {"prepare": "cached", "featurize": "cached"}

    (project / "params.yaml").write_text(PARAMS.replace("factor: 2", "factor: 3"))
    changed = store.run(project / "dvc.yaml")
    assert statuses(changed) == {"prepare": "succeeded", "featurize": "succeeded"}
    assert changed.steps[0].fingerprint["params"] == {"prepare.factor": 3}
    assert changed.steps[0].fingerprint["id"] != first.steps[0].fingerprint["id"]
    assert changed.steps[1].fingerprint["deps"] != first.steps[1].fingerprint["deps"]
    assert (project / "features.csv").read_text().splitlines()[2] == "1,3,9"


def test_rerun_of_a_stage_reproduces_it(store: snapkit.Store, project: Path) -> None:
    run = store.run(project / "dvc.yaml")
    result = store.rerun(f"{run.id}:featurize")
    assert result.exit_code == 0 and result.reproduced and result.differences == ()


def test_rerun_of_a_stage_that_reads_params_yaml(store: snapkit.Store, project: Path) -> None:
    run = store.run(project / "dvc.yaml")
    assert store.rerun(f"{run.id}:prepare").reproduced


def test_snap_run_dvc_yaml_through_the_cli(project: Path) -> None:
    result = subprocess.run(
        [str(SNAP), "run", "dvc.yaml"],
        cwd=project,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert (project / "features.csv").is_file()
    with snapkit.open_store(cwd=project) as store:
        [run] = store.runs()
    assert statuses(run) == {"prepare": "succeeded", "featurize": "succeeded"}
