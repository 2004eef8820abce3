"""Reports: text for people, JUnit XML and Markdown for CI, JSON for programs."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from snapkit.validation import validate
from snapkit.validation.reports import junit_xml, markdown, text_report
from snapkit.validation.results import ValidationResult, plain
from tests.validation.tables import people, write_parquet, write_suite


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[ValidationResult, ValidationResult]:
    root = tmp_path_factory.mktemp("reports")
    suite = write_suite(root / "suite.json")
    ok = validate(str(write_parquet(people(200), root / "ok.parquet")), suite)
    bad = validate(str(write_parquet(people(200, broken=True), root / "bad.parquet")), suite)
    return ok, bad


def test_text_lists_failures_first_with_observed_values(results):
    ok, bad = results
    assert text_report(ok).splitlines()[-1] == "passed: 9 of 9 expectations met"
    lines = text_report(bad).splitlines()
    assert lines[0].endswith("bad.parquet: 200 rows")
    assert lines[1].startswith("  FAIL  expect_column_values_to_be_unique(column=id)")
    assert "2 unexpected of 200 rows (1%), e.g. 5, 5" in lines[2]
    ages = lines.index(
        "  FAIL  expect_column_values_to_be_between(column=age): min_value=0, max_value=120"
    )
    assert "e.g. -4, 230" in lines[ages + 1]
    assert lines[-1] == "FAILED: 3 of 9 expectations met, 6 failed"


def test_junit_is_valid_xml_with_one_case_per_expectation(results):
    _, bad = results
    root = ET.fromstring(junit_xml(bad).split("\n", 1)[1])
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 9 == int(suite.get("tests", "0"))
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == 6 == int(suite.get("failures", "0"))
    assert suite.get("errors") == "0"
    ages = next(c for c in failed if "column=age" in c.get("name", ""))
    failure = ages.find("failure")
    assert failure is not None and "2 unexpected" in failure.get("message", "")
    assert json.loads(failure.text or "")["partial_unexpected_list"] == [-4, 230]


def test_junit_reports_exceptions_as_errors(tmp_path: Path):
    suite = write_suite(
        tmp_path / "s.json",
        expectations=[
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "nope"}}
        ],
    )
    result = validate(str(write_parquet(people(10), tmp_path / "t.parquet")), suite)
    suite_el = ET.fromstring(junit_xml(result).split("\n", 1)[1]).find("testsuite")
    assert suite_el is not None and suite_el.get("errors") == "1"
    error = suite_el.find("testcase/error")
    assert error is not None and 'The column "nope"' in error.get("message", "")


def test_markdown_is_a_table_with_failures_first(results):
    _, bad = results
    lines = markdown(bad).splitlines()
    assert lines[0].startswith("### ❌ `people` on `")
    assert lines[2] == "3 of 9 expectations met on 200 rows."
    assert lines[4:6] == ["| | expectation | criteria | observed |", "|---|---|---|---|"]
    rows = lines[6:]
    assert len(rows) == 9 and all(r.startswith("| ") and r.endswith(" |") for r in rows)
    assert [r.split(" | ")[0] for r in rows] == ["| ❌"] * 6 + ["| ✅"] * 3
    assert all(r.count(" | ") == 3 for r in rows)  # pipes inside cells are escaped


def test_json_is_plain_and_complete(results):
    _, bad = results
    body = json.loads(json.dumps(bad.to_json()))
    assert body["success"] is False and body["statistics"] == {
        "evaluated": 9,
        "successful": 3,
        "unsuccessful": 6,
    }
    assert {r["type"] for r in body["results"] if not r["success"]} >= {
        "expect_column_values_to_be_unique",
        "expect_column_distinct_values_to_be_in_set",
    }


def test_plain_makes_gx_values_json_ready():
    import datetime

    import numpy as np
    import pandas as pd

    assert plain({"a": np.int64(3), "b": [np.float64("nan"), pd.Timestamp("2026-01-02")]}) == {
        "a": 3,
        "b": [None, "2026-01-02T00:00:00"],
    }
    assert plain(datetime.date(2026, 1, 2)) == "2026-01-02"
    assert plain({2, 1}) == [1, 2]
