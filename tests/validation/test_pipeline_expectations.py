"""`expectations:` on a step: checked on its outputs snapshot after it ran; `on_fail`."""

from __future__ import annotations

from pathlib import Path

import pytest

import snapkit
from snapkit.errors import StepFailed
from tests.validation.tables import people, write_parquet, write_suite

PIPELINE = """
name: checked
params:
  make: {{src: clean}}
steps:
  make:
    cmd: cp -r ${{make.src}} out
    deps: [clean, broken]
    outs: [out]
    params: [make]
    expectations:
      out/people.parquet: {suite}
    on_fail: {on_fail}
  report:
    cmd: cp out/people.parquet report.parquet
    deps: [out]
    outs: [report.parquet]
"""


def make_project(root: Path, on_fail: str, suite: str = "../suites/people.json") -> Path:
    (root / ".git").mkdir(parents=True)
    write_suite(root / "suites/people.json")
    pipe = root / "pipe"
    write_parquet(people(200), pipe / "clean/people.parquet")
    write_parquet(people(200, broken=True), pipe / "broken/people.parquet")
    (pipe / "pipeline.yaml").write_text(PIPELINE.format(on_fail=on_fail, suite=suite))
    return pipe


def open_store(root: Path) -> snapkit.Store:
    return snapkit.open_store(str(root / ".snap"), create=True, cwd=root)


def test_passing_outputs_record_their_validation(tmp_path: Path):
    pipe = make_project(tmp_path, "error")
    with open_store(tmp_path) as store:
        run = store.run(pipe)
    step = run.step("make")
    assert step.status == "succeeded"
    assert step.validations == [
        {
            "file": "out/people.parquet",
            "suite": "../suites/people.json",
            "suite_name": "people",
            "success": True,
            "rows": 200,
            "evaluated": 9,
            "successful": 9,
            "unsuccessful": 0,
            "failed": [],
        }
    ]


def test_failing_outputs_fail_the_step_and_are_not_cached(tmp_path: Path):
    pipe = make_project(tmp_path, "error")
    with open_store(tmp_path) as store:
        with pytest.raises(StepFailed) as err:
            store.run(pipe, params={"make.src": "broken"})
        message = str(err.value)
        assert "step make failed its expectations: suite people on out/people.parquet" in message
        assert "6 failed (expect_column_values_to_be_unique(column=id)" in message
        assert f"snap validate {store.run_record('latest').id}:make:out/people.parquet" in message
        run = store.run_record("latest")
        step = run.step("make")
        assert (run.status, step.status, run.step("report").status) == (
            "failed",
            "failed",
            "skipped",
        )
        assert step.outputs is not None  # snapshotted all the same, for debugging
        assert step.validations[0]["success"] is False
        assert step.validations[0]["unsuccessful"] == 6
        assert store.validate(f"{run.id}:make:out/people.parquet", pipe / "../suites/people.json")
        with pytest.raises(StepFailed):  # not taken from the step cache: it runs again
            store.run(pipe, params={"make.src": "broken"})
        assert store.run_record("latest").step("make").cache_hit is False


def test_warn_keeps_the_step_and_says_so(tmp_path: Path):
    pipe = make_project(tmp_path, "warn")
    lines: list[str] = []
    with open_store(tmp_path) as store:
        run = store.run(pipe, params={"make.src": "broken"}, output=lines.append)
        assert [s.status for s in run.steps] == ["succeeded", "succeeded"]
        assert run.step("make").validations[0]["success"] is False
        warnings = [line for line in lines if "warning:" in line]
        assert len(warnings) == 1
        assert warnings[0].startswith("[make] warning: failed its expectations: suite people")
        problem = warnings[0].removeprefix("[make] warning: ")
        assert run.step("make").message == f"warning: {problem}"
        lines.clear()
        again = store.run(pipe, params={"make.src": "broken"}, output=lines.append)
        assert again.step("make").status == "cached"
        # the failure stays visible in a run that takes the outputs from the cache
        assert f"[make] warning (from run {run.id}): {problem}" in lines
        assert again.step("make").message == f"warning from run {run.id}: {problem}"
        clean = store.run(pipe, output=lines.append)  # other outputs, which pass: no warning
        assert clean.step("make").message == ""
        assert store.run(pipe).step("make").message == ""  # nor when those are cached


def test_a_missing_suite_fails_the_step_naming_it(tmp_path: Path):
    pipe = make_project(tmp_path, "error", suite="../suites/nope.json")
    with open_store(tmp_path) as store, pytest.raises(StepFailed) as err:
        store.run(pipe)
    assert "out/people.parquet against ../suites/nope.json" in str(err.value)
    assert "nope.json" in str(err.value)


def test_editing_a_suite_checks_the_step_again(tmp_path: Path):
    pipe = make_project(tmp_path, "error")
    with open_store(tmp_path) as store:
        store.run(pipe)
        assert store.run(pipe).step("make").status == "cached"
        suite = tmp_path / "suites/people.json"
        suite.write_text(suite.read_text().replace("test suite", "test suite, edited"))
        again = store.run(pipe)
    assert again.step("make").status == "succeeded" and again.step("make").validations
    assert again.step("report").status == "cached"  # same outputs: the consumer is unchanged


def test_run_show_prints_the_validations(tmp_path: Path):
    from tests.cli.conftest import run_snap

    pipe = make_project(tmp_path, "error")
    with open_store(tmp_path) as store:
        run = store.run(pipe)
    shown = run_snap(
        "--store",
        str(tmp_path / ".snap"),
        "run",
        "show",
        run.id,
        cwd=tmp_path,
        env={"SNAP_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert shown.returncode == 0, shown.stderr
    assert "validation   out/people.parquet: ../suites/people.json passed (9/9" in shown.stdout
