"""`snap validate` and `snap suite init` through the real entry point, as CI runs them.

Each `snap validate` imports Great Expectations (≈ 3 s), so these are few, and independent
commands run two at a time (`run_both`); the API tests cover the other cases."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import CompletedProcess
from xml.etree import ElementTree as ET

import pytest

from tests.cli.conftest import assert_fails, assert_ok, run_snap
from tests.validation.tables import people, suite_with, write_csv, write_parquet, write_suite

PIPELINE = """
name: tiny
steps:
  make:
    cmd: cp -r src out
    deps: [src]
    outs: [out]
    expectations: {out/broken.parquet: ../suite.json}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNAP_CACHE_DIR", str(tmp_path / "snap-cache"))
    monkeypatch.delenv("SNAP_STORE", raising=False)
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    write_parquet(people(300), root / "data/clean.parquet")
    write_parquet(people(300, broken=True), root / "data/broken.parquet")
    write_csv(people(300, broken=True), root / "data/broken.csv")
    write_suite(root / "suite.json")
    return root


def run_both(cwd: Path, *commands: tuple[str, ...]) -> list[CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda args: run_snap(*args, cwd=cwd), commands))


def test_pass_and_fail_with_reports(project: Path):
    ok, bad = run_both(
        project,
        ("validate", "data", "--path", "clean.*", "--suite", "suite.json", "--junit", "r/ok.xml",
         "--markdown", "r/ok.md"),
        ("validate", "data/broken.csv", "--suite", "suite.json", "--json", "--junit", "r/bad.xml"),
    )  # fmt: skip
    out = assert_ok(ok)
    assert out.splitlines()[-1] == "passed: 9 of 9 expectations met"
    assert out.splitlines()[0] == "people on data: 300 rows"
    assert ET.parse(project / "r/ok.xml").getroot().find("testsuite").get("failures") == "0"  # type: ignore[union-attr]
    assert (project / "r/ok.md").read_text().startswith("### ✅ `people` on `data`")

    error = assert_fails(bad, 14, "suite people failed on data/broken.csv", "6 of 9")
    assert "expect_column_values_to_be_between(column=age)" in error
    body = json.loads(bad.stdout)
    assert body["success"] is False and body["statistics"]["unsuccessful"] == 6
    failing = ET.parse(project / "r/bad.xml").getroot().find("testsuite")
    assert failing is not None and failing.get("failures") == "6"


def test_a_misspelled_type_exits_15_naming_it(project: Path):
    write_suite(
        project / "typo.json",
        suite_with(("expect_column_values_to_be_betwen", {"column": "age", "min_value": 0})),
    )
    typo = run_snap("validate", "data/clean.parquet", "--suite", "typo.json", cwd=project)
    assert_fails(typo, 15, "unknown expectation type 'expect_column_values_to_be_betwen'")
    assert "did you mean expect_column_values_to_be_between?" in typo.stderr
    (project / "broken.json").write_text('{"name": "x",\n "expectations": [}')
    assert_fails(
        run_snap("validate", "data/clean.parquet", "--suite", "broken.json", cwd=project),
        15,
        "not valid JSON: line 2",
    )


def test_snapshots_and_run_steps_from_the_store(project: Path):
    assert_ok(run_snap("take", "data", "--tag", "people-v1", cwd=project))
    (project / "pipe").mkdir()
    (project / "pipe/pipeline.yaml").write_text(PIPELINE)
    shutil.copytree(project / "data", project / "pipe/src")
    path_bad, ran = run_both(
        project,
        ("validate", "people-v1:broken.parquet", "--suite", "suite.json"),
        ("run", "pipe"),
    )
    assert_fails(path_bad, 14, "suite people failed on people-v1:broken.parquet")
    assert_fails(ran, 12, "step make failed its expectations: suite people on out/broken.parquet")
    step = run_snap("validate", "latest:make", "--suite", "suite.json", "--path", "clean.*",
                    "--markdown", "step.md", cwd=project)  # fmt: skip
    assert "people on latest:make: 300 rows" in assert_ok(step)
    assert (
        "| ✅ | `expect_column_values_to_be_unique(column=id)` |"
        in (project / "step.md").read_text()
    )


def test_missing_targets_fail_before_loading_anything(project: Path):
    missing = run_snap("validate", "missing.parquet", "--suite", "suite.json", cwd=project)
    assert_fails(missing, 3, "no file or folder missing.parquet, and no store")
    bad_engine = run_snap("validate", "data", "--suite", "suite.json", "--engine", "x", cwd=project)
    assert bad_engine.returncode == 2 and "'x' is not one of" in bad_engine.stderr


def test_suite_init_writes_a_starter_suite(project: Path):
    out = assert_ok(
        run_snap("suite", "init", "data/clean.parquet", "-o", "s/clean.json", cwd=project)
    )
    assert out.startswith("wrote s/clean.json: ") and "from 300 rows" in out
    doc = json.loads((project / "s/clean.json").read_text())
    assert doc["name"] == "clean" and doc["meta"]["generated_by"] == "snap suite init"
    again = run_snap("suite", "init", "data/clean.parquet", "-o", "s/clean.json", cwd=project)
    assert_fails(again, 8, "s/clean.json exists")
