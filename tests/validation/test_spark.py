"""`engine="spark"`: the same suite through GX's Spark data source, pyspark in local mode.

Starting Spark and its first jobs take ≈ 25 s, so one local session serves every test
here; skipped where pyspark (the `spark` extra) or Java is missing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import snapkit
from snapkit.validation import validate
from tests.validation.tables import (
    FAILED_ON_BROKEN,
    people,
    write_csv,
    write_parquet,
    write_suite,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    from snapkit.validation.spark import spark_session

    session = spark_session()
    yield session
    session.stop()  # type: ignore[attr-defined]


def test_a_passing_and_a_failing_suite_on_spark(spark: object, tmp_path: Path):
    suite = write_suite(tmp_path / "suite.json")
    ok = validate(str(write_parquet(people(300), tmp_path / "ok.parquet")), suite, engine="spark")
    assert ok.success and ok.engine == "spark" and ok.rows == 300

    write_csv(people(300, broken=True), tmp_path / "data/broken.csv")
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    with snapkit.open_store(str(root / ".snap"), create=True, cwd=root) as store:
        store.take(tmp_path / "data", tags=["broken-v1"])  # read through a staged copy
        bad = store.validate("broken-v1:broken.csv", suite, engine="spark")
    assert not bad.success
    failed = {r.label: r for r in bad.failed}
    assert set(failed) == FAILED_ON_BROKEN
    ages = failed["expect_column_values_to_be_between(column=age)"]
    assert (ages.unexpected_count, sorted(ages.partial_unexpected_list)) == (2, [-4, 230])
