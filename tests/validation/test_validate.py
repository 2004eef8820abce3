"""`Store.validate` / `snapkit.validation.validate` on every kind of TARGET: a Parquet or CSV
file, a folder, a snapshot (SNAP and SNAP:PATH) and a run step (RUN:STEP[:PATH])."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import snapkit
from snapkit.errors import InvalidSuite, NotFound, SnapError, UsageError
from snapkit.validation import validate
from tests.validation.tables import (
    FAILED_ON_BROKEN,
    people,
    write_csv,
    write_parquet,
    write_suite,
)

PIPELINE = """
name: tiny
steps:
  make:
    cmd: cp -r src out
    deps: [src]
    outs: [out]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, snapkit.Store]]:
    """A project with data/{clean,broken}.parquet and .csv, snapshots of them, and a run
    whose step `make` copied them (so RUN:STEP has outputs)."""
    root = tmp_path_factory.mktemp("validate") / "proj"
    (root / ".git").mkdir(parents=True)
    for name, table in (("clean", people(300)), ("broken", people(300, broken=True))):
        write_parquet(table, root / f"data/{name}.parquet")
        write_csv(table, root / f"data/{name}.csv")
    write_suite(root / "suite.json")
    shutil.copytree(root / "data", root / "pipe/src")
    (root / "pipe/pipeline.yaml").write_text(PIPELINE)
    with snapkit.open_store(str(root / ".snap"), create=True, cwd=root) as store:
        store.take(root / "data", tags=["people-v1"])
        store.take(root / "data/clean.parquet", tags=["clean-file"])
        store.run(root / "pipe")
        yield root, store


def failed_labels(result: object) -> set[str]:
    return {r.label for r in result.failed}  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_local_file_passes_or_fails(project: tuple[Path, snapkit.Store], fmt: str):
    root, _ = project
    ok = validate(str(root / f"data/clean.{fmt}"), root / "suite.json")
    assert ok.success and ok.rows == 300 and ok.failed == ()
    bad = validate(str(root / f"data/broken.{fmt}"), root / "suite.json")
    assert not bad.success and failed_labels(bad) == FAILED_ON_BROKEN
    by_label = {r.label: r for r in bad.results}
    ages = by_label["expect_column_values_to_be_between(column=age)"]
    assert (ages.unexpected_count, ages.element_count) == (2, 300)
    assert ages.partial_unexpected_list == (-4, 230)
    assert by_label["expect_column_values_to_be_unique(column=id)"].partial_unexpected_list == (
        5,
        5,
    )
    mean = by_label["expect_column_mean_to_be_between(column=label)"]
    assert mean.success and mean.observed_value == pytest.approx(0.25)


def test_a_folder_is_one_table_and_path_picks_files(project: tuple[Path, snapkit.Store]):
    root, store = project
    for target in (str(root / "data"), "people-v1"):  # a folder, a snapshot
        with pytest.raises(UsageError, match=r"broken\.csv and broken\.parquet .* two copies") as e:
            store.validate(target, root / "suite.json")
        assert e.value.hint == "pick one format with --path, e.g. --path '*.csv'"
        with pytest.raises(UsageError, match=r"clean\.csv and clean\.parquet"):
            store.validate(target, root / "suite.json", path="clean.*")
    parts = validate(str(root / "data"), root / "suite.json", path="*.csv")
    assert parts.rows == 600 and parts.files == ("broken.csv", "clean.csv")
    assert failed_labels(parts) == FAILED_ON_BROKEN | {
        "expect_column_values_to_be_unique(column=id)"  # the two parts share their ids
    }
    one = validate(str(root / "data"), root / "suite.json", path="*.parquet")
    assert one.files == ("broken.parquet", "clean.parquet") and not one.success
    with pytest.raises(NotFound, match=r"no table files matching '\*.orc'"):
        validate(str(root / "data"), root / "suite.json", path="*.orc")


def test_snapshots_are_read_from_the_store(project: tuple[Path, snapkit.Store]):
    root, store = project
    suite = root / "suite.json"
    assert store.validate("people-v1:clean.parquet", suite).success
    assert store.validate("clean-file", suite).success  # a single-file snapshot
    broken = store.validate("people-v1:broken.csv", suite)
    assert failed_labels(broken) == FAILED_ON_BROKEN
    whole = store.validate("people-v1", suite, path="*.parquet")
    assert whole.rows == 600 and whole.files == ("broken.parquet", "clean.parquet")
    sid = store.show("people-v1").id
    assert store.validate(f"{sid[:10]}:clean.csv", suite).target == f"{sid[:10]}:clean.csv"


def test_snapshots_need_no_files_on_disk(project: tuple[Path, snapkit.Store], tmp_path: Path):
    root, store = project
    data = tmp_path / "gone"
    write_parquet(people(50), data / "t.parquet")
    store.take(data, tags=["gone-v1"])
    shutil.rmtree(data)
    assert store.validate("gone-v1:t.parquet", root / "suite.json").rows == 50


def test_a_run_step_names_its_outputs(project: tuple[Path, snapkit.Store]):
    root, store = project
    run = store.run_record("latest")
    suite = root / "suite.json"
    clean = store.validate(f"{run.id}:make:out/clean.parquet", suite)
    assert clean.success and clean.target == f"{run.id}:make:out/clean.parquet"
    assert failed_labels(store.validate("latest:make:out/broken.parquet", suite))
    everything = store.validate("latest:make", suite, path="*.csv")
    assert everything.files == ("out/broken.csv", "out/clean.csv") and everything.rows == 600


def test_targets_that_do_not_exist(project: tuple[Path, snapkit.Store]):
    root, store = project
    suite = root / "suite.json"
    with pytest.raises(NotFound, match="no file, folder or snapshot named 'nothing'"):
        store.validate("nothing", suite)
    with pytest.raises(NotFound, match="no file, snapshot or run step named 'latest:nostep'"):
        store.validate("latest:nostep", suite)
    with pytest.raises(NotFound, match=r"no path 'nope\.csv'"):
        store.validate("people-v1:nope.csv", suite)
    with pytest.raises(NotFound, match="no file or folder"):
        validate(str(root / "missing.parquet"), suite)  # no store given


def test_unreadable_data_is_a_clear_error(project: tuple[Path, snapkit.Store], tmp_path: Path):
    root, _ = project
    (tmp_path / "junk.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(SnapError, match=r"cannot read junk\.parquet as Parquet") as err:
        validate(str(tmp_path / "junk.parquet"), root / "suite.json")
    assert err.value.exit_code == 1
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UsageError, match="is not a table file"):
        validate(str(tmp_path / "notes.txt"), root / "suite.json")
    write_parquet(people(10).select(["id"]), tmp_path / "mixed/a.parquet")
    write_parquet(people(10).select(["email"]), tmp_path / "mixed/b.parquet")
    with pytest.raises(UsageError, match=r"a\.parquet and b\.parquet have different columns"):
        validate(str(tmp_path / "mixed"), root / "suite.json")


def test_an_invalid_suite_fails_before_reading(project: tuple[Path, snapkit.Store], tmp_path: Path):
    root, _ = project
    bad = write_suite(tmp_path / "bad.json", expectations=[{"type": "expect_nothing"}])
    with pytest.raises(InvalidSuite, match="unknown expectation type 'expect_nothing'"):
        validate(str(root / "data/clean.parquet"), bad)


def test_json_lines_files(project: tuple[Path, snapkit.Store], tmp_path: Path):
    root, _ = project
    rows = people(40, broken=True).to_pylist()
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "j/people.jsonl").parent.mkdir()
    (tmp_path / "j/people.jsonl").write_text(lines)
    (tmp_path / "j/metrics.json").write_text('{"not": "a table"}\n')  # not picked from a folder
    folder = validate(str(tmp_path / "j"), root / "suite.json")
    assert folder.files == ("people.jsonl",) and failed_labels(folder) == FAILED_ON_BROKEN
    (tmp_path / "named.json").write_text(lines)  # named directly, .json is JSON lines too
    assert validate(str(tmp_path / "named.json"), root / "suite.json").rows == 40


def test_a_snapshot_in_an_s3_store(s3_url: str, tmp_path: Path):
    """Read lazily over S3 (moto's server): Parquet's footer first, then its pages."""
    write_parquet(people(300, broken=True), tmp_path / "data/people.parquet", row_group_size=50)
    suite = write_suite(tmp_path / "suite.json")
    with snapkit.open_store(s3_url, create=True, cwd=tmp_path) as store:
        store.take(tmp_path / "data", tags=["people-s3"])
        result = store.validate("people-s3:people.parquet", suite, batch_rows=100)
    assert result.batches == 3 and failed_labels(result) == FAILED_ON_BROKEN
